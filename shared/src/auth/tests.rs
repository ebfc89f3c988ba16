use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use std::sync::atomic::{AtomicUsize, Ordering};

const ISSUER: &str = "https://kc.example/realms/app";
const KEY_IN_JWKS: &str = include_str!("../../testdata/jwt-test-key-in-jwks.pem");
const KEY_NOT_IN_JWKS: &str = include_str!("../../testdata/jwt-test-key-not-in-jwks.pem");
const JWKS: &str = include_str!("../../testdata/jwks.json");

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
    crate::ports::Clock::now(&crate::time::SystemClock)
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
        lambda_http::request::from_str(include_str!("../../../events/subscription-current.json"))
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
    let err = |pairs: &[(&str, &str)]| Authenticator::load(&env(pairs)).err().unwrap().to_string();
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
