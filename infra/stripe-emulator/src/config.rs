//! Command-line and environment configuration.

use std::net::{IpAddr, Ipv4Addr};

use crate::dunning::{Dunning, FinalAction};

/// How the emulator listens and where it delivers webhooks.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interface to bind (`--host`, `STRIPE_EMULATOR_HOST`; default 127.0.0.1).
    pub host: IpAddr,
    /// Port (`--port`, `STRIPE_EMULATOR_PORT`; default 12111; 0 picks a free one).
    pub port: u16,
    /// Base URL in Checkout/Portal links (`--public-url`; default `http://host:port`).
    pub public_url: Option<String>,
    /// Webhook endpoint configured at start (`--webhook-url`, `STRIPE_EMULATOR_WEBHOOK_URL`).
    pub webhook_url: Option<String>,
    /// Its signing secret (`--webhook-secret`, `STRIPE_EMULATOR_WEBHOOK_SECRET`; generated if absent).
    pub webhook_secret: Option<String>,
    /// Delivery attempts per event (`--webhook-attempts`; default 5).
    pub webhook_attempts: u32,
    /// First retry delay in ms, doubling (`--webhook-backoff-ms`; default 200).
    pub webhook_backoff_ms: u64,
    /// Retries of failed subscription invoices (`--dunning-retry-days`, default `3,5,7`) and
    /// what happens after the last one (`--dunning-final-action`, default `unpaid`).
    pub dunning: Dunning,
    /// A clock that moves only when advanced, as Stripe's test clocks do (tests that assert
    /// exact times); the default flows with real time.
    pub frozen_clock: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 12111,
            public_url: None,
            webhook_url: None,
            webhook_secret: None,
            webhook_attempts: 5,
            webhook_backoff_ms: 200,
            dunning: Dunning::default(),
            frozen_clock: false,
        }
    }
}

/// Usage text for `--help`.
pub const USAGE: &str = "stripe-emulator: an in-memory Stripe API for offline development and tests

Options (each also read from the environment variable shown):
  --host IP                 STRIPE_EMULATOR_HOST            default 127.0.0.1
  --port N                  STRIPE_EMULATOR_PORT            default 12111
  --public-url URL          STRIPE_EMULATOR_PUBLIC_URL      default http://HOST:PORT
  --webhook-url URL         STRIPE_EMULATOR_WEBHOOK_URL     deliver every event there
  --webhook-secret WHSEC    STRIPE_EMULATOR_WEBHOOK_SECRET  signing secret (generated if absent)
  --webhook-attempts N      STRIPE_EMULATOR_WEBHOOK_ATTEMPTS    default 5
  --webhook-backoff-ms N    STRIPE_EMULATOR_WEBHOOK_BACKOFF_MS  default 200 (doubles per retry)
  --dunning-retry-days D,D  STRIPE_EMULATOR_DUNNING_RETRY_DAYS  default 3,5,7 (days after the
                            first failed payment of a subscription invoice)
  --dunning-final-action A  STRIPE_EMULATOR_DUNNING_FINAL_ACTION  unpaid (default) or canceled
";

impl Config {
    /// Reads the environment, then the arguments (which win). `Ok(None)` for `--help`.
    pub fn from_args_and_env(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Config>, String> {
        let mut c = Config::default();
        let set = |c: &mut Config, key: &str, value: String| -> Result<(), String> {
            let bad = |what: &str| format!("{key}: invalid {what}: {value}");
            match key {
                "host" => c.host = value.parse().map_err(|_| bad("IP address"))?,
                "port" => c.port = value.parse().map_err(|_| bad("port"))?,
                "public-url" => c.public_url = Some(value.trim_end_matches('/').to_string()),
                "webhook-url" => c.webhook_url = Some(value),
                "webhook-secret" => c.webhook_secret = Some(value),
                "webhook-attempts" => {
                    c.webhook_attempts = value.parse().map_err(|_| bad("number"))?
                }
                "webhook-backoff-ms" => {
                    c.webhook_backoff_ms = value.parse().map_err(|_| bad("number"))?
                }
                "dunning-retry-days" => {
                    c.dunning.retry_days = Dunning::parse_retry_days(&value)
                        .map_err(|e| format!("{key}: invalid schedule: {e}"))?
                }
                "dunning-final-action" => {
                    c.dunning.final_action = FinalAction::parse(&value)
                        .map_err(|e| format!("{key}: invalid action: {e}"))?
                }
                other => return Err(format!("unknown option --{other}\n\n{USAGE}")),
            }
            Ok(())
        };
        for key in [
            "host",
            "port",
            "public-url",
            "webhook-url",
            "webhook-secret",
            "webhook-attempts",
            "webhook-backoff-ms",
            "dunning-retry-days",
            "dunning-final-action",
        ] {
            let var = format!("STRIPE_EMULATOR_{}", key.to_uppercase().replace('-', "_"));
            if let Some(v) = env(&var).filter(|v| !v.is_empty()) {
                set(&mut c, key, v)?;
            }
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(None);
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg}\n\n{USAGE}"));
            };
            let (key, value) = match flag.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    let v = args
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?;
                    (flag.to_string(), v)
                }
            };
            set(&mut c, &key, value)?;
        }
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_override_env() {
        let env = |k: &str| match k {
            "STRIPE_EMULATOR_PORT" => Some("9999".to_string()),
            "STRIPE_EMULATOR_WEBHOOK_URL" => Some("http://127.0.0.1:9000/hook".to_string()),
            _ => None,
        };
        let c = Config::from_args_and_env(["--port".to_string(), "4242".to_string()], env)
            .unwrap()
            .unwrap();
        assert_eq!(c.port, 4242);
        assert_eq!(c.webhook_url.as_deref(), Some("http://127.0.0.1:9000/hook"));
        assert_eq!(c.dunning, Dunning::default());
        assert!(Config::from_args_and_env(["--nope=1".to_string()], |_| None).is_err());
        assert!(Config::from_args_and_env(["--help".to_string()], |_| None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn dunning_options() {
        let env =
            |k: &str| (k == "STRIPE_EMULATOR_DUNNING_FINAL_ACTION").then(|| "canceled".to_string());
        let args = ["--dunning-retry-days=1,2".to_string()];
        let c = Config::from_args_and_env(args, env).unwrap().unwrap();
        assert_eq!(c.dunning.retry_days, vec![1, 2]);
        assert_eq!(c.dunning.final_action, FinalAction::Canceled);
        let bad = ["--dunning-retry-days".to_string(), "7,3".to_string()];
        assert!(Config::from_args_and_env(bad, |_| None).is_err());
        let bad = ["--dunning-final-action=delete".to_string()];
        assert!(Config::from_args_and_env(bad, |_| None).is_err());
    }
}
