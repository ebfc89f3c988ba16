//! Moves dead-lettered sync jobs back to the sync queue once the cause is fixed. Each message is
//! sent to the queue before it is deleted from the dead-letter queue, so a crash in between
//! leaves a duplicate (harmless: jobs are level-triggered), never a loss.

use aws_sdk_sqs::Client;

/// How long a received message stays hidden while it is being moved.
const MOVE_VISIBILITY_SECONDS: i32 = 60;

/// A redrive that stopped part-way; `moved` messages are back in the queue.
#[derive(Debug, thiserror::Error)]
#[error("redrive stopped after moving {moved} messages: {detail}")]
pub struct RedriveError {
    /// How many messages were back in the queue before it stopped.
    pub moved: u64,
    /// The SQS error that stopped it, as text.
    pub detail: String,
}

/// Moves up to `limit` messages from `dead_letter_url` to `queue_url`; returns how many moved.
/// Stops when the dead-letter queue answers empty.
pub async fn redrive(
    client: &Client,
    dead_letter_url: &str,
    queue_url: &str,
    limit: u64,
) -> Result<u64, RedriveError> {
    let mut moved = 0u64;
    while moved < limit {
        let want = (limit - moved).min(10) as i32;
        let received = client
            .receive_message()
            .queue_url(dead_letter_url)
            .max_number_of_messages(want)
            .visibility_timeout(MOVE_VISIBILITY_SECONDS)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| RedriveError {
                moved,
                detail: format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ),
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let (Some(body), Some(receipt)) = (message.body(), message.receipt_handle()) else {
                continue;
            };
            client
                .send_message()
                .queue_url(queue_url)
                .message_body(body)
                .send()
                .await
                .map_err(|e| RedriveError {
                    moved,
                    detail: format!(
                        "SendMessage: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ),
                })?;
            client
                .delete_message()
                .queue_url(dead_letter_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| RedriveError {
                    moved,
                    detail: format!(
                        "DeleteMessage (the message was already re-sent): {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ),
                })?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Re-enqueues recorded permanent sync failures (all, or one user's) once their cause is fixed,
/// and clears each record after its job is back on the queue; returns the failures replayed. A
/// job that fails permanently again is recorded again, with the new reason.
pub async fn replay_sync_failures(
    store: &dyn crate::ports::BillingStore,
    queue: &dyn crate::ports::SyncQueue,
    user: Option<&crate::domain::UserId>,
    limit: u32,
) -> Result<Vec<crate::ports::SyncFailure>, RedriveError> {
    let failures = match user {
        Some(user) => store.user_sync_failures(user).await,
        None => store.sync_failures(limit).await,
    }
    .map_err(|e| RedriveError {
        moved: 0,
        detail: e.to_string(),
    })?;
    let mut replayed = Vec::new();
    for failure in failures.into_iter().take(limit as usize) {
        let stopped = |detail: String| RedriveError {
            moved: replayed.len() as u64,
            detail,
        };
        // Enqueued before cleared: a crash in between leaves a duplicate, never a loss.
        queue
            .enqueue(std::slice::from_ref(&failure.job))
            .await
            .map_err(|e| stopped(e.to_string()))?;
        store
            .clear_sync_failure(&failure)
            .await
            .map_err(|e| stopped(format!("clearing the record (the job was re-sent): {e}")))?;
        replayed.push(failure);
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemoryStore};
    use crate::domain::UserId;
    use crate::ports::{BillingStore, SyncFailure, SyncJob};

    fn failure(user: &str, cause: &str) -> SyncFailure {
        SyncFailure {
            job: SyncJob::state(UserId::parse(user).unwrap(), cause),
            reason: "Keycloak answered 404".into(),
            failed_at: 1,
        }
    }

    #[tokio::test]
    async fn replay_enqueues_then_clears_only_the_chosen_failures() {
        let store = MemoryStore::new();
        let queue = MemoryQueue::new();
        for f in [
            failure("u1", "evt_1"),
            failure("u1", "evt_2"),
            failure("u2", "evt_3"),
        ] {
            store.record_sync_failure(&f).await.unwrap();
        }
        let u1 = UserId::parse("u1").unwrap();
        let replayed = replay_sync_failures(&store, &queue, Some(&u1), 10)
            .await
            .unwrap();
        assert_eq!(replayed, [failure("u1", "evt_1"), failure("u1", "evt_2")]);
        assert_eq!(
            queue.jobs(),
            [replayed[0].job.clone(), replayed[1].job.clone()]
        );
        assert_eq!(
            store.sync_failures(10).await.unwrap(),
            [failure("u2", "evt_3")]
        );
    }

    #[tokio::test]
    async fn a_job_the_queue_refuses_keeps_its_record() {
        let store = MemoryStore::new();
        let queue = MemoryQueue::new();
        store
            .record_sync_failure(&failure("u1", "evt_1"))
            .await
            .unwrap();
        queue.set_unavailable(true);
        let err = replay_sync_failures(&store, &queue, None, 10)
            .await
            .unwrap_err();
        assert_eq!(err.moved, 0);
        assert_eq!(store.sync_failures(10).await.unwrap().len(), 1);
    }
}
