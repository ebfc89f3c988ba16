use lambda_http::Request;
use tierflow::http::{header, reply, require_post, ApiError, Receipt, Reply};
use tierflow::sync::lago_webhook::{LagoDelivery, LagoWebhookReceiver};

pub(crate) async fn handle(receiver: &LagoWebhookReceiver, req: Request) -> Reply {
    reply(receive(receiver, &req).await)
}

async fn receive(receiver: &LagoWebhookReceiver, req: &Request) -> Result<Receipt, ApiError> {
    require_post(req, "Lago")?;
    let delivery = LagoDelivery {
        signature: header(req, "x-lago-signature"),
        algorithm: header(req, "x-lago-signature-algorithm"),
        unique_key: header(req, "x-lago-unique-key"),
        body: req.body().as_ref(),
    };
    let received = receiver.receive(delivery).await?;
    Ok(Receipt::of(received.label()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use std::sync::Arc;
    use tierflow::adapters::memory::{MemoryQueue, MemoryStore};
    use tierflow::config::Secret;
    use tierflow::domain::{BillingProfile, UserId};
    use tierflow::ports::SyncTarget;
    use tierflow::sync::lago_webhook::signature::{LagoSignatureVerifier, LagoWebhookConfig};
    use tierflow::time::FixedClock;

    /// The key `events/lago-webhook.json` is signed with (local test value, not a secret).
    const SAMPLE_HMAC_KEY: &str = "lago_hmac_key_local_test_only";
    const USER: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";

    struct Harness {
        receiver: LagoWebhookReceiver,
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
    }

    fn harness(hmac_key: &str) -> Harness {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let clock = Arc::new(FixedClock::at(1_796_119_201));
        let verifier = LagoSignatureVerifier::new(
            LagoWebhookConfig {
                hmac_key: Some(Secret::new(hmac_key)),
                issuer: None,
                public_key: None,
                signature: None,
            },
            None,
            clock.clone(),
        )
        .unwrap();
        Harness {
            receiver: LagoWebhookReceiver {
                verifier,
                store: store.clone(),
                queue: queue.clone(),
                clock,
                catalog: tierflow::domain::Catalog::parse(
                    tierflow::domain::catalog::BUILT_IN_CATALOG,
                )
                .unwrap(),
            },
            store,
            queue,
        }
    }

    fn sample() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../events/lago-webhook.json")).unwrap()
    }

    fn request(event: &serde_json::Value) -> Request {
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn body(resp: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(resp.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn the_sample_is_recorded_once_and_reconciles_the_user() {
        let h = harness(SAMPLE_HMAC_KEY);
        // Still on the plan Lago terminated (someone ended it in Lago): out of line.
        let mut profile = BillingProfile::new_free(
            UserId::parse(USER).unwrap(),
            &tierflow::domain::Catalog::built_in(),
        );
        profile.tier = tierflow_testkit::tier("professional");
        profile.status = tierflow::domain::SubscriptionStatus::Active;
        tierflow_testkit::store_new_profile(&h.store, profile, None).await;
        let resp = handle(&h.receiver, request(&sample())).await.unwrap();
        assert_eq!(resp.status(), 200, "{:?}", body(&resp));
        assert_eq!(body(&resp)["outcome"], "recorded");
        let records = h.store.lago_webhooks();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].unique_key,
            "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
        );
        assert_eq!(records[0].webhook_type, "subscription.terminated");
        assert_eq!(records[0].summary["plan_code"], "tierflow_professional");
        let jobs = h.queue.jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].user_id.as_str(), USER);
        assert_eq!(jobs[0].targets, [SyncTarget::Lago]);

        let again = handle(&h.receiver, request(&sample())).await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(body(&again)["outcome"], "duplicate");
        assert_eq!(h.store.lago_webhooks().len(), 1);
    }

    #[tokio::test]
    async fn a_wrong_key_or_a_changed_body_is_401_and_records_nothing() {
        let h = harness("another-organizations-key");
        let resp = handle(&h.receiver, request(&sample())).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(body(&resp)["error"]["code"], "invalid_signature");

        let h = harness(SAMPLE_HMAC_KEY);
        let mut event = sample();
        let tampered = event["body"]
            .as_str()
            .unwrap()
            .replace("tierflow_professional", "tierflow_enterprise");
        event["body"] = tampered.into();
        let resp = handle(&h.receiver, request(&event)).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(h.store.lago_webhooks().is_empty());
        assert!(h.queue.jobs().is_empty());
    }

    #[tokio::test]
    async fn only_post_is_accepted() {
        let h = harness(SAMPLE_HMAC_KEY);
        let mut event = sample();
        event["requestContext"]["http"]["method"] = "GET".into();
        assert_eq!(
            handle(&h.receiver, request(&event)).await.unwrap().status(),
            405
        );
    }
}
