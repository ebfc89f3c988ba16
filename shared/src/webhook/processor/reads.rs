//! The first round of a delivery's reads: its record, the payments it names and its likely
//! user with their profile, in one request where the store can batch them.

use super::{ProcessError, Processor};
use crate::domain::{BillingProfile, UserId};
use crate::ports::{DeliveryKeys, PaymentRecord};
use crate::stripe::Event;
use crate::webhook::decide::Subject;
use tracing::warn;

impl Processor {
    /// Whether a first delivery was processed before: any record makes it a duplicate.
    pub(super) async fn already_recorded(
        &self,
        event: &Event,
        hash: &str,
    ) -> Result<bool, ProcessError> {
        let Some(existing) = self.store.event_record(&event.id).await? else {
            return Ok(false);
        };
        if existing.payload_hash != hash {
            warn!(event_id = %existing.event_id, "a known event id arrived with a different payload; keeping the first");
        }
        Ok(true)
    }

    /// The first round of reads (`None`: the delivery is a duplicate), one [`crate::ports::BillingStore::delivery_reads`]: the event's record
    /// (for a first delivery: any record makes it a duplicate), the payments the event may
    /// name, and its likely user with their profile: the customer's link with its profile copy,
    /// else the user id Tierflow put on the object, whose profile is read alongside.
    pub(super) async fn first_round(
        &self,
        event: &Event,
        hash: &str,
        first_delivery: bool,
        subject: &Subject,
    ) -> Result<Option<FirstRead>, ProcessError> {
        let hinted = subject
            .user_hint
            .as_deref()
            .and_then(|u| UserId::parse(u).ok());
        let reads = self
            .store
            .delivery_reads(&DeliveryKeys {
                event_id: first_delivery.then_some(event.id.as_str()),
                payment_refs: &subject.payment_refs,
                customer_id: subject.customer_id.as_deref(),
                user_id: hinted.as_ref(),
            })
            .await?;
        if let Some(existing) = &reads.event {
            if existing.payload_hash != hash {
                warn!(event_id = %existing.event_id, "a known event id arrived with a different payload; keeping the first");
            }
            return Ok(None);
        }
        let payment = reads.payments.into_iter().flatten().next();
        let likely = match (reads.customer, hinted) {
            (Some(owner), hinted) => {
                let user = owner.user;
                let (profile, from_copy) = match owner.profile {
                    _ if hinted.as_ref() == Some(&user) => (reads.profile, false),
                    Some(copy) => (Some(copy), true),
                    // A link written before links carried a copy.
                    None => (self.store.profile(&user).await?, false),
                };
                Some(Prefetched {
                    user,
                    profile,
                    from_link: true,
                    from_copy,
                })
            }
            (None, Some(user)) => Some(Prefetched {
                user,
                profile: reads.profile,
                from_link: false,
                from_copy: false,
            }),
            (None, None) => None,
        };
        Ok(Some(FirstRead { payment, likely }))
    }

    /// The payment recorded under any of `refs` (the first found), read again after a commit
    /// found it changed, or recorded by another event first.
    pub(super) async fn payment_named(
        &self,
        refs: &[String],
    ) -> Result<Option<PaymentRecord>, ProcessError> {
        let reads = self
            .store
            .delivery_reads(&DeliveryKeys {
                payment_refs: refs,
                ..DeliveryKeys::default()
            })
            .await?;
        Ok(reads.payments.into_iter().flatten().next())
    }
}

/// What the first round found for a delivery that is not a duplicate.
pub(super) struct FirstRead {
    /// The first payment the event names that the history knows.
    pub(super) payment: Option<PaymentRecord>,
    /// The event's likely user, with their profile.
    pub(super) likely: Option<Prefetched>,
}

/// A user read ahead with their profile (see `Processor::first_round`).
pub(super) struct Prefetched {
    pub(super) user: UserId,
    pub(super) profile: Option<BillingProfile>,
    pub(super) from_link: bool,
    /// The profile is the link's copy, which may be older than the profile itself.
    pub(super) from_copy: bool,
}

/// The event's user: the customer's link, else the payment's user, else the user id Tierflow
/// put on the object.
pub(super) fn resolve_user(
    likely: Option<&Prefetched>,
    payment: Option<&PaymentRecord>,
) -> Option<UserId> {
    match (likely, payment) {
        (Some(l), _) if l.from_link => Some(l.user.clone()),
        (_, Some(p)) => Some(p.user_id.clone()),
        (Some(l), None) => Some(l.user.clone()),
        (None, None) => None,
    }
}
