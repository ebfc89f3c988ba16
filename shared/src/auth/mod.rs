//! Who is calling. Behind API Gateway the JWT authorizer has verified the token and its claims
//! arrive in the request context; where no authorizer sits in front (local runs), the bearer
//! token is verified here as that authorizer does it: an RSA signature by a key of the issuer's
//! JWKS (found through its OpenID discovery document), then `iss`, `aud` (or `client_id` when
//! there is no `aud`), `exp`, `nbf` and `iat`. A header is never trusted on its own.

#[cfg(test)]
mod tests;

use crate::config::{ConfigError, Env, EnvSource, ProcessEnv};
use crate::domain::UserId;
use crate::http::ApiError;
use async_trait::async_trait;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::warn;

/// Keys are trusted this long before the JWKS is read again (API Gateway caches them for up to
/// two hours).
const JWKS_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);
/// An unknown `kid` refetches the JWKS at most this often, so forged tokens cannot turn every
/// request into a call to the issuer.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// The signature algorithms API Gateway's JWT authorizer accepts: RSA only.
const RSA_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// The authenticated caller: the token's `sub` and, when present, `email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: the issuer's id for the user, which Tierflow keys everything on.
    pub user_id: UserId,
    /// The token's `email`; `None` when it has none or an empty one.
    pub email: Option<String>,
}

/// How callers are authenticated.
#[derive(Clone)]
pub enum Authenticator {
    /// Trust the claims API Gateway's JWT authorizer put in the request context.
    ApiGateway,
    /// Verify `Authorization: Bearer <jwt>` here, as the authorizer would.
    Jwt(Arc<JwtVerifier>),
}

/// Where the issuer's signing keys come from: its JWKS document, as JSON text.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The current key set, or why it could not be read (the request fails with a 503).
    async fn fetch(&self) -> Result<String, String>;
}

/// The issuer's JWKS over HTTP: `jwks_uri` from `{issuer}/.well-known/openid-configuration`
/// (read once), then the key set itself.
pub struct DiscoveredJwks {
    issuer: String,
    http: reqwest::Client,
    jwks_uri: Mutex<Option<String>>,
}

impl DiscoveredJwks {
    /// For the issuer at `issuer` (a final slash is dropped); nothing is fetched until a token
    /// needs a key.
    pub fn new(issuer: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            http: crate::adapters::https::integration_client()?,
            jwks_uri: Mutex::new(None),
        })
    }

    async fn get(&self, url: &str) -> Result<String, String> {
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}"));
        }
        Ok(body)
    }
}

#[async_trait]
impl JwksSource for DiscoveredJwks {
    async fn fetch(&self) -> Result<String, String> {
        let mut known = self.jwks_uri.lock().await;
        let uri = match known.as_ref() {
            Some(uri) => uri.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let document: Value = serde_json::from_str(&self.get(&url).await?)
                    .map_err(|e| format!("{url}: {e}"))?;
                let uri = document
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{url} names no jwks_uri"))?
                    .to_owned();
                *known = Some(uri.clone());
                uri
            }
        };
        drop(known);
        self.get(&uri).await
    }
}

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

/// The issuer's signing keys by `kid`, cached; read again when stale, and once (rate-limited)
/// when a token names a key the cache does not hold (the issuer rotated its keys).
pub struct JwksCache {
    source: Arc<dyn JwksSource>,
    cached: Mutex<Option<KeySet>>,
}

impl JwksCache {
    /// An empty cache over `source`: the first token reads the key set.
    pub fn new(source: Arc<dyn JwksSource>) -> Self {
        Self {
            source,
            cached: Mutex::new(None),
        }
    }

    /// The key `kid` names; `Ok(None)` when the issuer does not publish it.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, String> {
        let mut cached = self.cached.lock().await;
        let fresh = |set: &KeySet| set.fetched_at.elapsed() < JWKS_MAX_AGE;
        if let Some(key) = cached
            .as_ref()
            .filter(|set| fresh(set))
            .and_then(|set| set.keys.get(kid))
        {
            return Ok(Some(key.clone()));
        }
        let may_refetch = cached
            .as_ref()
            .is_none_or(|set| !fresh(set) || set.fetched_at.elapsed() >= JWKS_REFETCH_INTERVAL);
        if may_refetch {
            let text = self.source.fetch().await?;
            *cached = Some(KeySet {
                keys: signing_keys(&text)?,
                fetched_at: Instant::now(),
            });
        }
        Ok(cached.as_ref().and_then(|set| set.keys.get(kid)).cloned())
    }
}

