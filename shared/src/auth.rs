//! Who is calling. Behind API Gateway the JWT authorizer has verified the token and its claims
//! arrive in the request context; where no authorizer sits in front (local runs), the bearer
//! token is verified here as that authorizer does it: an RSA signature by a key of the issuer's
//! JWKS (found through its OpenID discovery document), then `iss`, `aud` (or `client_id` when
//! there is no `aud`), `exp`, `nbf` and `iat`. A header is never trusted on its own.

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
    pub user_id: UserId,
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
        let now = crate::time::Clock::now(&crate::time::SystemClock);
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ISSUER: &str = "https://kc.example/realms/app";
    const KEY_IN_JWKS: &str = include_str!("../testdata/jwt-test-key-in-jwks.pem");
    const KEY_NOT_IN_JWKS: &str = include_str!("../testdata/jwt-test-key-not-in-jwks.pem");
    const JWKS: &str = include_str!("../testdata/jwks.json");

    /// A JWKS that counts how often it was read.
    struct CountingJwks(AtomicUsize);

    #[async_trait]
    impl JwksSource for CountingJwks {
        async fn fetch(&self) -> Result<String, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(JWKS.to_owned())
        }
    }

    fn verifier() -> (Authenticator, Arc<CountingJwks>) {
        let jwks = Arc::new(CountingJwks(AtomicUsize::new(0)));
        let verifier = JwtVerifier::new(ISSUER, vec!["tierflow-api".into()], jwks.clone());
        (Authenticator::Jwt(Arc::new(verifier)), jwks)
    }

    fn sign(claims: Value, kid: Option<&str>, pem: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn now() -> i64 {
        crate::time::Clock::now(&crate::time::SystemClock)
    }

    fn good_claims() -> Value {
        serde_json::json!({"sub": "user-1", "email": "a@example.com", "iss": ISSUER,
            "aud": ["account", "tierflow-api"], "iat": now() - 5, "exp": now() + 600})
    }

    fn with(overrides: Value) -> Value {
        let mut claims = good_claims();
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn request_with(auth: Option<String>) -> Request {
        let mut req = Request::new(lambda_http::Body::Empty);
        if let Some(a) = auth {
            req.headers_mut()
                .insert("authorization", a.parse().unwrap());
        }
        req
    }

    #[tokio::test]
    async fn a_token_of_the_issuer_for_the_api_names_the_caller() {
        let (auth, jwks) = verifier();
        let token = sign(good_claims(), Some("test-key-a"), KEY_IN_JWKS);
        for _ in 0..3 {
            let caller = auth
                .caller(&request_with(Some(format!("Bearer {token}"))))
                .await
                .unwrap();
            assert_eq!(caller.user_id.as_str(), "user-1");
            assert_eq!(caller.email.as_deref(), Some("a@example.com"));
        }
        assert_eq!(jwks.0.load(Ordering::SeqCst), 1, "the keys are cached");
        // Without `aud`, `client_id` is the audience (API Gateway's rule).
        let by_client = sign(
            with(serde_json::json!({"aud": null, "client_id": "tierflow-api"})),
            Some("test-key-a"),
            KEY_IN_JWKS,
        );
        assert!(auth
            .caller(&request_with(Some(format!("Bearer {by_client}"))))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn bad_tokens_are_401_with_a_reason() {
        let (auth, _) = verifier();
        let key_a = |claims: Value| sign(claims, Some("test-key-a"), KEY_IN_JWKS);
        let cases = [
            (None, "missing Authorization"),
            (Some("Basic abc".to_owned()), "must be Bearer"),
            (Some("Bearer not.a.jwt".to_owned()), "invalid"),
            (
                Some(key_a(with(serde_json::json!({"exp": now() - 1})))),
                "expired",
            ),
            (
                Some(key_a(with(serde_json::json!({"nbf": now() + 60})))),
                "not valid yet",
            ),
            (
                Some(key_a(with(serde_json::json!({"iat": now() + 60})))),
                "in the future",
            ),
            (
                Some(key_a(with(
                    serde_json::json!({"iss": "https://evil/realms/app"}),
                ))),
                "issuer",
            ),
            (
                Some(key_a(with(serde_json::json!({"iss": null})))),
                "invalid",
            ),
            (
                Some(key_a(with(serde_json::json!({"aud": "account"})))),
                "audience",
            ),
            (
                Some(key_a(with(
                    serde_json::json!({"aud": "account", "client_id": "tierflow-api"}),
                ))),
                "audience",
            ),
            (
                Some(key_a(with(serde_json::json!({"aud": null})))),
                "audience",
            ),
            (
                Some(sign(good_claims(), Some("test-key-a"), KEY_NOT_IN_JWKS)),
                "signature",
            ),
            (
                Some(sign(good_claims(), Some("test-key-b"), KEY_NOT_IN_JWKS)),
                "does not publish",
            ),
            (
                Some(sign(good_claims(), Some("enc-key"), KEY_IN_JWKS)),
                "does not publish",
            ),
            (Some(sign(good_claims(), None, KEY_IN_JWKS)), "kid"),
        ];
        for (token, want) in cases {
            let header = token.map(|t| {
                if t.starts_with("Basic") || t.starts_with("Bearer") {
                    t
                } else {
                    format!("Bearer {t}")
                }
            });
            let err = auth
                .caller(&request_with(header.clone()))
                .await
                .unwrap_err();
            assert_eq!(err.status, 401, "{header:?}");
            assert!(err.message.contains(want), "{want}: {}", err.message);
        }
    }

    #[tokio::test]
    async fn hs256_tokens_are_refused_whatever_their_claims() {
        let (auth, _) = verifier();
        let token = encode(
            &Header::default(),
            &good_claims(),
            &EncodingKey::from_secret(b"a-shared-secret-long-enough-for-hs256"),
        )
        .unwrap();
        let err = auth
            .caller(&request_with(Some(format!("Bearer {token}"))))
            .await
            .unwrap_err();
        assert!(err.message.contains("RSA"), "{}", err.message);
    }

    #[tokio::test]
    async fn an_unknown_key_refetches_the_jwks_once_not_on_every_request() {
        let (auth, jwks) = verifier();
        let known = sign(good_claims(), Some("test-key-a"), KEY_IN_JWKS);
        auth.caller(&request_with(Some(format!("Bearer {known}"))))
            .await
            .unwrap();
        let JwksCache { cached, .. } = match &auth {
            Authenticator::Jwt(v) => &v.keys,
            Authenticator::ApiGateway => unreachable!(),
        };
        // As if the keys were read long enough ago for a refetch to be allowed.
        cached.lock().await.as_mut().unwrap().fetched_at -= JWKS_REFETCH_INTERVAL;
        let unknown = sign(good_claims(), Some("rotated"), KEY_NOT_IN_JWKS);
        for _ in 0..5 {
            let err = auth
                .caller(&request_with(Some(format!("Bearer {unknown}"))))
                .await
                .unwrap_err();
            assert_eq!(err.status, 401);
        }
        assert_eq!(
            jwks.0.load(Ordering::SeqCst),
            2,
            "one refetch for the unknown kid"
        );
    }

    #[test]
    fn the_jwks_keeps_rsa_signing_keys_only() {
        let keys = signing_keys(JWKS).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["test-key-a"]);
        assert!(signing_keys("{}").is_err());
    }

    #[tokio::test]
    async fn api_gateway_mode_ignores_bearer_headers_without_authorizer_claims() {
        let token = sign(good_claims(), Some("test-key-a"), KEY_IN_JWKS);
        let err = Authenticator::ApiGateway
            .caller(&request_with(Some(format!("Bearer {token}"))))
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
    }

    #[tokio::test]
    async fn api_gateway_mode_reads_authorizer_claims() {
        let req =
            lambda_http::request::from_str(include_str!("../../events/subscription-current.json"))
                .unwrap();
        let caller = Authenticator::ApiGateway.caller(&req).await.unwrap();
        assert_eq!(
            caller.user_id.as_str(),
            "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e"
        );
    }

    #[test]
    fn configuration_must_choose_a_mode_and_name_issuer_and_audience() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let err =
            |pairs: &[(&str, &str)]| Authenticator::load(&env(pairs)).err().unwrap().to_string();
        assert_eq!(err(&[]), "AUTH_MODE must be set");
        assert_eq!(err(&[("AUTH_MODE", "jwt")]), "JWT_ISSUER must be set");
        assert_eq!(
            err(&[("AUTH_MODE", "jwt"), ("JWT_ISSUER", ISSUER)]),
            "JWT_AUDIENCE must be set"
        );
        assert!(err(&[
            ("AUTH_MODE", "jwt"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", " , ")
        ])
        .contains("at least one audience"));
        assert!(Authenticator::load(&env(&[
            ("AUTH_MODE", "jwt"),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", "tierflow-api, other"),
        ]))
        .is_ok());
    }
}
