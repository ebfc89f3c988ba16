//! Verifying `X-Lago-Signature`: `hmac` (base64 HMAC-SHA256 of the raw body with the
//! organization's HMAC key) or `jwt` (RS256 over claims `data` = the raw body and `iss` = Lago's
//! `LAGO_API_URL`, checked with Lago's public key, configured or fetched once and cached).

use crate::config::{ConfigError, Env, EnvSource, Secret};
use crate::domain::time::UnixTime;
use crate::ports::Clock;
use crate::sync::lago::{decode_public_key, LagoClient};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A cached public key older than this is fetched again when a signature does not verify
/// (Lago rotated its key); younger, the signature is simply wrong.
const KEY_REFRESH_AFTER_SECONDS: i64 = 300;
/// How long a cached public key is used at all.
const KEY_TTL_SECONDS: i64 = 6 * 3600;

/// How Lago's webhooks are verified.
#[derive(Debug, Clone, Default)]
pub struct LagoWebhookConfig {
    /// `LAGO_WEBHOOK_HMAC_KEY`: the organization's HMAC key, for endpoints set to `hmac`.
    pub hmac_key: Option<Secret>,
    /// `LAGO_WEBHOOK_ISSUER`, else `LAGO_API_URL` without `/api/v1`: the `iss` of `jwt`
    /// signatures, which Lago sets to its own `LAGO_API_URL` (the API root).
    pub issuer: Option<String>,
    /// `LAGO_WEBHOOK_PUBLIC_KEY`: Lago's public key (PEM, or base64 of it) instead of fetching
    /// it from `GET /api/v1/webhooks/json_public_key`.
    pub public_key: Option<String>,
    /// `LAGO_WEBHOOK_SIGNATURE` (`jwt` or `hmac`): the algorithm the endpoint is registered
    /// with in Lago. With `jwt`, start-up fails unless the public key can be read.
    pub signature: Option<SignatureAlgorithm>,
}

/// The signature algorithm of a Lago webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RS256 JWTs checked with Lago's public key (Lago's default).
    Jwt,
    /// Base64 HMAC-SHA256 with the organization's HMAC key.
    Hmac,
}

impl LagoWebhookConfig {
    /// Reads the `LAGO_WEBHOOK_*` variables (and `LAGO_API_URL` for the issuer); every one is
    /// optional, an unknown `LAGO_WEBHOOK_SIGNATURE` is an error.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let signature = match env
            .optional("LAGO_WEBHOOK_SIGNATURE")
            .as_deref()
            .map(str::trim)
        {
            None => None,
            Some(a) if a.eq_ignore_ascii_case("jwt") => Some(SignatureAlgorithm::Jwt),
            Some(a) if a.eq_ignore_ascii_case("hmac") => Some(SignatureAlgorithm::Hmac),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "LAGO_WEBHOOK_SIGNATURE",
                    reason: "expected jwt or hmac".into(),
                })
            }
        };
        Ok(Self {
            hmac_key: env.optional("LAGO_WEBHOOK_HMAC_KEY").map(Secret::new),
            issuer: env
                .optional("LAGO_WEBHOOK_ISSUER")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .or_else(|| env.optional("LAGO_API_URL").map(|u| lago_issuer(&u))),
            public_key: env.optional("LAGO_WEBHOOK_PUBLIC_KEY"),
            signature,
        })
    }
}

/// The `iss` Lago signs with for an API reached at `api_url`: Lago's `LAGO_API_URL` is its root,
/// so a URL given with the `/api/v1` path (as API clients often are) loses it.
pub fn lago_issuer(api_url: &str) -> String {
    api_url
        .trim()
        .trim_end_matches('/')
        .trim_end_matches("/api/v1")
        .trim_end_matches('/')
        .to_owned()
}

/// Why a delivery's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Lago-Signature`, or an empty one.
    #[error("the X-Lago-Signature header is missing")]
    Missing,
    /// `X-Lago-Signature-Algorithm` is neither `hmac` nor `jwt` (its first 20 characters).
    #[error("signature algorithm {0:?} is not supported (expected hmac or jwt)")]
    UnknownAlgorithm(String),
    /// The delivery's algorithm (`hmac` or `jwt`) has no key or issuer configured here.
    #[error("{0} signatures are not configured on this endpoint")]
    NotConfigured(&'static str),
    /// The signature is malformed, by another key, or over another body.
    #[error("the signature does not match the body")]
    Mismatch,
    /// Lago's public key could not be fetched: a failure of ours, worth Lago's retry.
    #[error("Lago's public key is unavailable: {0}")]
    KeyUnavailable(String),
}

enum KeySource {
    Fixed(DecodingKey),
    Fetched(LagoClient),
}

struct CachedKey {
    key: DecodingKey,
    fetched_at: UnixTime,
}

struct JwtVerifier {
    validation: Validation,
    source: KeySource,
    cache: Mutex<Option<CachedKey>>,
}

#[derive(Deserialize)]
struct JwtClaims {
    data: String,
}

/// Verifies `X-Lago-Signature` by algorithm.
pub struct LagoSignatureVerifier {
    hmac_key: Option<Secret>,
    jwt: Option<JwtVerifier>,
    clock: Arc<dyn Clock>,
}

