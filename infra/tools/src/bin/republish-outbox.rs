//! `republish-outbox EVENT_ID...`: publishes the outbox of recorded events again — sync jobs to
//! the sync queue, domain events to the bus — for records `outbox-relay` gave up on (its
//! failure queue and its `outbox_relay_failed` logs name them), once the cause is fixed.
//! Consumers already tolerate duplicates: sync jobs are level-triggered, emails are deduplicated
//! per cause, domain events carry a stable id.

use std::process::ExitCode;
use tierflow::outbox::{republish, RelayError, Republished};
use tierflow::wiring::Core;

const USAGE: &str = "usage: republish-outbox EVENT_ID...\n\
    Publishes the outbox of each recorded event (a Stripe event id or an API request id) again.\n\
    env: TABLE_NAME, SYNC_QUEUE_URL, EVENT_BUS_NAME, AWS credentials and region, AWS_ENDPOINT_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let ids: Vec<String> = std::env::args().skip(1).collect();
    if ids.is_empty() || ids.iter().any(|id| id.starts_with('-')) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match republish_all(&ids).await {
        Ok(done) => {
            let mut unknown = false;
            for (id, outcome) in done {
                match outcome {
                    Republished::Published { jobs, events } => {
                        println!("{id}: published {jobs} sync job(s) and {events} domain event(s)")
                    }
                    Republished::NothingToPublish => println!("{id}: nothing to publish"),
                    Republished::Unknown => {
                        unknown = true;
                        println!("{id}: no record of this event")
                    }
                }
            }
            if unknown {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("republish-outbox: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`republish`] of each id with the table, queue and bus of the environment.
async fn republish_all(event_ids: &[String]) -> Result<Vec<(String, Republished)>, RelayError> {
    let core = Core::load().await;
    let publisher = core.publisher().map_err(|e| RelayError(e.to_string()))?;
    let store = core.store().map_err(|e| RelayError(e.to_string()))?;
    let mut done = Vec::with_capacity(event_ids.len());
    for id in event_ids {
        let outcome =
            republish(&store, publisher.queue.as_ref(), publisher.bus.as_ref(), id).await?;
        done.push((id.clone(), outcome));
    }
    Ok(done)
}
