//! Replaying events recorded as failed once their cause is fixed (a price added to the
//! catalog, a customer linked by hand): each is fetched again from Stripe's Events API (the
//! record keeps no payload) and run through the same [`Processor`] as a delivery, replacing
//! the failed record only while it is still that failed record.

use super::processor::{payload_hash, Outcome, ProcessError, Processor};
use crate::ports::EventRecord;
use crate::stripe::ErrorKind;

/// Which failed events to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These event ids.
    Ids(Vec<String>),
    /// Every failed event, up to a limit, most recently failed first.
    All {
        /// Most events to replay in this call.
        limit: u32,
    },
}

/// What became of one replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// The core answered (applied, ignored, failed again with a new reason, or duplicate when
    /// the record is no longer failed).
    Processed(Outcome),
    /// Stripe no longer has the event (the Events API keeps 30 days) or refused the id.
    NotInStripe(String),
    /// Worth running again later (Stripe or the store unavailable).
    RetryLater(String),
}

impl ReplayOutcome {
    /// Whether the event is settled: applied, or deliberately ignored, or no longer failed.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            ReplayOutcome::Processed(Outcome::Applied | Outcome::Ignored(_) | Outcome::Duplicate)
        )
    }
}

impl std::fmt::Display for ReplayOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayOutcome::Processed(Outcome::Failed(reason)) => {
                write!(f, "still failed: {reason}")
            }
            ReplayOutcome::Processed(Outcome::Ignored(reason)) => write!(f, "ignored: {reason}"),
            ReplayOutcome::Processed(Outcome::Duplicate) => {
                f.write_str("not failed (any more): left as it is")
            }
            ReplayOutcome::Processed(outcome) => f.write_str(outcome.label()),
            ReplayOutcome::NotInStripe(why) => write!(f, "not replayable: {why}"),
            ReplayOutcome::RetryLater(why) => write!(f, "retry later: {why}"),
        }
    }
}

/// The failed event records, most recently failed first.
pub async fn failed_events(
    processor: &Processor,
    limit: u32,
) -> Result<Vec<EventRecord>, ProcessError> {
    Ok(processor.store.failed_events(limit).await?)
}

/// Replays the selected events one by one, in the order given (for `All`, oldest failure
/// first, so a user's events apply in the order they failed).
pub async fn replay(
    processor: &Processor,
    selection: &Selection,
) -> Result<Vec<(String, ReplayOutcome)>, ProcessError> {
    let ids = match selection {
        Selection::Ids(ids) => ids.clone(),
        Selection::All { limit } => {
            let mut failed = failed_events(processor, *limit).await?;
            failed.sort_by_key(|r| (r.created, r.event_id.clone()));
            failed.into_iter().map(|r| r.event_id).collect()
        }
    };
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = replay_one(processor, &id).await;
        results.push((id, outcome));
    }
    Ok(results)
}

async fn replay_one(processor: &Processor, event_id: &str) -> ReplayOutcome {
    let event = match processor.stripe.retrieve_event(event_id).await {
        Ok(event) => event,
        Err(e) if e.is_transient() => return ReplayOutcome::RetryLater(e.to_string()),
        Err(e) if e.kind == ErrorKind::InvalidRequest => {
            return ReplayOutcome::NotInStripe(e.to_string())
        }
        Err(e) => return ReplayOutcome::RetryLater(e.to_string()),
    };
    let payload = match serde_json::to_vec(&event) {
        Ok(payload) => payload,
        Err(e) => return ReplayOutcome::NotInStripe(format!("unreadable event: {e}")),
    };
    match processor
        .replay_failed(&event, &payload_hash(&payload))
        .await
    {
        Ok(outcome) => ReplayOutcome::Processed(outcome),
        Err(e) => ReplayOutcome::RetryLater(e.to_string()),
    }
}
