//! Driving the Stripe emulator the way a customer and Stripe would.

use serde_json::Value;
use std::time::Duration;
use tierflow::stripe::Form;

/// The Stripe emulator started by `infra/test.sh`.
pub struct StripeEmulator {
    /// `STRIPE_API_BASE`: the emulator's address (behind the run's recording proxy).
    pub base: String,
    key: String,
    http: reqwest::Client,
}

/// A user subscribed through a completed Checkout session.
pub struct Subscribed {
    /// The Tierflow user id in the session's `client_reference_id` and metadata.
    pub user: String,
    /// The `cus_` Checkout created.
    pub customer: String,
    /// The `sub_` Checkout started.
    pub subscription: String,
}

impl StripeEmulator {
    /// Reads `STRIPE_API_BASE` and `STRIPE_SECRET_KEY` as `infra/test.sh` exports them.
    pub fn from_env() -> Self {
        Self {
            base: std::env::var("STRIPE_API_BASE")
                .expect("STRIPE_API_BASE: run through infra/test.sh"),
            key: std::env::var("STRIPE_SECRET_KEY")
                .expect("STRIPE_SECRET_KEY: run through infra/test.sh"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        }
    }

    /// GETs a Stripe path (query included) and returns the JSON body; a non-2xx fails the test.
    pub async fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .send()
            .await
            .expect("emulator request");
        let status = resp.status();
        let body: Value = resp.json().await.expect("emulator JSON");
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// POSTs `form` to a Stripe or `/_emulator/` path; a non-2xx fails the test.
    pub async fn post(&self, path: &str, form: Form) -> Value {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.encode())
            .send()
            .await
            .expect("emulator request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// The id of the price that holds `lookup_key` (catalog-sync made them at the start).
    pub async fn price_id(&self, lookup_key: &str) -> String {
        let prices = self
            .get(&format!("/v1/prices?lookup_keys[]={lookup_key}"))
            .await;
        prices["data"][0]["id"]
            .as_str()
            .expect("catalog-sync created the price")
            .to_owned()
    }

    /// Creates and completes a subscription Checkout session as Tierflow's checkout would.
    pub async fn subscribe(&self, user: &str, lookup_key: &str) -> Subscribed {
        let price = self.price_id(lookup_key).await;
        let session = self
            .post(
                "/v1/checkout/sessions",
                Form::new()
                    .field("mode", "subscription")
                    .field("customer_email", format!("{user}@example.com"))
                    .field("client_reference_id", user)
                    .field("line_items[0][price]", price.as_str())
                    .field("line_items[0][quantity]", "1")
                    .field("success_url", "https://app.example/billing/done")
                    .field("subscription_data[metadata][user_id]", user),
            )
            .await;
        let id = session["id"].as_str().expect("session id");
        self.post(
            &format!("/_emulator/checkout/sessions/{id}/complete"),
            Form::new().field("payment_method", "pm_card_visa"),
        )
        .await;
        let session = self.get(&format!("/v1/checkout/sessions/{id}")).await;
        Subscribed {
            user: user.to_owned(),
            customer: session["customer"].as_str().expect("customer").to_owned(),
            subscription: session["subscription"]
                .as_str()
                .expect("subscription")
                .to_owned(),
        }
    }

    /// Makes every later charge of the customer fail (Stripe's `pm_card_chargeCustomerFail`).
    pub async fn use_failing_card(&self, who: &Subscribed) {
        let pm = self
            .post(
                "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
                Form::new().field("customer", who.customer.as_str()),
            )
            .await;
        let pm = pm["id"].as_str().expect("payment method id");
        self.post(
            &format!("/v1/customers/{}", who.customer),
            Form::new().field("invoice_settings[default_payment_method]", pm),
        )
        .await;
        self.post(
            &format!("/v1/subscriptions/{}", who.subscription),
            Form::new().field("default_payment_method", pm),
        )
        .await;
    }

    /// Moves the emulator's clock forward; renewals and schedule phases due in that time happen.
    pub async fn advance_clock(&self, seconds: i64) {
        self.post(
            "/_emulator/clock/advance",
            Form::new().field("seconds", seconds),
        )
        .await;
    }

    /// The emulator's clock (Unix seconds).
    pub async fn now(&self) -> i64 {
        self.get("/_emulator/clock").await["now"]
            .as_i64()
            .expect("the emulator's clock")
    }

    /// Waits until the emulator has delivered every event it has queued (the webhook applies
    /// each before it answers), a minute at most.
    pub async fn webhooks_delivered(&self) {
        for _ in 0..240 {
            let deliveries = self
                .get("/_emulator/webhooks/deliveries?event_id=none")
                .await;
            if deliveries["queued"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the emulator's webhook queue never drained");
    }

    /// Sets the share of webhook deliveries the emulator drops on purpose.
    pub async fn drop_deliveries(&self, rate: f64) {
        self.post(
            "/_emulator/webhooks/config",
            Form::new()
                .field("drop_rate", rate.to_string())
                .field("seed", "42"),
        )
        .await;
    }
}
