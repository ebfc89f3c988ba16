//! The page's configuration and its embedded files: `web/` bundled by esbuild into `assets/`
//! (`infra/web.sh build`; CI checks that a rebuild matches what is committed).

use serde::Serialize;

/// Stripe's own Stripe.js, loaded by the page unless `STRIPE_JS_URL` says otherwise.
pub(crate) const DEFAULT_STRIPE_JS_URL: &str = "https://js.stripe.com/v3/";

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// A configuration value that is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PageConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{0} must be an http(s) URL without quotes or spaces")]
    NotAUrl(&'static str),
}

/// What the page needs to know at run time; handed to it in the HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PageConfig {
    /// Origin of the billing API; empty when it is the page's own (same API Gateway).
    pub api_base_url: String,
    /// OIDC issuer the page signs in with (authorization code + PKCE, discovered from
    /// `{issuer}/.well-known/openid-configuration`).
    pub oidc_issuer: String,
    /// The identity provider's public client for the page.
    pub oidc_client_id: String,
    /// Where Stripe.js is loaded from.
    pub stripe_js_url: String,
}

impl PageConfig {
    /// `OIDC_ISSUER` and `OIDC_CLIENT_ID` (required), `BILLING_API_BASE_URL` and `STRIPE_JS_URL`.
    pub(crate) fn from_env() -> Result<Self, PageConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, PageConfigError> {
        let url = |name: &'static str, value: String| {
            let plain = !value.contains(['"', '\'', ' ', '<', '>', ';']);
            if plain && (value.starts_with("https://") || value.starts_with("http://")) {
                Ok(value)
            } else {
                Err(PageConfigError::NotAUrl(name))
            }
        };
        let issuer = get("OIDC_ISSUER").ok_or(PageConfigError::Missing("OIDC_ISSUER"))?;
        Ok(Self {
            api_base_url: match get("BILLING_API_BASE_URL") {
                Some(v) => url("BILLING_API_BASE_URL", v)?
                    .trim_end_matches('/')
                    .to_owned(),
                None => String::new(),
            },
            oidc_issuer: url("OIDC_ISSUER", issuer)?.trim_end_matches('/').to_owned(),
            oidc_client_id: get("OIDC_CLIENT_ID")
                .ok_or(PageConfigError::Missing("OIDC_CLIENT_ID"))?,
            stripe_js_url: match get("STRIPE_JS_URL") {
                Some(v) => url("STRIPE_JS_URL", v)?,
                None => DEFAULT_STRIPE_JS_URL.to_owned(),
            },
        })
    }
}

/// A file the function serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asset {
    pub content_type: &'static str,
    pub body: String,
    /// `Cache-Control`: the page itself is never cached (it holds the configuration).
    pub cache_control: &'static str,
}

/// The page with its configuration filled in, and its assets; built once at init.
pub(crate) struct Site {
    index: Asset,
    content_security_policy: String,
}

impl Site {
    /// Renders the page for `config`.
    pub(crate) fn new(config: &PageConfig) -> Result<Self, serde_json::Error> {
        // `<` escaped so no value can close the script element the JSON sits in.
        let json = serde_json::to_string(config)?.replace('<', "\\u003c");
        Ok(Self {
            index: Asset {
                content_type: "text/html; charset=utf-8",
                body: INDEX_HTML.replace("{{CONFIG_JSON}}", &json),
                cache_control: "no-store",
            },
            content_security_policy: content_security_policy(config),
        })
    }

    /// The file at `path`, if the page has one there.
    pub(crate) fn asset(&self, path: &str) -> Option<Asset> {
        let immutable = |content_type, body: &str| Asset {
            content_type,
            body: body.to_owned(),
            cache_control: "public, max-age=300",
        };
        match path.trim_end_matches('/') {
            "/billing" => Some(self.index.clone()),
            "/billing/app.js" => Some(immutable("text/javascript; charset=utf-8", APP_JS)),
            "/billing/app.css" => Some(immutable("text/css; charset=utf-8", APP_CSS)),
            _ => None,
        }
    }

    /// The page's `Content-Security-Policy`: its own scripts and Stripe.js, calls only to the API,
    /// the identity provider and Stripe.
    pub(crate) fn content_security_policy(&self) -> &str {
        &self.content_security_policy
    }
}

fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

fn content_security_policy(config: &PageConfig) -> String {
    let stripe = origin(&config.stripe_js_url);
    let api = if config.api_base_url.is_empty() {
        "'self'".to_owned()
    } else {
        format!("'self' {}", origin(&config.api_base_url))
    };
    let idp = origin(&config.oidc_issuer);
    format!(
        "default-src 'self'; script-src 'self' {stripe}; style-src 'self'; img-src 'self' data:; \
         connect-src {api} {idp} {stripe} https://api.stripe.com; \
         frame-src {stripe} https://*.stripe.com; base-uri 'none'; object-src 'none'; \
         form-action 'self' {idp}; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<PageConfig, PageConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PageConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn configuration_from_the_environment() {
        let base = [
            ("OIDC_ISSUER", "https://id.example.com/realms/app/"),
            ("OIDC_CLIENT_ID", "billing-page"),
        ];
        let c = config(&base).unwrap();
        assert_eq!(c.oidc_issuer, "https://id.example.com/realms/app");
        assert_eq!(c.api_base_url, "");
        assert_eq!(c.stripe_js_url, DEFAULT_STRIPE_JS_URL);

        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("OIDC_CLIENT_ID", "x")], "OIDC_ISSUER must be set"),
            (
                &[("OIDC_ISSUER", "https://id")],
                "OIDC_CLIENT_ID must be set",
            ),
            (
                &[("OIDC_ISSUER", "id.example.com"), ("OIDC_CLIENT_ID", "x")],
                "OIDC_ISSUER must be an http(s) URL without quotes or spaces",
            ),
            (
                &[
                    ("OIDC_ISSUER", "https://id"),
                    ("OIDC_CLIENT_ID", "x"),
                    ("STRIPE_JS_URL", "https://x/\"><script>"),
                ],
                "STRIPE_JS_URL must be an http(s) URL without quotes or spaces",
            ),
        ];
        for (vars, message) in table {
            assert_eq!(config(vars).unwrap_err().to_string(), *message);
        }
    }

    #[test]
    fn the_page_carries_its_configuration_and_a_policy_naming_its_origins() {
        let c = PageConfig {
            api_base_url: "https://api.example.com".into(),
            oidc_issuer: "https://id.example.com/realms/app".into(),
            oidc_client_id: "</script><script>alert(1)</script>".into(),
            stripe_js_url: "http://127.0.0.1:12111/js/v3".into(),
        };
        let site = Site::new(&c).unwrap();
        let page = site.asset("/billing").unwrap();
        assert!(page.body.contains("https://id.example.com/realms/app"));
        assert!(
            !page.body.contains("</script><script>alert"),
            "config must not close its element"
        );
        assert_eq!(page.cache_control, "no-store");
        let csp = site.content_security_policy();
        assert!(
            csp.contains("script-src 'self' http://127.0.0.1:12111;"),
            "{csp}"
        );
        assert!(
            csp.contains("connect-src 'self' https://api.example.com https://id.example.com"),
            "{csp}"
        );
        assert_eq!(
            site.asset("/billing/app.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert!(site.asset("/billing/nope.js").is_none());
    }
}
