//! The Keycloak client against HTTP mock servers that check the exact method, path, headers and
//! body of Keycloak's admin REST API; the Lago client against the Lago emulator
//! (`infra/lago-emulator`, which refuses fields Lago's API does not document) with the Stripe
//! emulator behind it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::support::tier;
use crate::sync_support::{
    lago_config, FakeKeycloak, LagoEmulator, LagoOptions, MockServer, StripeSide, CLIENT_ID,
    CLIENT_SECRET, REALM,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, SubscriptionStatus, UserId};
use tierflow::ports::{BillingStore, Commit, ProfileWrite, SyncJob};
use tierflow::sync::keycloak::KeycloakClient;
use tierflow::sync::lago::{LagoClient, LagoCustomer, StripeLink};
use tierflow::sync::worker::{EmailSettings, Worker, DEFAULT_JOB_TIMEOUT};
use tierflow::time::FixedClock;

const NOW: i64 = 1_793_000_000;

#[tokio::test]
async fn one_token_serves_many_calls_until_shortly_before_it_expires() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("u1", "ada@example.com");
    let clock = Arc::new(FixedClock::at(NOW));
    let client = KeycloakClient::new(kc.config(), clock.clone()).unwrap();

    for _ in 0..3 {
        assert!(client.user_by_id("u1").await.unwrap().is_some());
    }
    let token_path = format!("/realms/{REALM}/protocol/openid-connect/token");
    assert_eq!(
        kc.server.count("POST", &token_path),
        1,
        "one token for three calls"
    );

    let requests = kc.server.requests();
    let token = &requests[0];
    assert_eq!(token.method, "POST");
    assert_eq!(token.target, token_path);
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        token.body,
        format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        )
    );
    for get in &requests[1..] {
        assert_eq!(get.method, "GET");
        assert_eq!(get.target, format!("/admin/realms/{REALM}/users/u1"));
        assert_eq!(get.header("authorization"), Some("Bearer token-1"));
    }

    // The token lives 300 s; it is renewed 30 s before that.
    clock.advance(269);
    client.user_by_id("u1").await.unwrap();
    assert_eq!(kc.server.count("POST", &token_path), 1);
    clock.advance(1);
    client.user_by_id("u1").await.unwrap();
    assert_eq!(
        kc.server.count("POST", &token_path),
        2,
        "renewed near expiry"
    );
    let last = kc.server.requests().pop().unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer token-2"));
}

