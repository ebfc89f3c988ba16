use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use std::sync::Arc;
use tierflow::sync::worker::{handle_batch, Worker};

/// What the handler needs, built once at init (integrations announced there).
pub(crate) struct Deps {
    pub worker: Arc<Worker>,
}

impl Deps {
    pub(crate) async fn from_env() -> Result<Self, Error> {
        Ok(Self {
            worker: Arc::new(tierflow::wiring::Core::load().await.sync_worker()?),
        })
    }
}

/// One batch: every message on its own; the failed ones are returned for SQS to redeliver.
pub(crate) async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    Ok(handle_batch(deps.worker.clone(), event.payload).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use tierflow::adapters::memory::MemoryStore;
    use tierflow::domain::catalog::BUILT_IN_CATALOG;
    use tierflow::domain::{BillingProfile, Catalog, SubscriptionStatus, UserId};
    use tierflow::ports::mailer::Mailer;
    use tierflow::sync::mailer::OutboxEntry;
    use tierflow::time::FixedClock;
    use tierflow_testkit::tier;

    fn sample() -> SqsEvent {
        serde_json::from_str(include_str!("../../../events/sync-worker.json")).unwrap()
    }

    async fn deps(outbox: &std::path::Path) -> (Deps, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        let env: std::collections::HashMap<String, String> = [
            ("EMAIL_FROM", "billing@example.com".to_owned()),
            ("EMAIL_OUTBOX_DIR", outbox.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let worker = Worker::with_integrations(
            store.clone(),
            &env,
            Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            Arc::new(FixedClock::at(1_795_391_165)),
            |_| -> Arc<dyn Mailer> { unreachable!("the outbox is configured") },
        )
        .unwrap();
        (
            Deps {
                worker: Arc::new(worker),
            },
            store,
        )
    }

    #[tokio::test]
    async fn the_sample_batch_emails_the_known_user_and_reports_the_malformed_message() {
        let outbox =
            std::env::temp_dir().join(format!("sync-worker-handler-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&outbox);
        let (deps, store) = deps(&outbox).await;
        let mut profile = BillingProfile::new_free(
            UserId::parse("8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e").unwrap(),
            &tierflow::domain::Catalog::built_in(),
        );
        profile.tier = tier("professional");
        profile.status = SubscriptionStatus::Active;
        profile.email = Some("alice@example.com".into());
        profile.current_period_end = Some(1_797_983_160);
        tierflow_testkit::store_new_profile(&store, profile, None).await;

        let response = handle(&deps, LambdaEvent::new(sample(), Context::default()))
            .await
            .unwrap();
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(
            failed,
            ["3f1d2a9c-0000-4c1e-9b1a-7d7e3a5b0003"],
            "only the malformed one"
        );

        let sent: Vec<OutboxEntry> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message.to, "alice@example.com");
        assert_eq!(sent[0].message.template, "subscription_confirmed");
        std::fs::remove_dir_all(&outbox).unwrap();
    }

    #[tokio::test]
    async fn a_store_outage_fails_every_message_for_redelivery() {
        let outbox =
            std::env::temp_dir().join(format!("sync-worker-outage-{}", std::process::id()));
        let (deps, store) = deps(&outbox).await;
        store.set_unavailable(true);
        let response = handle(&deps, LambdaEvent::new(sample(), Context::default()))
            .await
            .unwrap();
        assert_eq!(response.batch_item_failures.len(), sample().records.len());
        assert!(!outbox.exists(), "nothing sent");
    }
}
