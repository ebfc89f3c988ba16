//! Money and access over a subscription's whole life, end to end: a price change in the
//! catalog while subscribers stay on the old price, disputes and refunds that stop billing,
//! failed events replayed once their cause is fixed, the Customer Portal held to the catalog,
//! and deleted accounts.
//!
//! Every test here moves the emulator's global clock or the catalog, so they take turns (under
//! nextest, where each test is a process, the e2e profile's test group does it). The file's
//! name makes it run after the other end-to-end files (infra/test.sh runs them in name order):
//! it moves the emulator's clock two months ahead of the functions' clock, which the other
//! files' tests of scheduled changes do not expect.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use stripe_flows::{StripeEmulator, Subscribed};
use support::{unique_user, Stack};
use tierflow::ports::BillingStore;
use tierflow::stripe::Form;
use tierflow_e2e::{stripe_flows, support};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A binary of the workspace, built by `infra/test.sh` before the tests run.
fn workspace_binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("debug").join(name)
}

/// Runs an operator tool against the test's Stripe emulator with `env` added; returns stdout.
fn run_tool(name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(workspace_binary(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The built-in catalog with `change` applied, written to a file for `CATALOG_FILE`.
fn catalog_file(label: &str, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut catalog: Value =
        serde_json::from_str(tierflow::domain::catalog::BUILT_IN_CATALOG).expect("catalog");
    change(&mut catalog);
    let path = std::env::temp_dir().join(format!("{}.json", unique_user(label)));
    std::fs::write(&path, catalog.to_string()).expect("write catalog");
    path
}

/// Brings the emulator back to the built-in catalog when dropped, so a failed test leaves no
/// raised price to the test files that run after it.
struct RestoreCatalog;

impl Drop for RestoreCatalog {
    fn drop(&mut self) {
        run_tool("catalog-sync", &[], &[]);
    }
}

/// Puts a card that pays on the customer and the subscription.
async fn use_paying_card(stripe: &StripeEmulator, who: &Subscribed) {
    let pm = stripe
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            Form::new().field("customer", who.customer.as_str()),
        )
        .await;
    let pm = pm["id"].as_str().expect("payment method id");
    stripe
        .post(
            &format!("/v1/customers/{}", who.customer),
            Form::new().field("invoice_settings[default_payment_method]", pm),
        )
        .await;
    stripe
        .post(
            &format!("/v1/subscriptions/{}", who.subscription),
            Form::new().field("default_payment_method", pm),
        )
        .await;
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_subscriber_on_a_replaced_price_renews_lapses_recovers_and_upgrades() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-grandfathered").await;
    let sub = stripe.subscribe(&user, "tierflow_starter_monthly").await;
    let before = stack
        .current_until(&token, "starter", |b| b["tier"] == "starter")
        .await;
    assert_eq!(
        before["price"],
        json!({"amount": 1900, "currency": "usd", "interval": "month", "legacy": false})
    );

    // Starter's monthly price goes up: the lookup key moves to a new price, the old one retires.
    let raised = catalog_file("catalog-raised", |c| {
        c["tiers"][2]["prices"][0]["unit_amount"] = 2400.into();
    });
    let raised = raised.to_str().expect("path");
    let _restore = RestoreCatalog;
    let out = run_tool("catalog-sync", &[], &[("CATALOG_FILE", raised)]);
    assert!(out.contains("deactivate old"), "{out}");

    // The renewal on the old price lands, and the view says it is grandfathered.
    stripe.advance_clock(32 * 86_400).await;
    let period_end = before["current_period_end"].clone();
    let renewed = stack
        .current_until(&token, "the renewal", |b| {
            b["current_period_end"] != period_end
        })
        .await;
    assert_eq!(renewed["tier"], "starter", "{renewed}");
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert_eq!(
        renewed["price"],
        json!({"amount": 1900, "currency": "usd", "interval": "month", "legacy": true})
    );

    // It lapses: past due, in grace.
    stripe.use_failing_card(&sub).await;
    stripe.advance_clock(32 * 86_400).await;
    let lapsed = stack
        .current_until(&token, "past due", |b| b["status"] == "past_due")
        .await;
    assert_eq!(lapsed["access"], "grace", "{lapsed}");

    // It recovers: the open invoice is paid with a working card.
    use_paying_card(&stripe, &sub).await;
    let latest = stripe
        .get(&format!("/v1/subscriptions/{}", sub.subscription))
        .await;
    let invoice = latest["latest_invoice"].as_str().expect("latest invoice");
    stripe
        .post(&format!("/v1/invoices/{invoice}/pay"), Form::new())
        .await;
    let recovered = stack
        .current_until(&token, "recovery", |b| b["status"] == "active")
        .await;
    assert_eq!(recovered["access"], "active", "{recovered}");
    assert_eq!(recovered["price"]["legacy"], true, "{recovered}");

    // An upgrade from the legacy price moves to the catalog's current professional price.
    let (status, upgraded) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/upgrade",
            &token,
            Some(json!({"target_tier": "professional"})),
        )
        .await;
    assert_eq!(status, 200, "{upgraded}");
    let after = stack
        .current_until(&token, "professional", |b| b["tier"] == "professional")
        .await;
    assert_eq!(
        after["price"],
        json!({"amount": 4900, "currency": "usd", "interval": "month", "legacy": false})
    );
}

/// Waits until the sync queue holds nothing, visible or in flight, three polls in a row: the
/// stack's sync relay has run every job enqueued so far (this file's tests take turns).
async fn sync_queue_drained() {
    let endpoint = std::env::var("TIERFLOW_TEST_AWS_ENDPOINT").expect("run through infra/test.sh");
    let queue = std::env::var("SYNC_QUEUE_URL").expect("run through infra/test.sh");
    let sqs = aws_sdk_sqs::Client::new(
        &tierflow::adapters::aws::sdk_config_for_endpoint(&endpoint).await,
    );
    let mut empty_polls = 0;
    for _ in 0..600 {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .send()
            .await
            .expect("queue attributes");
        let waiting: u64 = attributes
            .attributes
            .unwrap_or_default()
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum();
        empty_polls = if waiting == 0 { empty_polls + 1 } else { 0 };
        if empty_polls == 3 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the sync queue never drained: is infra/sync_relay.py running?");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_deleted_accounts_sync_jobs_succeed_without_the_identity_provider() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-deleted").await;
    let sub = stripe.subscribe(&user, "tierflow_starter_monthly").await;
    stack
        .current_until(&token, "starter", |b| b["tier"] == "starter")
        .await;

    // The identity provider deletes the account, then announces it. A job that runs in
    // between finds no user and is recorded as failed, until the deletion supersedes it.
    let (status, body) = stack
        .keycloak
        .admin(
            reqwest::Method::DELETE,
            &format!("{}/users/{user}", support::REALM),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let report = stack.invoke(
        "user-deleted",
        json!({"version": "0", "id": unique_user("e2e-user-deleted"), "detail-type": "user.deleted",
               "source": "identity.keycloak", "time": "2026-12-02T00:00:00Z",
               "detail": {"user_id": user}}),
    )
    .await;
    assert_eq!(report["canceled"], json!([sub.subscription]), "{report}");
    let stripe_sub = stripe
        .get(&format!("/v1/subscriptions/{}", sub.subscription))
        .await;
    assert_eq!(stripe_sub["status"], "canceled");

    // The stack's own sync worker runs the user's jobs against the real Keycloak, which no
    // longer has the user: each succeeds without it, so nothing is recorded as failed and
    // nothing is retried into the DLQ.
    stack
        .current_until(&token, "free", |b| b["tier"] == "free")
        .await;
    sync_queue_drained().await;
    let failures: Vec<_> = support::table_store()
        .await
        .sync_failures(1000)
        .await
        .expect("sync failures")
        .into_iter()
        .filter(|f| f.job.user_id.as_str() == user)
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(!support::dead_lettered(&user).await);
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn an_event_failed_on_a_foreign_price_applies_when_replayed_after_the_catalog_learns_it() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-replay").await;
    // A price made outside the catalog: no catalog lookup key, no tier marks, no tier product.
    let product = stripe
        .post("/v1/products", Form::new().field("name", "Sales deal"))
        .await;
    let lookup_key = unique_user("sales_deal");
    let price = stripe
        .post(
            "/v1/prices",
            Form::new()
                .field("product", product["id"].as_str().expect("product id"))
                .field("unit_amount", "2500")
                .field("currency", "usd")
                .field("recurring[interval]", "month")
                .field("lookup_key", lookup_key.as_str()),
        )
        .await;
    let price_id = price["id"].as_str().expect("price id").to_owned();
    stripe.subscribe(&user, &lookup_key).await;

    // Its events are recorded failed, and listed with the reason.
    let mut failed = Vec::new();
    for _ in 0..100 {
        let listing = run_tool("replay-events", &["list", "--limit", "1000"], &[]);
        failed = listing
            .lines()
            .filter(|line| line.contains(&price_id))
            .map(|line| line.split_whitespace().next().unwrap_or("").to_owned())
            .collect();
        if failed.len() >= 2 {
            assert!(listing.contains("is not in the catalog"), "{listing}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        failed.len() >= 2,
        "the checkout and subscription events failed: {failed:?}"
    );
    let (status, body) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!((status, &body["tier"]), (200, &json!("free")), "{body}");

    // The operator adds the price to the catalog as a legacy professional price and replays.
    let fixed = catalog_file("catalog-legacy", |c| {
        c["legacy_prices"] =
            json!([{"price_id": price_id, "tier": "professional", "cycle": "monthly"}]);
    });
    let mut args = vec!["replay"];
    args.extend(failed.iter().map(String::as_str));
    let out = run_tool(
        "replay-events",
        &args,
        &[("CATALOG_FILE", fixed.to_str().expect("path"))],
    );
    assert!(out.contains(": applied"), "{out}");
    let body = stack
        .current_until(&token, "the replayed subscription", |b| {
            b["tier"] == "professional"
        })
        .await;
    assert_eq!(
        body["price"],
        json!({"amount": 2500, "currency": "usd", "interval": "month", "legacy": true})
    );
    // Replayed once: the records are no longer failed.
    let listing = run_tool("replay-events", &["list", "--limit", "1000"], &[]);
    assert!(!listing.contains(&price_id), "{listing}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn subscription_changes_share_an_hourly_limit_answered_429_with_retry_after() {
    let stack = Stack::from_env();
    let (_user, token) = stack.user("e2e-change-limit").await;
    // Ten changes an hour by default, whichever route: each of these is counted, even refused.
    let routes = [
        ("DELETE", "/api/v1/subscriptions/pending-change"),
        ("POST", "/api/v1/subscriptions/resume"),
        ("POST", "/api/v1/subscriptions/cancel"),
        ("POST", "/api/v1/subscriptions/downgrade"),
        ("POST", "/api/v1/subscriptions/upgrade"),
    ];
    let body = |path: &str| match path {
        "/api/v1/subscriptions/downgrade" => json!({"target_tier": "starter"}),
        "/api/v1/subscriptions/upgrade" => json!({"target_tier": "enterprise"}),
        _ => json!({}),
    };
    for i in 0..10 {
        let (method, path) = routes[i % routes.len()];
        let (status, answer) = stack.call(method, path, &token, Some(body(path))).await;
        assert!(
            status != 429 && status < 500,
            "{method} {path}: {status} {answer}"
        );
    }
    for (method, path) in routes {
        let resp = stack
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                stack.url(path),
            )
            .bearer_auth(&token)
            .json(&body(path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 429, "{method} {path}");
        let retry: i64 = resp.headers()["retry-after"]
            .to_str()
            .expect("header")
            .parse()
            .expect("seconds");
        assert!((1..=3600).contains(&retry), "{retry}");
        let answer: Value = resp.json().await.expect("json");
        assert_eq!(answer["error"]["code"], "rate_limited", "{answer}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_portal_switch_to_a_cheaper_price_waits_for_the_period_end() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-portal").await;
    stripe
        .subscribe(&user, "tierflow_professional_monthly")
        .await;
    let before = stack
        .current_until(&token, "professional", |b| b["tier"] == "professional")
        .await;

    // The portal opens catalog-sync's configuration, which offers only the catalog's prices.
    let (status, body) = stack
        .call("POST", "/api/v1/billing/portal", &token, Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["portal_url"].as_str().expect("portal_url");
    let session = url.rsplit('/').next().expect("session token");
    let hook = format!("/_emulator/billing_portal/sessions/{session}/subscription_update");
    let foreign = stripe
        .post(
            "/v1/prices",
            Form::new()
                .field("product", "tierflow_starter")
                .field("currency", "usd")
                .field("unit_amount", 500)
                .field("recurring[interval]", "month"),
        )
        .await;
    let refused = stack
        .http
        .post(format!("{}{hook}", stripe.base))
        .bearer_auth(std::env::var("STRIPE_SECRET_KEY").expect("STRIPE_SECRET_KEY"))
        .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            Form::new()
                .field("price", foreign["id"].as_str().expect("price id"))
                .encode(),
        )
        .send()
        .await
        .expect("hook request");
    assert_eq!(
        refused.status().as_u16(),
        400,
        "a price outside the catalog"
    );

    // Professional to starter lowers the price: scheduled for the period end, not applied now.
    let starter = stripe.price_id("tierflow_starter_monthly").await;
    let switched = stripe
        .post(&hook, Form::new().field("price", starter.as_str()))
        .await;
    assert!(switched["schedule"].is_string(), "{switched}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, now) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["tier"], "professional", "{now}");
    assert_eq!(now["access"], "active", "{now}");

    // At the period end the schedule moves it to starter.
    stripe.advance_clock(32 * 86_400).await;
    let period_end = before["current_period_end"].clone();
    let after = stack
        .current_until(&token, "the switch at the period end", |b| {
            b["tier"] == "starter" && b["current_period_end"] != period_end
        })
        .await;
    assert_eq!(after["price"]["amount"], 1900, "{after}");
}

/// Polls a Stripe object until `done` holds: the stack's sync worker makes revocation changes
/// after the webhook commits them.
async fn stripe_until(
    stripe: &StripeEmulator,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = stripe.get(path).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} never happened in Stripe; last {last}");
}

/// The id of the only charge of the customer (the first invoice's).
async fn first_charge(stripe: &StripeEmulator, who: &Subscribed) -> String {
    let charges = stripe
        .get(&format!("/v1/charges?customer={}", who.customer))
        .await;
    charges["data"][0]["id"]
        .as_str()
        .expect("a charge")
        .to_owned()
}

async fn invoice_count(stripe: &StripeEmulator, who: &Subscribed) -> usize {
    let invoices = stripe
        .get(&format!(
            "/v1/invoices?subscription={}&limit=100",
            who.subscription
        ))
        .await;
    invoices["data"].as_array().map_or(0, Vec::len)
}

/// The stack runs with `ON_DISPUTE=cancel_at_period_end` and `ON_FULL_REFUND=cancel_now`
/// (infra/test.sh); the other choices are proven against the emulator in
/// infra/testkit/tests/revocation_in_stripe.rs.
#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn revocations_stop_billing_and_a_won_dispute_gives_the_tier_back() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (open_user, open_token) = stack.user("e2e-dispute-open").await;
    let open = stripe
        .subscribe(&open_user, "tierflow_starter_monthly")
        .await;
    let (won_user, won_token) = stack.user("e2e-dispute-won").await;
    let won = stripe
        .subscribe(&won_user, "tierflow_professional_monthly")
        .await;
    let (refund_user, refund_token) = stack.user("e2e-refund-cancel").await;
    let refunded = stripe
        .subscribe(&refund_user, "tierflow_starter_monthly")
        .await;
    stack
        .current_until(&open_token, "starter", |b| b["tier"] == "starter")
        .await;
    let before = stack
        .current_until(&won_token, "professional", |b| b["tier"] == "professional")
        .await;
    stack
        .current_until(&refund_token, "starter", |b| b["tier"] == "starter")
        .await;

    // Two disputes and a full refund: access goes at once, and Stripe stops billing.
    let mut disputes = Vec::new();
    for who in [&open, &won] {
        let charge = first_charge(&stripe, who).await;
        let dispute = stripe
            .post(
                &format!("/_emulator/charges/{charge}/dispute"),
                Form::new().field("reason", "fraudulent"),
            )
            .await;
        disputes.push(dispute["id"].as_str().expect("dispute").to_owned());
    }
    let charge = first_charge(&stripe, &refunded).await;
    stripe
        .post("/v1/refunds", Form::new().field("charge", charge.as_str()))
        .await;
    for token in [&open_token, &won_token, &refund_token] {
        let body = stack
            .current_until(token, "revocation", |b| b["access"] == "revoked")
            .await;
        assert_eq!(body["effective_tier"], "free", "{body}");
    }
    for who in [&open, &won] {
        stripe_until(
            &stripe,
            &format!("/v1/subscriptions/{}", who.subscription),
            "the cancellation at period end",
            |s| s["cancel_at_period_end"] == true,
        )
        .await;
    }
    stripe_until(
        &stripe,
        &format!("/v1/subscriptions/{}", refunded.subscription),
        "the cancellation",
        |s| s["status"] == "canceled",
    )
    .await;

    // The merchant wins one dispute: the tier is back and the subscription renews again.
    let closed = stripe
        .post(
            &format!("/v1/disputes/{}", disputes[1]),
            Form::new().field("evidence[uncategorized_text]", "winning_evidence"),
        )
        .await;
    assert_eq!(closed["status"], "won", "{closed}");
    let restored = stack
        .current_until(&won_token, "the restored tier", |b| {
            b["tier"] == "professional" && b["access"] == "active"
        })
        .await;
    assert_eq!(restored["effective_tier"], "professional");
    stripe_until(
        &stripe,
        &format!("/v1/subscriptions/{}", won.subscription),
        "the resumption",
        |s| s["cancel_at_period_end"] == false,
    )
    .await;
    let (status, history) = stack.get("/api/v1/billing/history", Some(&won_token)).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(
        history["transactions"][0]["status"], "dispute_won",
        "{history}"
    );

    // The clock passes the period end: only the won subscription bills again.
    let counts = [
        invoice_count(&stripe, &open).await,
        invoice_count(&stripe, &won).await,
        invoice_count(&stripe, &refunded).await,
    ];
    stripe.advance_clock(32 * 86_400).await;
    let ended = stripe
        .get(&format!("/v1/subscriptions/{}", open.subscription))
        .await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(
        invoice_count(&stripe, &open).await,
        counts[0],
        "no invoice after a dispute"
    );
    assert_eq!(
        invoice_count(&stripe, &refunded).await,
        counts[2],
        "no invoice after a refund"
    );
    assert_eq!(
        invoice_count(&stripe, &won).await,
        counts[1] + 1,
        "the won one renews"
    );
    let period_end = before["current_period_end"].clone();
    let renewed = stack
        .current_until(&won_token, "the renewal", |b| {
            b["current_period_end"] != period_end
        })
        .await;
    assert_eq!(renewed["tier"], "professional", "{renewed}");
    stack
        .current_until(&open_token, "the end", |b| b["status"] != "active")
        .await;
}
