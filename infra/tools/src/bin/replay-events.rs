//! `replay-events list [--limit N]` lists the Stripe events recorded as failed, with their
//! reasons; `replay-events replay EVENT_ID...` or `replay-events replay --all [--limit N]`
//! runs them through the webhook's core again once the cause is fixed (a price added to the
//! catalog's `legacy_prices`, say): each event is fetched from Stripe's Events API and its
//! failed record replaced only while it is still that failed record. An event that fails again
//! stays failed with the new reason. Exits 1 when any replayed event is not settled.

use std::process::ExitCode;
use tierflow::domain::time::rfc3339;
use tierflow::webhook::replay::{failed_events, replay, Selection};
use tierflow::wiring::processor_from_env;

const USAGE: &str = "usage: replay-events list [--limit N]\n\
    \x20      replay-events replay EVENT_ID... | replay-events replay --all [--limit N]\n\
    Lists the Stripe events recorded as failed, or replays them through the webhook's core.\n\
    env: TABLE_NAME, STRIPE_SECRET_KEY (required), STRIPE_API_BASE, CATALOG_FILE, GRACE_DAYS,\n\
    AWS credentials and region, AWS_ENDPOINT_URL";

/// Failed records looked at by default.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Debug, PartialEq, Eq)]
enum Command {
    List { limit: u32 },
    Replay(Selection),
}

fn parse(args: &[&str]) -> Option<Command> {
    let limit = |rest: &[&str]| match rest {
        [] => Some(DEFAULT_LIMIT),
        ["--limit", n] => n.parse().ok().filter(|n| *n > 0),
        _ => None,
    };
    match args {
        ["list", rest @ ..] => Some(Command::List {
            limit: limit(rest)?,
        }),
        ["replay", "--all", rest @ ..] => Some(Command::Replay(Selection::All {
            limit: limit(rest)?,
        })),
        ["replay", ids @ ..] if !ids.is_empty() && ids.iter().all(|id| id.starts_with("evt_")) => {
            Some(Command::Replay(Selection::Ids(
                ids.iter().map(|id| (*id).to_owned()).collect(),
            )))
        }
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(command) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(command).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("replay-events: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` when a replayed event is not settled.
async fn run(command: Command) -> Result<bool, String> {
    let processor = processor_from_env().await.map_err(|e| e.to_string())?;
    match command {
        Command::List { limit } => {
            let failed = failed_events(&processor, limit)
                .await
                .map_err(|e| e.to_string())?;
            for record in &failed {
                println!(
                    "{}  {}  created {}  failed {}  attempts {}  {}",
                    record.event_id,
                    record.event_type,
                    rfc3339(record.created),
                    rfc3339(record.updated_at),
                    record.attempts,
                    record.detail.as_deref().unwrap_or("-")
                );
            }
            println!("{} failed event(s)", failed.len());
            Ok(true)
        }
        Command::Replay(selection) => {
            let results = replay(&processor, &selection)
                .await
                .map_err(|e| e.to_string())?;
            let settled = results.iter().filter(|(_, o)| o.is_settled()).count();
            for (id, outcome) in &results {
                println!("{id}: {outcome}");
            }
            println!("{settled} of {} event(s) settled", results.len());
            Ok(settled == results.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_a_listing_or_a_replay() {
        let cases: [(&[&str], Option<Command>); 9] = [
            (&["list"], Some(Command::List { limit: 100 })),
            (&["list", "--limit", "5"], Some(Command::List { limit: 5 })),
            (&["list", "--limit", "0"], None),
            (
                &["replay", "evt_1", "evt_2"],
                Some(Command::Replay(Selection::Ids(vec![
                    "evt_1".into(),
                    "evt_2".into(),
                ]))),
            ),
            (
                &["replay", "--all"],
                Some(Command::Replay(Selection::All { limit: 100 })),
            ),
            (
                &["replay", "--all", "--limit", "7"],
                Some(Command::Replay(Selection::All { limit: 7 })),
            ),
            (&["replay"], None),
            (&["replay", "not-an-event"], None),
            (&[], None),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args), want, "{args:?}");
        }
    }
}
