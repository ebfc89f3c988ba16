//! The subscription lifecycle end to end: the functions under `cargo lambda watch`, the AWS
//! emulator, and the Stripe emulator delivering signed webhooks to `stripe-webhook`.
//!
//! Tests share one Stripe emulator, whose clock is global: the one test that moves it holds
//! the clock lock exclusively, every other test holds it shared. Under nextest, where each test
//! is a process, the e2e profile (.config/nextest.toml) names that test to run it alone.

use serde_json::{json, Value};
use std::time::Duration;
use support::Stack;
use tierflow_e2e::support;
use tokio::sync::RwLock;

static CLOCK: RwLock<()> = RwLock::const_new(());

/// The stack plus the Stripe emulator and the non-HTTP functions.
struct Billing {
    stack: Stack,
    stripe_base: String,
    stripe_key: String,
}

impl Billing {
    fn from_env() -> Self {
        Self {
            stack: Stack::from_env(),
            stripe_base: std::env::var("STRIPE_API_BASE")
                .expect("STRIPE_API_BASE: run through infra/test.sh"),
            stripe_key: std::env::var("STRIPE_SECRET_KEY")
                .expect("STRIPE_SECRET_KEY: run through infra/test.sh"),
        }
    }

    async fn user(&self, prefix: &str) -> (String, String) {
        self.stack.user(prefix).await
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.stack.call(method, path, token, body).await
    }

