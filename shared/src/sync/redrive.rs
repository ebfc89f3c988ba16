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
    pub moved: u64,
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

/// [`redrive`] with an SQS client from the environment (`AWS_ENDPOINT_URL` points it at the
/// local emulator), for the `redrive` command.
pub async fn redrive_with_env_client(
    dead_letter_url: &str,
    queue_url: &str,
    limit: u64,
) -> Result<u64, RedriveError> {
    let aws = crate::adapters::aws::sdk_config().await;
    redrive(&Client::new(&aws), dead_letter_url, queue_url, limit).await
}
