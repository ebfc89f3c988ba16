//! The first round of a delivery's reads: its record, the payments it names and its likely
//! user with their profile, all concurrently.

use super::{ProcessError, Processor};
use crate::domain::{BillingProfile, UserId};
use crate::ports::PaymentRecord;
use crate::stripe::Event;
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

    /// The first of `refs` the payment history knows, all looked up concurrently.
    pub(super) async fn first_known_payment(
        &self,
        refs: &[String],
    ) -> Result<Option<PaymentRecord>, ProcessError> {
        let mut reads = tokio::task::JoinSet::new();
        for (index, stripe_id) in refs.iter().enumerate() {
            let (store, stripe_id) = (self.store.clone(), stripe_id.clone());
            reads.spawn(async move { (index, store.payment_by_ref(&stripe_id).await) });
        }
        let mut first: Option<(usize, PaymentRecord)> = None;
        while let Some(joined) = reads.join_next().await {
            let (index, read) = joined.map_err(|e| ProcessError(format!("payment read: {e}")))?;
            if let Some(payment) = read? {
                if first.as_ref().is_none_or(|(seen, _)| index < *seen) {
                    first = Some((index, payment));
                }
            }
        }
        Ok(first.map(|(_, payment)| payment))
    }

    /// The user the event's customer is linked to, else the user id Tierflow put on the
    /// object, with that user's profile (read alongside the link when the object names the
    /// user; the payment reads never hold it up). `from_link` says which of the two it is.
    pub(super) async fn likely_user(
        &self,
        subject: &crate::webhook::decide::Subject,
    ) -> Result<Option<Prefetched>, ProcessError> {
        let hinted = subject
            .user_hint
            .as_deref()
            .and_then(|u| UserId::parse(u).ok());
        // The customer's link carries a copy of its user's profile; the hinted user's profile
        // is read alongside it, for a link without a copy and for an object with no link yet.
        let (linked, hinted_profile) = tokio::join!(
            async {
                match &subject.customer_id {
                    Some(customer) => self.store.customer_owner(customer).await,
                    None => Ok(None),
                }
            },
            async {
                match &hinted {
                    Some(user) => self.store.profile(user).await.map(Some),
                    None => Ok(None),
                }
            }
        );
        let (linked, hinted_profile) = (linked?, hinted_profile?);
        match (linked, hinted) {
            (Some(owner), hinted) => {
                let user = owner.user;
                let (profile, from_copy) = match (hinted_profile, owner.profile) {
                    (Some(profile), _) if hinted.as_ref() == Some(&user) => (profile, false),
                    (_, Some(copy)) => (Some(copy), true),
                    _ => (self.store.profile(&user).await?, false),
                };
                Ok(Some(Prefetched {
                    user,
                    profile,
                    from_link: true,
                    from_copy,
                }))
            }
            (None, Some(user)) => Ok(Some(Prefetched {
                user,
                profile: hinted_profile.flatten(),
                from_link: false,
                from_copy: false,
            })),
            (None, None) => Ok(None),
        }
    }
}

/// A user read ahead with their profile (see `Processor::likely_user`).
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
