//! Shared helpers for end-to-end tests (included with `mod support;`).
#![allow(dead_code)]

use jsonwebtoken::{encode, EncodingKey, Header};

/// The base URL of `cargo lambda watch` and the secret local tokens are signed with.
pub struct Stack {
    pub base: String,
    jwt_secret: String,
    pub http: reqwest::Client,
}

impl Stack {
    /// Reads the stack started by `infra/test.sh`; these tests only run there (`--ignored`).
    pub fn from_env() -> Self {
        let base = std::env::var("TIERFLOW_E2E_BASE")
            .expect("TIERFLOW_E2E_BASE: run through infra/test.sh");
        let jwt_secret =
            std::env::var("JWT_HS256_SECRET").expect("JWT_HS256_SECRET: run through infra/test.sh");
        Self {
            base,
            jwt_secret,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("http client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A valid local token for `sub`.
    pub fn token(&self, sub: &str, email: &str) -> String {
        self.token_signed_with(sub, email, &self.jwt_secret, 3600)
    }

    pub fn token_signed_with(&self, sub: &str, email: &str, secret: &str, ttl: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let claims = serde_json::json!({"sub": sub, "email": email, "iat": now, "exp": now + ttl});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }
}

/// A user id no other test uses.
pub fn unique_user(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos}")
}