    async fn current(&self, token: &str) -> Value {
        let (status, body) = self
            .api("GET", "/api/v1/subscriptions/current", token, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls `current` until `done` holds (the webhook is asynchronous).
    async fn wait_for(&self, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..120 {
            let body = self.current(token).await;
            if done(&body) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "timed out waiting for {what}: {}",
            self.current(token).await
        );
    }

    /// Waits until the emulator has delivered every event it has queued (the webhook applies
    /// each before it answers), so a later pause holds back only what comes after.
    async fn webhooks_delivered(&self) {
        for _ in 0..240 {
            let deliveries = self
                .stripe(
                    "GET",
                    "/_emulator/webhooks/deliveries",
                    &[("event_id", "none")],
                )
                .await;
            if deliveries["queued"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the emulator's webhook queue never drained");
    }

    async fn stripe(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let url = format!("{}{path}", self.stripe_base);
        let encoded: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if method == "GET" {
            self.stack.http.get(format!("{url}?{}", encoded.join("&")))
        } else {
            self.stack
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded.join("&"))
        };
        let resp = req
            .bearer_auth(&self.stripe_key)
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .send()
            .await
            .expect("stripe emulator");
        resp.json().await.expect("json")
    }

    /// Checkout, paid with a Visa through the emulator's hook; returns the session id.
    async fn checkout_and_pay(&self, token: &str, tier: &str, cycle: &str) -> String {
        let (status, body) = self
            .api(
                "POST",
                "/api/v1/billing/checkout",
                token,
                Some(json!({"tier": tier, "billing_cycle": cycle})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let session = body["session_id"].as_str().expect("session").to_owned();
        let done = self
            .stripe(
                "POST",
                &format!("/_emulator/checkout/sessions/{session}/complete"),
                &[("payment_method", "pm_card_visa")],
            )
            .await;
        assert_eq!(done["status"], "complete", "{done}");
        session
    }

    /// A subscriber on `tier`, confirmed by the API (the webhook may land before or after the
    /// confirmation), with every delivery of the checkout landed before it is returned: once a
    /// test has advanced the emulator's clock, a checkout delivery landing after the caller's
    /// next change would look newer than that change's real-time observation, which real
    /// Stripe's clock never does (seen in e2e: a late checkout event took a just-scheduled
    /// downgrade for withdrawn).
    async fn subscriber(&self, prefix: &str, tier: &str) -> (String, String) {
        let (user, token) = self.user(prefix).await;
        let session = self.checkout_and_pay(&token, tier, "monthly").await;
        let (status, body) = self
            .api(
                "POST",
                &format!("/api/v1/subscriptions/confirm-upgrade?checkout_session_id={session}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tier"], tier);
        self.webhooks_delivered().await;
        (user, token)
    }
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn free_to_starter_through_checkout_then_an_upgrade_charges_the_preview() {
    let _shared = CLOCK.read().await;
    let b = Billing::from_env();
    let (_, token) = b.user("e2e-lifecycle").await;
    assert_eq!(b.current(&token).await["tier"], "free");

    // A double click opens one session.
    let body = Some(json!({"tier": "starter", "billing_cycle": "monthly"}));
    let (s1, first) = b
        .api("POST", "/api/v1/billing/checkout", &token, body.clone())
        .await;
    let (s2, second) = b
        .api("POST", "/api/v1/billing/checkout", &token, body)
        .await;
    assert_eq!((s1, s2), (200, 200), "{first} {second}");
    assert_eq!(first["session_id"], second["session_id"]);
    let session = first["session_id"].as_str().unwrap();
    let paid = b
        .stripe(
            "POST",
            &format!("/_emulator/checkout/sessions/{session}/complete"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(paid["status"], "complete", "{paid}");
    // The webhook alone makes the user a starter.
    b.wait_for(&token, "the webhook to apply the checkout", |c| {
        c["tier"] == "starter"
    })
    .await;
    let (status, again) = b
        .api(
            "POST",
            "/api/v1/billing/checkout",
            &token,
            Some(json!({"tier": "professional"})),
        )
        .await;
    assert_eq!(status, 409, "{again}");

    // Upgrade mid-period: the charge is exactly the preview.
    let (status, preview) = b
        .api(
            "GET",
            "/api/v1/subscriptions/preview-change?target_tier=professional",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["is_upgrade"], true);
    let (status, upgraded) = b
        .api(
            "POST",
            "/api/v1/subscriptions/upgrade",
            &token,
            Some(
                json!({"target_tier": "professional", "proration_date": preview["proration_date"]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["status"], "upgraded");
    assert_eq!(upgraded["amount_charged"], preview["amount_due"]);
    let invoice = b
        .stripe(
            "GET",
            &format!("/v1/invoices/{}", upgraded["invoice_id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(invoice["amount_paid"], preview["amount_due"]);
    assert_eq!(b.current(&token).await["tier"], "professional");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_double_clicked_upgrade_charges_once() {
    let _shared = CLOCK.read().await;
    let b = Billing::from_env();
    let (_, token) = b.subscriber("e2e-double", "starter").await;
    let (_, preview) = b
        .api(
            "GET",
            "/api/v1/subscriptions/preview-change?target_tier=enterprise",
            &token,
            None,
        )
        .await;
    let body = json!({"target_tier": "enterprise", "proration_date": preview["proration_date"]});
    let (first, second) = tokio::join!(
        b.api(
            "POST",
            "/api/v1/subscriptions/upgrade",
            &token,
            Some(body.clone())
        ),
        b.api("POST", "/api/v1/subscriptions/upgrade", &token, Some(body)),
    );
    assert!(
        first.0 == 200 || second.0 == 200,
        "one of them upgrades: {first:?} {second:?}"
    );
    assert_eq!(b.current(&token).await["tier"], "enterprise");
    let charged: Vec<i64> = [&first, &second]
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v["amount_charged"].as_i64().unwrap())
        .collect();
    // Both answers (a replay, if the second got one) name the same single charge.
    assert!(charged.iter().all(|c| *c == charged[0]));
    let invoices: std::collections::BTreeSet<String> = [&first, &second]
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v["invoice_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(invoices.len(), 1, "{first:?} {second:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_withdrawn_downgrade_leaves_the_plan_alone() {
    let _shared = CLOCK.read().await;
    let b = Billing::from_env();
    let (_, token) = b.subscriber("e2e-withdraw", "professional").await;
    let (status, scheduled) = b
        .api(
            "POST",
            "/api/v1/subscriptions/downgrade",
            &token,
            Some(json!({"target_tier": "starter"})),
        )
        .await;
    assert_eq!(status, 200, "{scheduled}");
    let current = b.current(&token).await;
    assert_eq!(current["pending_change"]["target_tier"], "starter");
    let (status, withdrawn) = b
        .api(
            "DELETE",
            "/api/v1/subscriptions/pending-change",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{withdrawn}");
    assert!(withdrawn["pending_change"].is_null());
    assert_eq!(withdrawn["tier"], "professional");
    let (status, _) = b
        .api(
            "DELETE",
            "/api/v1/subscriptions/pending-change",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn cancel_at_period_end_then_resume() {
    let _shared = CLOCK.read().await;
    let b = Billing::from_env();
    let (_, token) = b.subscriber("e2e-cancel", "starter").await;
    let (status, canceled) = b
        .api(
            "POST",
            "/api/v1/subscriptions/cancel",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["cancel_at_period_end"], true);
    assert_eq!(canceled["tier"], "starter");
    // The cancellation's webhook lands before the resume: once another test has advanced the
    // emulator's clock, a late one would look newer than the resume's real-time observation
    // (seen in e2e once the resume got quicker), which real Stripe's clock never does.
    b.webhooks_delivered().await;
    let (status, resumed) = b
        .api("POST", "/api/v1/subscriptions/resume", &token, None)
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["cancel_at_period_end"], false);
    let (status, _) = b
        .api("POST", "/api/v1/subscriptions/resume", &token, None)
        .await;
    assert_eq!(status, 409);
    // The webhook's copies of these changes leave the same state.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let current = b.current(&token).await;
    assert_eq!(current["cancel_at_period_end"], false);
    assert_eq!(current["tier"], "starter");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_downgrade_waits_for_period_end_and_the_renewal_bills_the_lower_price() {
    let _exclusive = CLOCK.write().await;
    let b = Billing::from_env();
    let (user, token) = b.subscriber("e2e-downgrade", "professional").await;
    let (status, scheduled) = b
        .api(
            "POST",
            "/api/v1/subscriptions/downgrade",
            &token,
            Some(json!({"target_tier": "starter"})),
        )
        .await;
    assert_eq!(status, 200, "{scheduled}");
    let current = b.current(&token).await;
    assert_eq!(current["tier"], "professional", "kept until period end");
    let period_end = current["current_period_end"].clone();

    // Stripe moves the subscription at period end while its webhooks are held back, so the
    // scheduled job is what records the change; the webhook then finds nothing to do. What
    // Stripe sent before (the schedule attached, still professional) is applied first: the
    // stack's clock is real time while the emulator's runs ahead, so a delivery of it after the
    // job would look newer than the job's observation, which against real Stripe it never is.
    b.webhooks_delivered().await;
    b.stripe("POST", "/_emulator/webhooks/pause", &[]).await;
    let clock = b.stripe("GET", "/_emulator/clock", &[]).await;
    let now = clock["now"].as_i64().unwrap();
    let seconds = (32 * 86_400).to_string();
    b.stripe("POST", "/_emulator/clock/advance", &[("seconds", &seconds)])
        .await;
    let tick = tierflow::domain::time::rfc3339(now + 32 * 86_400);
    let report = b
        .stack
        .invoke(
            "apply-scheduled-changes",
            json!({"version": "0", "id": "e2e-tick", "detail-type": "Scheduled Event",
                   "source": "aws.events", "time": tick, "detail": {}}),
        )
        .await;
    b.stripe("POST", "/_emulator/webhooks/resume", &[]).await;
    assert!(report["applied"].as_u64().unwrap_or(0) >= 1, "{report}");
    let after = b
        .wait_for(&token, "the downgrade", |c| c["tier"] == "starter")
        .await;
    assert!(after["pending_change"].is_null());
    assert_ne!(after["current_period_end"], period_end, "renewed");

    // The renewal at period end billed starter's price.
    let subscriptions = b
        .stripe("GET", "/v1/subscriptions", &[("limit", "100")])
        .await;
    let sub = subscriptions["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["metadata"]["user_id"] == user.as_str()
                && s["items"]["data"][0]["price"]["lookup_key"] == "tierflow_starter_monthly"
        })
        .cloned()
        .expect("the downgraded subscription");
    let invoice = b
        .stripe(
            "GET",
            &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    assert_eq!(invoice["amount_paid"], 1900);

    // A second run finds nothing left to do.
    let again = b
        .stack
        .invoke(
            "apply-scheduled-changes",
            json!({"version": "0", "id": "e2e-tick-2", "detail-type": "Scheduled Event",
                   "source": "aws.events", "time": tick, "detail": {}}),
        )
        .await;
    assert_eq!(again["applied"], 0, "{again}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.current(&token).await["tier"], "starter");
}