#[tokio::test]
async fn merging_attributes_puts_back_the_whole_user_with_unrelated_attributes_kept() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("u1", "ada@example.com");
    let client = KeycloakClient::new(kc.config(), Arc::new(FixedClock::at(NOW))).unwrap();

    let user = client.find_user("u1", None).await.unwrap();
    assert_eq!(user.name.as_deref(), Some("Ada Lovelace"));
    let wanted = BTreeMap::from([
        ("subscription_tier", Some("professional".to_owned())),
        ("subscription_status", Some("active".to_owned())),
        ("stripe_customer_id", Some("cus_1".to_owned())),
        ("stripe_subscription_id", None),
    ]);
    let updated = client.merge_user_attributes(user, &wanted).await.unwrap();
    assert_eq!(updated.attribute("subscription_tier"), Some("professional"));

    let put = kc
        .server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert_eq!(put.target, format!("/admin/realms/{REALM}/users/u1"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(put.header("authorization"), Some("Bearer token-1"));
    assert_eq!(
        put.json(),
        json!({
            "id": "u1", "username": "u1", "email": "ada@example.com", "firstName": "Ada",
            "lastName": "Lovelace", "enabled": true, "emailVerified": true,
            "attributes": {
                "locale": ["en"], "department": ["research"],
                "subscription_tier": ["professional"], "subscription_status": ["active"],
                "stripe_customer_id": ["cus_1"]
            }
        })
    );

    // The same values again: read, nothing to change, no PUT.
    let again = client.find_user("u1", None).await.unwrap();
    client.merge_user_attributes(again, &wanted).await.unwrap();
    assert_eq!(kc.server.count("PUT", "/admin"), 1);
}

#[tokio::test]
async fn a_user_not_found_by_id_is_linked_by_exact_email() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("kc-42", "grace+billing@example.com");
    let client = KeycloakClient::new(kc.config(), Arc::new(FixedClock::at(NOW))).unwrap();

    let user = client
        .find_user("tierflow-user-7", Some("grace+billing@example.com"))
        .await
        .unwrap();
    assert_eq!(user.id, "kc-42");
    let search = kc
        .server
        .requests()
        .into_iter()
        .find(|r| r.target.contains('?'))
        .unwrap();
    assert_eq!(search.method, "GET");
    assert_eq!(
        search.target,
        format!("/admin/realms/{REALM}/users?email=grace%2Bbilling%40example.com&exact=true")
    );
    assert!(matches!(
        client.find_user("nobody", Some("nobody@example.com")).await,
        Err(tierflow::sync::keycloak::KeycloakError::UserNotFound { .. })
    ));

    // Two users with the address: no guess, and no retry can tell them apart.
    kc.add_user("kc-43", "grace+billing@example.com");
    let err = client
        .find_user("tierflow-user-7", Some("grace+billing@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, tierflow::sync::keycloak::KeycloakError::AmbiguousEmail),
        "{err}"
    );
    assert!(err.is_permanent());
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_call_retried() {
    let tokens = Arc::new(std::sync::Mutex::new(0));
    let t = tokens.clone();
    // Token 1 is refused by the admin API (revoked); token 2 works.
    let server = MockServer::start(move |req| {
        if req.method == "POST" {
            let mut n = t.lock().unwrap();
            *n += 1;
            return (
                200,
                json!({"access_token": format!("t{n}"), "expires_in": 300}).to_string(),
            );
        }
        match req.header("authorization") {
            Some("Bearer t2") => (200, json!({"id": "u1", "attributes": {}}).to_string()),
            _ => (401, "{}".into()),
        }
    })
    .await;
    let client = KeycloakClient::new(
        tierflow::sync::keycloak::KeycloakConfig {
            base_url: server.url.clone(),
            realm: REALM.into(),
            client_id: CLIENT_ID.into(),
            client_secret: tierflow::config::Secret::new(CLIENT_SECRET),
        },
        Arc::new(FixedClock::at(NOW)),
    )
    .unwrap();
    assert_eq!(client.user_by_id("u1").await.unwrap().unwrap().id, "u1");
    assert_eq!(*tokens.lock().unwrap(), 2);
}

#[tokio::test]
async fn a_keycloak_error_names_the_operation_and_status() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("u1", "ada@example.com");
    kc.set_failing("u1", true);
    let client = KeycloakClient::new(kc.config(), Arc::new(FixedClock::at(NOW))).unwrap();
    let err = client.user_by_id("u1").await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Keycloak answered 500 to get user"),
        "{err}"
    );
}

fn ada(stripe_customer_id: Option<&str>) -> LagoCustomer {
    LagoCustomer {
        external_id: "u1".into(),
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        currency: "usd".into(),
        stripe_customer_id: stripe_customer_id.map(str::to_owned),
    }
}

#[test]
fn the_customer_body_carries_the_billing_configuration_only_when_the_link_changes() {
    let mut config = lago_config("http://lago.invalid");
    config.stripe_provider_code = Some("stripe_prod".into());
    let client = LagoClient::new(config).unwrap();
    let fields = json!({"external_id": "u1", "email": "ada@example.com",
        "name": "Ada Lovelace", "currency": "USD"});
    let with = |billing: serde_json::Value| {
        let mut customer = fields.clone();
        customer["billing_configuration"] = billing;
        json!({ "customer": customer })
    };
    assert_eq!(
        client.customer_body(&ada(Some("cus_123")), &StripeLink::Link("cus_123".into())),
        with(
            json!({"payment_provider": "stripe", "payment_provider_code": "stripe_prod",
            "provider_customer_id": "cus_123", "sync": false, "sync_with_provider": false})
        )
    );
    assert_eq!(
        client.customer_body(&ada(Some("cus_123")), &StripeLink::Keep),
        json!({ "customer": fields })
    );
    assert_eq!(
        client.customer_body(&ada(None), &StripeLink::Drop),
        with(json!({ "payment_provider": null }))
    );
}

