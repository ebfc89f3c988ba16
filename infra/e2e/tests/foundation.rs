//! The first endpoints served end to end through `cargo lambda watch`.

mod support;

use support::{unique_user, Stack};

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn billing_config_serves_the_catalog_without_auth() {
    let stack = Stack::from_env();
    let (status, body) = stack.get("/api/v1/billing/config", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["publishable_key"]
        .as_str()
        .unwrap()
        .starts_with("pk_test_"));
    let plans = body["plans"].as_array().unwrap();
    let tiers: Vec<&str> = plans.iter().map(|p| p["tier"].as_str().unwrap()).collect();
    assert_eq!(
        tiers,
        ["free", "trial", "starter", "professional", "enterprise"]
    );
    assert_eq!(plans[3]["prices"][0]["amount"], 4900);
    assert_eq!(plans[3]["prices"][0]["currency"], "usd");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_new_user_with_a_valid_token_is_free() {
    let stack = Stack::from_env();
    let token = stack.token(&unique_user("e2e-new"), "new@example.com");
    let (status, body) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "free");
    assert_eq!(body["access"], "active");
    assert_eq!(body["entitlements"]["projects"], 1);
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn without_a_valid_token_it_is_401_with_the_envelope() {
    let stack = Stack::from_env();
    let forged = stack.token_signed_with(
        "mallory",
        "m@example.com",
        "a-different-secret-of-enough-length!!",
        3600,
    );
    let stale = stack.token_signed_with(
        "bob",
        "b@example.com",
        &std::env::var("JWT_HS256_SECRET").unwrap(),
        -3600,
    );
    for token in [
        None,
        Some("not-a-jwt"),
        Some(forged.as_str()),
        Some(stale.as_str()),
    ] {
        let (status, body) = stack.get("/api/v1/subscriptions/current", token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}
