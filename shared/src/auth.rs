//! Who is calling. Behind API Gateway the JWT authorizer has verified the token and its claims
//! arrive in the request context; where no authorizer sits in front (local runs), the bearer
//! token is verified here against a configured key. A header is never trusted on its own.

use crate::config::{ConfigError, Env, EnvSource, ProcessEnv};
use crate::domain::UserId;
use crate::http::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

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
    /// Verify `Authorization: Bearer <jwt>` here.
    Jwt(Box<JwtVerifier>),
}

/// Verifies a bearer JWT's signature, expiry, and (when configured) issuer and audience.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
}

impl Authenticator {
    /// `AUTH_MODE=apigateway` (deployed) or `AUTH_MODE=jwt` with `JWT_HS256_SECRET` or
    /// `JWT_PUBLIC_KEY_PEM` (RS256), and optional `JWT_ISSUER` / `JWT_AUDIENCE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        match env.required("AUTH_MODE")?.as_str() {
            "apigateway" => Ok(Self::ApiGateway),
            "jwt" => {
                let (key, algorithm) = if let Some(pem) = env.optional("JWT_PUBLIC_KEY_PEM") {
                    let key = DecodingKey::from_rsa_pem(pem.replace("\\n", "\n").as_bytes())
                        .map_err(|e| ConfigError::Invalid {
                            name: "JWT_PUBLIC_KEY_PEM",
                            reason: e.to_string(),
                        })?;
                    (key, Algorithm::RS256)
                } else {
                    let secret = env.secret("JWT_HS256_SECRET").map_err(|_| {
                        ConfigError::Missing("JWT_HS256_SECRET (or JWT_PUBLIC_KEY_PEM)")
                    })?;
                    if secret.expose().len() < 32 {
                        return Err(ConfigError::Invalid {
                            name: "JWT_HS256_SECRET",
                            reason: "use at least 32 characters".into(),
                        });
                    }
                    (
                        DecodingKey::from_secret(secret.expose().as_bytes()),
                        Algorithm::HS256,
                    )
                };
                let mut validation = Validation::new(algorithm);
                validation.leeway = 30;
                match env.optional("JWT_AUDIENCE") {
                    Some(aud) => validation.set_audience(&[aud]),
                    None => validation.validate_aud = false,
                }
                if let Some(iss) = env.optional("JWT_ISSUER") {
                    validation.set_issuer(&[iss]);
                }
                Ok(Self::Jwt(Box::new(JwtVerifier { key, validation })))
            }
            other => Err(ConfigError::Invalid {
                name: "AUTH_MODE",
                reason: format!("{other:?}: expected apigateway or jwt"),
            }),
        }
    }

    /// The caller of `req`, or 401 with a message saying what is missing.
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let (sub, email) = match self {
            Self::ApiGateway => authorizer_claims(req)?,
            Self::Jwt(verifier) => verifier.verify_request(req)?,
        };
        let user_id = UserId::parse(&sub).map_err(|e| ApiError::unauthorized(e.0))?;
        Ok(Caller {
            user_id,
            email: email.filter(|e| !e.is_empty()),
        })
    }
}

impl JwtVerifier {
    fn verify_request(&self, req: &Request) -> Result<(String, Option<String>), ApiError> {
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
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    _ => "the token is invalid",
                };
                ApiError::unauthorized(why)
            })?;
        Ok((data.claims.sub, data.claims.email))
    }
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
    use std::collections::HashMap;

    const SECRET: &str = "test-secret-of-at-least-32-characters!!";

    fn jwt_auth(extra: &[(&str, &str)]) -> Authenticator {
        let mut env: HashMap<String, String> = [("AUTH_MODE", "jwt"), ("JWT_HS256_SECRET", SECRET)]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        Authenticator::load(&env).unwrap()
    }

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn request_with(auth: Option<String>) -> Request {
        let mut req = Request::new(lambda_http::Body::Empty);
        if let Some(a) = auth {
            req.headers_mut()
                .insert("authorization", a.parse().unwrap());
        }
        req
    }

    fn now() -> i64 {
        crate::time::Clock::now(&crate::time::SystemClock)
    }

    #[test]
    fn a_valid_token_names_the_caller() {
        let t = token(
            serde_json::json!({"sub": "user-1", "email": "a@example.com", "exp": now() + 600}),
            SECRET,
        );
        let caller = jwt_auth(&[])
            .caller(&request_with(Some(format!("Bearer {t}"))))
            .unwrap();
        assert_eq!(caller.user_id.as_str(), "user-1");
        assert_eq!(caller.email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn bad_tokens_are_401_with_a_reason() {
        let auth = jwt_auth(&[("JWT_ISSUER", "https://kc.example/realms/app")]);
        let expired = token(
            serde_json::json!({"sub": "u", "exp": now() - 3600, "iss": "https://kc.example/realms/app"}),
            SECRET,
        );
        let forged = token(
            serde_json::json!({"sub": "u", "exp": now() + 600, "iss": "https://kc.example/realms/app"}),
            "another-secret-that-is-long-enough-xx",
        );
        let wrong_iss = token(
            serde_json::json!({"sub": "u", "exp": now() + 600, "iss": "https://evil"}),
            SECRET,
        );
        let cases = [
            (None, "missing Authorization"),
            (Some("Basic abc".to_owned()), "must be Bearer"),
            (Some("Bearer not.a.jwt".to_owned()), "invalid"),
            (Some(format!("Bearer {expired}")), "expired"),
            (Some(format!("Bearer {forged}")), "signature"),
            (Some(format!("Bearer {wrong_iss}")), "issuer"),
        ];
        for (header, want) in cases {
            let err = auth.caller(&request_with(header.clone())).unwrap_err();
            assert_eq!(err.status, 401, "{header:?}");
            assert!(err.message.contains(want), "{header:?}: {}", err.message);
        }
    }

    #[test]
    fn api_gateway_mode_ignores_bearer_headers_without_authorizer_claims() {
        let t = token(
            serde_json::json!({"sub": "user-1", "exp": now() + 600}),
            SECRET,
        );
        let err = Authenticator::ApiGateway
            .caller(&request_with(Some(format!("Bearer {t}"))))
            .unwrap_err();
        assert_eq!(err.status, 401);
    }

    #[test]
    fn api_gateway_mode_reads_authorizer_claims() {
        let req =
            lambda_http::request::from_str(include_str!("../../events/subscription-current.json"))
                .unwrap();
        let caller = Authenticator::ApiGateway.caller(&req).unwrap();
        assert_eq!(
            caller.user_id.as_str(),
            "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e"
        );
    }

    #[test]
    fn configuration_must_choose_a_mode() {
        let err = Authenticator::load(&HashMap::<String, String>::new())
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "AUTH_MODE must be set");
        let env: HashMap<String, String> = [
            ("AUTH_MODE".to_owned(), "jwt".to_owned()),
            ("JWT_HS256_SECRET".to_owned(), "short".to_owned()),
        ]
        .into();
        assert!(Authenticator::load(&env).is_err());
    }
}