impl LagoSignatureVerifier {
    /// `lago` fetches the public key when none is configured; `jwt` is off without an issuer
    /// or any way to get the key.
    pub fn new(
        config: LagoWebhookConfig,
        lago: Option<LagoClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let source = match (&config.public_key, lago) {
            (Some(raw), _) => {
                let pem = decode_public_key(raw).map_err(|reason| ConfigError::Invalid {
                    name: "LAGO_WEBHOOK_PUBLIC_KEY",
                    reason,
                })?;
                let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    ConfigError::Invalid {
                        name: "LAGO_WEBHOOK_PUBLIC_KEY",
                        reason: e.to_string(),
                    }
                })?;
                Some(KeySource::Fixed(key))
            }
            (None, Some(client)) => Some(KeySource::Fetched(client)),
            (None, None) => None,
        };
        let jwt = match (config.issuer, source) {
            (Some(issuer), Some(source)) => {
                let mut validation = Validation::new(Algorithm::RS256);
                // Lago's LAGO_API_URL is used as it was written, with or without a final slash.
                validation.set_issuer(&[format!("{issuer}/"), issuer]);
                // Lago signs no expiry: the issuer is the only registered claim to require.
                validation.validate_exp = false;
                validation.set_required_spec_claims(&["iss"]);
                Some(JwtVerifier {
                    validation,
                    source,
                    cache: Mutex::new(None),
                })
            }
            _ => None,
        };
        Ok(Self {
            hmac_key: config.hmac_key,
            jwt,
            clock,
        })
    }

    /// Reads Lago's public key now, for a start-up that fails clearly rather than a 503 on
    /// every delivery: a fixed key is already parsed; a fetched one is fetched and cached.
    pub async fn check_jwt_key(&self) -> Result<(), SignatureError> {
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(SignatureError::NotConfigured("jwt"))?;
        self.public_key(jwt, false).await.map(|_| ())
    }

    /// Which algorithms this endpoint accepts, for the startup line.
    pub fn describe(&self) -> String {
        let mut accepted = Vec::new();
        if self.hmac_key.is_some() {
            accepted.push("hmac");
        }
        if self.jwt.is_some() {
            accepted.push("jwt");
        }
        if accepted.is_empty() {
            "no Lago signature algorithm is configured: set LAGO_WEBHOOK_HMAC_KEY, or LAGO_API_URL with LAGO_API_KEY (or LAGO_WEBHOOK_PUBLIC_KEY) for jwt; every delivery will be refused".into()
        } else {
            format!("Lago webhook signatures accepted: {}", accepted.join(", "))
        }
    }

    /// Verifies `signature` over the raw `body`.
    pub async fn verify(
        &self,
        algorithm: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Missing)?;
        // Lago always names the algorithm; its default is jwt.
        match algorithm.map(str::trim).unwrap_or("jwt") {
            a if a.eq_ignore_ascii_case("hmac") => self.verify_hmac(signature, body),
            a if a.eq_ignore_ascii_case("jwt") => self.verify_jwt(signature, body).await,
            other => Err(SignatureError::UnknownAlgorithm(
                other.chars().take(20).collect(),
            )),
        }
    }

    fn verify_hmac(&self, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
        use base64::Engine as _;
        let key = self
            .hmac_key
            .as_ref()
            .ok_or(SignatureError::NotConfigured("hmac"))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| SignatureError::Mismatch)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .map_err(|_| SignatureError::NotConfigured("hmac"))?;
        mac.update(body);
        // Constant-time comparison of the raw 32 bytes.
        mac.verify_slice(&given)
            .map_err(|_| SignatureError::Mismatch)
    }

    async fn verify_jwt(&self, token: &str, body: &[u8]) -> Result<(), SignatureError> {
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(SignatureError::NotConfigured("jwt"))?;
        let (key, fetched_at) = self.public_key(jwt, false).await?;
        match check_jwt(token, body, &key, &jwt.validation) {
            Err(SignatureError::Mismatch)
                if matches!(jwt.source, KeySource::Fetched(_))
                    && self.clock.now() - fetched_at >= KEY_REFRESH_AFTER_SECONDS =>
            {
                let (fresh, _) = self.public_key(jwt, true).await?;
                check_jwt(token, body, &fresh, &jwt.validation)
            }
            other => other,
        }
    }

    async fn public_key(
        &self,
        jwt: &JwtVerifier,
        refresh: bool,
    ) -> Result<(DecodingKey, UnixTime), SignatureError> {
        let client = match &jwt.source {
            KeySource::Fixed(key) => return Ok((key.clone(), self.clock.now())),
            KeySource::Fetched(client) => client,
        };
        let mut cache = jwt.cache.lock().await;
        let now = self.clock.now();
        if let Some(cached) = cache
            .as_ref()
            .filter(|c| !refresh && now - c.fetched_at < KEY_TTL_SECONDS)
        {
            return Ok((cached.key.clone(), cached.fetched_at));
        }
        let pem = client
            .webhook_public_key()
            .await
            .map_err(|e| SignatureError::KeyUnavailable(e.to_string()))?;
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| SignatureError::KeyUnavailable(format!("not an RSA public key: {e}")))?;
        *cache = Some(CachedKey {
            key: key.clone(),
            fetched_at: now,
        });
        Ok((key, now))
    }
}

fn check_jwt(
    token: &str,
    body: &[u8],
    key: &DecodingKey,
    validation: &Validation,
) -> Result<(), SignatureError> {
    let claims = jsonwebtoken::decode::<JwtClaims>(token, key, validation)
        .map_err(|_| SignatureError::Mismatch)?
        .claims;
    // The signature covers `data`; it must be exactly the body received.
    if claims.data.as_bytes() == body {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_lagos_api_root() {
        for url in [
            "https://lago.example.com",
            "https://lago.example.com/",
            "https://lago.example.com/api/v1",
            "https://lago.example.com/api/v1/",
        ] {
            assert_eq!(lago_issuer(url), "https://lago.example.com", "{url}");
        }
    }
}