/// The RSA signing keys of a JWKS document by `kid`; encryption keys and other key types are
/// skipped.
pub fn signing_keys(jwks: &str) -> Result<HashMap<String, DecodingKey>, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let document: Document =
        serde_json::from_str(jwks).map_err(|e| format!("the JWKS is not a key set: {e}"))?;
    let mut keys = HashMap::new();
    for raw in document.keys {
        let field = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        if field("kty").as_deref() != Some("RSA") || field("use").as_deref() == Some("enc") {
            continue;
        }
        let Some(kid) = field("kid") else { continue };
        let key = serde_json::from_value::<Jwk>(raw)
            .ok()
            .and_then(|jwk| DecodingKey::from_jwk(&jwk).ok());
        if let Some(key) = key {
            keys.insert(kid, key);
        }
    }
    Ok(keys)
}

/// Verifies a bearer JWT as API Gateway's JWT authorizer does.
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    keys: JwksCache,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl JwtVerifier {
    /// A verifier for tokens of `issuer` meant for one of `audiences`, with keys from `keys`.
    pub fn new(issuer: &str, audiences: Vec<String>, keys: Arc<dyn JwksSource>) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audiences,
            keys: JwksCache::new(keys),
        }
    }

    /// The token's `sub` and `email`, or 401 saying which check failed.
    pub async fn verify(&self, token: &str) -> Result<(String, Option<String>), ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("the token is invalid"))?;
        if !RSA_ALGORITHMS.contains(&header.alg) {
            return Err(ApiError::unauthorized(
                "the token must be signed with an RSA algorithm",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| ApiError::unauthorized("the token names no signing key (kid)"))?;
        let key = self
            .keys
            .key(&kid)
            .await
            .map_err(|e| {
                warn!(error = %e, "the issuer's signing keys could not be read");
                ApiError::unavailable()
            })?
            .ok_or_else(|| {
                ApiError::unauthorized("the token is signed by a key the issuer does not publish")
            })?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            ApiError::unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidSignature => "the token's signature is invalid",
                _ => "the token is invalid",
            })
        })?;
        let claims = data.claims;
        let now = crate::ports::Clock::now(&crate::time::SystemClock);
        if claims.iat.is_some_and(|iat| iat > now) {
            return Err(ApiError::unauthorized("the token was issued in the future"));
        }
        // `client_id` counts only when the token has no `aud`, as in API Gateway.
        let audiences = match claims.aud {
            Some(Audience::One(aud)) => vec![aud],
            Some(Audience::Many(all)) => all,
            None => claims.client_id.into_iter().collect(),
        };
        if !audiences.iter().any(|a| self.audiences.contains(a)) {
            return Err(ApiError::unauthorized(
                "the token's audience is not accepted",
            ));
        }
        Ok((claims.sub, claims.email))
    }

    async fn verify_request(&self, req: &Request) -> Result<(String, Option<String>), ApiError> {
        let header = req
            .headers()
            .get("authorization")
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be Bearer <token>")
            })?;
        self.verify(token).await
    }
}

impl Authenticator {
    /// `AUTH_MODE=apigateway` (deployed) or `AUTH_MODE=jwt` with `JWT_ISSUER` (whose discovery
    /// document names the JWKS) and `JWT_AUDIENCE` (comma-separated, like the authorizer's
    /// audience list).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    /// [`Authenticator::from_env`] over `source` instead of the process environment.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        match env.required("AUTH_MODE")?.as_str() {
            "apigateway" => Ok(Self::ApiGateway),
            "jwt" => {
                let issuer = env.required("JWT_ISSUER")?;
                let audiences = audience_list(&env.required("JWT_AUDIENCE")?);
                if audiences.is_empty() {
                    return Err(ConfigError::Invalid {
                        name: "JWT_AUDIENCE",
                        reason: "name at least one audience".into(),
                    });
                }
                let jwks = DiscoveredJwks::new(&issuer).map_err(|e| ConfigError::Invalid {
                    name: "JWT_ISSUER",
                    reason: e.to_string(),
                })?;
                Ok(Self::Jwt(Arc::new(JwtVerifier::new(
                    &issuer,
                    audiences,
                    Arc::new(jwks),
                ))))
            }
            other => Err(ConfigError::Invalid {
                name: "AUTH_MODE",
                reason: format!("{other:?}: expected apigateway or jwt"),
            }),
        }
    }

    /// The caller of `req`, or 401 with a message saying what is missing.
    pub async fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let (sub, email) = match self {
            Self::ApiGateway => authorizer_claims(req)?,
            Self::Jwt(verifier) => verifier.verify_request(req).await?,
        };
        let user_id = UserId::parse(&sub).map_err(|e| ApiError::unauthorized(e.0))?;
        Ok(Caller {
            user_id,
            email: email.filter(|e| !e.is_empty()),
        })
    }
}

fn audience_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn authorizer_claims(req: &Request) -> Result<(String, Option<String>), ApiError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    }
    .ok_or_else(|| ApiError::unauthorized("no verified token reached this function"))?;
    let sub = claims
        .get("sub")
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("the token has no subject"))?;
    Ok((sub, claims.get("email").cloned()))
}