#[tokio::test]
async fn a_linked_customer_is_upserted_through_to_its_stripe_customer() {
    let stripe = StripeSide::start().await;
    let lago = LagoEmulator::start(LagoOptions {
        stripe_api_base: Some(stripe.url()),
        ..Default::default()
    })
    .await;
    let client = LagoClient::new(lago.config()).unwrap();
    let cus = stripe.create_customer("old@example.com").await;
    assert_eq!(client.customer("u1").await.unwrap(), None);

    let link = StripeLink::Link(cus.clone());
    client
        .upsert_customer(&ada(Some(&cus)), &link)
        .await
        .unwrap();
    let state = client.customer("u1").await.unwrap().unwrap();
    assert_eq!(state.stripe_customer_id(), Some(cus.as_str()));
    assert_eq!(
        stripe.customer(&cus).await["email"],
        "old@example.com",
        "linking an existing Stripe customer writes nothing to it"
    );

    // Once linked, every upsert makes Lago write its name and email to the Stripe customer.
    client
        .upsert_customer(&ada(Some(&cus)), &StripeLink::Keep)
        .await
        .unwrap();
    let on_stripe = stripe.customer(&cus).await;
    assert_eq!(
        (&on_stripe["email"], &on_stripe["name"]),
        (&json!("ada@example.com"), &json!("Ada Lovelace"))
    );

    // When that Stripe customer is gone, the upsert is a permanent 422 until the link is dropped.
    stripe.delete_customer(&cus).await;
    let err = client
        .upsert_customer(&ada(Some(&cus)), &StripeLink::Keep)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("third_party_error"), "{err}");
    client
        .upsert_customer(&ada(None), &StripeLink::Drop)
        .await
        .unwrap();
    assert_eq!(
        client
            .customer("u1")
            .await
            .unwrap()
            .unwrap()
            .stripe_customer_id(),
        None
    );
    client
        .upsert_customer(&ada(None), &StripeLink::Keep)
        .await
        .unwrap();
}

#[tokio::test]
async fn lagos_answers_are_classified_and_only_a_named_404_counts_as_terminated() {
    let lago = LagoEmulator::start(LagoOptions::default()).await;
    let client = LagoClient::new(lago.config()).unwrap();
    assert!(!client.terminate_subscription("u|1").await.unwrap());
    client
        .assign_plan("u1", "u1", "tierflow_starter", None)
        .await
        .unwrap();
    assert!(client.terminate_subscription("u1").await.unwrap());
    assert!(
        !client.terminate_subscription("u1").await.unwrap(),
        "already terminated"
    );

    let unknown_plan = client
        .assign_plan("u1", "u1", "no_such_plan", None)
        .await
        .unwrap_err();
    assert!(unknown_plan.is_permanent(), "{unknown_plan}");
    assert!(unknown_plan.to_string().contains("plan_not_found"));

    // A 404 that names nothing (here: a wrong API URL) is an error, not "already terminated".
    let misplaced = LagoClient::new(lago_config(&format!("{}/lago", lago.url))).unwrap();
    let err = misplaced.terminate_subscription("u1").await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");

    let mut restricted = lago.config();
    restricted.api_key =
        tierflow::config::Secret::new(crate::sync_support::LAGO_KEY_WITHOUT_PUBLIC_KEY);
    let forbidden = LagoClient::new(restricted)
        .unwrap()
        .webhook_public_key()
        .await
        .unwrap_err();
    assert!(
        forbidden.is_permanent() && forbidden.to_string().contains("403"),
        "{forbidden}"
    );

    for status in [500, 503, 429] {
        lago.fail_next("DELETE", "/api/v1/subscriptions/", status, 1)
            .await;
        let outage = client.terminate_subscription("u1").await.unwrap_err();
        assert!(!outage.is_permanent(), "{status}: {outage}");
    }
}

