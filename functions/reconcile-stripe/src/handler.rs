use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use tierflow::telemetry::RetryableFailure;
use tierflow::webhook::reconcile::reconcile;
use tierflow::webhook::Processor;

/// What the handler needs, built once at init.
pub struct Deps {
    pub processor: Processor,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        Ok(Self {
            processor: tierflow::wiring::processor_from_env().await?,
        })
    }
}

/// One run; the scheduled event's content does not matter. A transient failure fails the
/// invocation (the next hourly run starts from the checkpoint it left).
pub async fn handle(deps: &Deps, _event: LambdaEvent<Value>) -> Result<Value, RetryableFailure> {
    let now = deps.processor.clock.now();
    let report = reconcile(&deps.processor, now)
        .await
        .map_err(RetryableFailure::of)?;
    serde_json::to_value(report).map_err(RetryableFailure::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use stripe_emulator::{Config, Emulator};
    use tierflow::adapters::memory::MemoryStore;
    use tierflow::adapters::stripe::{catalog_sync, StripeClient};
    use tierflow::config::{Secret, StripeConfig};
    use tierflow::domain::catalog::BUILT_IN_CATALOG;
    use tierflow::domain::{Catalog, SubscriptionStatus, Tier, UserId};
    use tierflow::ports::BillingStore;
    use tierflow::time::SystemClock;

    /// A user subscribes in the Stripe emulator while every webhook is lost; one run of
    /// reconciliation brings Tierflow to the state the webhooks would have produced.
    #[tokio::test]
    async fn replays_events_that_never_arrived() {
        let emulator = Emulator::start(Config {
            port: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        let config = StripeConfig {
            secret_key: Secret::new("sk_test_reconcile"),
            publishable_key: String::new(),
            api_base: emulator.url().to_owned(),
        };
        let stripe = StripeClient::new(&config).unwrap();
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let steps = catalog_sync::plan(&catalog, &[], &[]);
        catalog_sync::apply(&stripe, &steps, |_| {}).await.unwrap();

        let http = reqwest::Client::new();
        let base = emulator.url().to_owned();
        let key = "sk_test_reconcile";
        let prices: Value = http
            .get(format!(
                "{base}/v1/prices?lookup_keys[]=tierflow_starter_monthly"
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let price = prices["data"][0]["id"].as_str().unwrap().to_owned();
        let user = "user-reconciled";
        let session: Value = http
            .post(format!("{base}/v1/checkout/sessions"))
            .bearer_auth(key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                tierflow::stripe::Form::new()
                    .field("mode", "subscription")
                    .field("customer_email", "r@example.com")
                    .field("client_reference_id", user)
                    .field("line_items[0][price]", price.as_str())
                    .field("line_items[0][quantity]", "1")
                    .field("success_url", "https://app.example/ok")
                    .field("subscription_data[metadata][user_id]", user)
                    .encode(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let completed = http
            .post(format!(
                "{base}/_emulator/checkout/sessions/{}/complete",
                session["id"].as_str().unwrap()
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert!(completed.status().is_success());

        let store = Arc::new(MemoryStore::new());
        let deps = Deps {
            processor: Processor {
                store: store.clone(),
                stripe: Arc::new(stripe),
                catalog,
                grace_days: 3,
                revocation: Default::default(),
                clock: Arc::new(SystemClock),
            },
        };
        let report = handle(&deps, LambdaEvent::new(Value::Null, Default::default()))
            .await
            .unwrap();
        assert!(report["applied"].as_u64().unwrap() >= 3, "{report}");
        assert_eq!(report["failed"], 0, "{report}");
        let profile = store
            .profile(&UserId::parse(user).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(profile.tier, Tier::Starter);
        assert_eq!(profile.status, SubscriptionStatus::Active);
        assert_eq!(
            store
                .payments(&profile.user_id, 10, None)
                .await
                .unwrap()
                .payments
                .len(),
            1
        );

        // A second run changes nothing.
        let again = handle(&deps, LambdaEvent::new(Value::Null, Default::default()))
            .await
            .unwrap();
        assert_eq!(again["applied"], 0, "{again}");
        assert_eq!(again["drift_corrected"], 0, "{again}");
        assert_eq!(
            store
                .profile(&profile.user_id)
                .await
                .unwrap()
                .unwrap()
                .version,
            profile.version
        );
    }
}
