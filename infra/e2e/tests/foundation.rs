//! The first endpoints served end to end through `cargo lambda watch`.

use support::{unique_user, Stack};
use tierflow_e2e::support;

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
    let (_, token) = stack.user("e2e-new").await;
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
    let kc = &stack.keycloak;
    let (user, _) = stack.user("e2e-401").await;
    let username = unique_user("e2e-401-other").to_lowercase();
    // The same user's tokens from another realm (issuer), from a client without the API's
    // audience, expired, and signed by a key Keycloak does not publish.
    kc.create_user(
        "tierflow-readonly",
        &username,
        &format!("{username}@example.com"),
        serde_json::json!({}),
    )
    .await;
    let other_issuer = kc
        .sign_in("tierflow-readonly", "tierflow-e2e", &username)
        .await;
    kc.create_user(
        support::REALM,
        &username,
        &format!("{username}@example.com"),
        serde_json::json!({}),
    )
    .await;
    let wrong_audience = kc
        .sign_in(support::REALM, "tierflow-e2e-other-audience", &username)
        .await;
    let expired = stack.expired_token("e2e-401-expired").await;
    let forged = stack.forged_token(&user).await;
    for (token, reason) in [
        (None, "missing"),
        (Some("not-a-jwt"), "invalid"),
        (Some(other_issuer.as_str()), "does not publish"),
        (Some(wrong_audience.as_str()), "audience"),
        (Some(expired.as_str()), "expired"),
        (Some(forged.as_str()), "signature"),
    ] {
        let (status, body) = stack.get("/api/v1/subscriptions/current", token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(reason)),
            "{reason}: {body}"
        );
    }
}