async fn save(store: &MemoryStore, profile: BillingProfile) {
    let expected_version = store
        .profile(&profile.user_id)
        .await
        .unwrap()
        .map_or(0, |p| p.version);
    store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile,
                expected_version,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

fn worker(store: Arc<MemoryStore>, kc: &FakeKeycloak, lago: &LagoEmulator) -> Worker {
    let clock = Arc::new(FixedClock::at(NOW));
    Worker {
        store,
        stripe: None,
        keycloak: Some(KeycloakClient::new(kc.config(), clock.clone()).unwrap()),
        lago: Some(LagoClient::new(lago.config()).unwrap()),
        mailer: None,
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: None,
        },
        catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        clock,
        job_timeout: DEFAULT_JOB_TIMEOUT,
    }
}

#[tokio::test]
async fn a_plan_change_uses_the_same_external_subscription_id_and_cancel_terminates_it() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("user-7", "ada@example.com");
    let stripe = StripeSide::start().await;
    let lago = LagoEmulator::start(LagoOptions {
        stripe_api_base: Some(stripe.url()),
        ..Default::default()
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let worker = worker(store.clone(), &kc, &lago);
    let user = UserId::parse("user-7").unwrap();
    let cus = stripe.create_customer("ada@example.com").await;

    let mut profile =
        BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
    profile.tier = tier("starter");
    profile.status = SubscriptionStatus::Active;
    profile.customer_id = Some(cus.clone());
    profile.subscription_id = Some("sub_7".into());
    profile.current_period_start = Some(1_792_713_600); // 2026-10-23
    save(&store, profile.clone()).await;
    worker
        .sync(&SyncJob::state(user.clone(), "evt_1"))
        .await
        .unwrap();

    profile.tier = tier("professional");
    save(&store, profile.clone()).await;
    worker
        .sync(&SyncJob::state(user.clone(), "evt_2"))
        .await
        .unwrap();

    let subs = lago.subscriptions("user-7").await;
    let summary: Vec<_> = subs
        .iter()
        .map(|s| {
            (
                s["external_id"].as_str().unwrap(),
                s["plan_code"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                s["subscription_at"].as_str().unwrap(),
                s["billing_time"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "user-7",
                "tierflow_starter",
                "terminated",
                "2026-10-23T00:00:00Z",
                "anniversary"
            ),
            (
                "user-7",
                "tierflow_professional",
                "active",
                "2026-10-23T00:00:00Z",
                "anniversary"
            ),
        ]
    );
    // The customer carries the name Keycloak knows and the link to the Stripe customer.
    let customer = lago.customer("user-7").await.unwrap();
    assert_eq!(customer["name"], "Ada Lovelace");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["currency"], "USD");
    assert_eq!(
        customer["billing_configuration"]["provider_customer_id"],
        json!(cus)
    );
    assert_eq!(
        kc.user("user-7").unwrap()["attributes"]["subscription_tier"],
        json!(["professional"])
    );

    profile.clear_subscription(&tierflow::domain::Catalog::built_in());
    save(&store, profile).await;
    worker.sync(&SyncJob::state(user, "evt_3")).await.unwrap();
    let statuses: Vec<_> = lago
        .subscriptions("user-7")
        .await
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["terminated", "terminated"]);
    let attrs = &kc.user("user-7").unwrap()["attributes"];
    assert_eq!(attrs["subscription_tier"], json!(["free"]));
    assert_eq!(attrs["stripe_subscription_id"], serde_json::Value::Null);
    assert_eq!(attrs["department"], json!(["research"]), "kept");
}
