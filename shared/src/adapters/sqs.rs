//! The sync queue on SQS. Jobs go in batches of ten (SQS's limit); a partial failure of a
//! batch fails the call so the caller retries (jobs are level-triggered, so a resend is harmless).

use crate::ports::{EnqueueError, SyncJob, SyncQueue};
use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;

/// SQS-backed [`SyncQueue`].
#[derive(Clone)]
pub struct SqsSyncQueue {
    client: Client,
    queue_url: String,
}

impl SqsSyncQueue {
    /// A queue sending to `queue_url` (from `SYNC_QUEUE_URL`) through `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl SyncQueue for SqsSyncQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), EnqueueError> {
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job).map_err(|e| EnqueueError(e.to_string()))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| EnqueueError(e.to_string()))?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    EnqueueError(format!(
                        "SendMessageBatch: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&e)
                    ))
                })?;
            if let Some(failed) = out.failed().first() {
                return Err(EnqueueError(format!(
                    "SendMessageBatch entry {} failed: {}",
                    failed.id(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(())
    }
}
