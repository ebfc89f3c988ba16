//! `POST /api/v1/subscriptions/confirm-upgrade?checkout_session_id=`: applies a paid Checkout
//! session's subscription the way the webhook does. Whichever comes first records the change;
//! the other finds the profile already saying it and changes nothing.

use super::{
    api_cause, busy, stripe_failure, Committed, Planned, SubscriptionService, MAX_ATTEMPTS,
};
use crate::auth::Caller;
use crate::http::ApiError;
use crate::service::current_subscription::SubscriptionView;
use crate::stripe::{CheckoutSession, ErrorKind, Subscription};
use crate::subscription_state::{apply_subscription, Observation, Seen};
use tracing::{error, warn};

impl SubscriptionService {
    /// Confirms the caller's paid subscription Checkout session and returns their subscription.
    pub async fn confirm_checkout(
        &self,
        caller: &Caller,
        session_id: &str,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let valid = session_id.starts_with("cs_")
            && session_id.len() <= 255
            && session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(ApiError::bad_request(
                "invalid_checkout_session_id",
                "checkout_session_id must be a Checkout session id (cs_...)",
            ));
        }
        let cause = api_cause("confirm", &caller.user_id, request_id);
        for _ in 0..MAX_ATTEMPTS {
            // Read first, then ask Stripe: anything the webhook commits in between makes the
            // commit below conflict, and the loop decides again from fresher state.
            let snapshot = self.load(&caller.user_id).await?;
            let session = self.session_of(caller, session_id).await?;
            let subscription = self.subscription_of(&session).await?;
            let mut profile = snapshot.profile.clone();
            let seen = Observation {
                source: &cause,
                at: self.stripe_now(),
                previous_status: None,
                kind: Seen::Answered,
            };
            if let Some(customer) = session.customer_id() {
                profile.customer_id = Some(customer.to_owned());
            }
            apply_subscription(
                &mut profile,
                &subscription,
                &seen,
                self.clock.now(),
                &self.catalog,
                self.grace_days,
            )
            .map_err(|reason| {
                error!(%reason, "the checkout's subscription cannot be applied");
                ApiError::unavailable()
            })?;
            let mut planned = Planned::new(profile, "checkout_confirmed");
            if let Some(customer) = session.customer_id() {
                planned.links = vec![(customer.to_owned(), caller.user_id.clone())];
            }
            planned.stripe_refs = vec![session.id.clone(), subscription.id.clone()];
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::Done(p) => return Ok(self.view(&p)),
                Committed::Unchanged(p) => return Ok(self.view(&p)),
                Committed::AlreadyDone => {
                    return Ok(self.view(&self.load(&caller.user_id).await?.profile))
                }
                Committed::Conflict | Committed::NotPending => continue,
            }
        }
        Err(busy())
    }

    /// The session, if it is the caller's, paid, and for a subscription.
    async fn session_of(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<CheckoutSession, ApiError> {
        let not_found = || {
            ApiError::not_found(
                "checkout_session_not_found",
                "no such checkout session for this user",
            )
        };
        let session = match self.stripe.retrieve_checkout_session(session_id).await {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::InvalidRequest && e.status == Some(404) => {
                return Err(not_found())
            }
            Err(e) => return Err(stripe_failure("retrieve checkout session", &e)),
        };
        let user = caller.user_id.as_str();
        let subscription_user = session
            .subscription
            .as_ref()
            .and_then(|s| s.as_object())
            .and_then(|s| s.metadata.get("user_id"));
        let owned = session.client_reference_id.as_deref() == Some(user)
            || (session.client_reference_id.is_none()
                && subscription_user.map(String::as_str) == Some(user));
        if !owned {
            warn!(user_id = %caller.user_id, session = %session.id, "confirm of another user's checkout session refused");
            return Err(not_found());
        }
        if session.mode.as_deref() != Some("subscription") {
            return Err(ApiError::bad_request(
                "not_a_subscription_checkout",
                "this checkout session does not start a subscription",
            ));
        }
        if session.status.as_deref() != Some("complete") || !session.is_paid() {
            return Err(ApiError::conflict(
                "checkout_incomplete",
                "the checkout session is not paid yet",
            ));
        }
        Ok(session)
    }

    async fn subscription_of(&self, session: &CheckoutSession) -> Result<Subscription, ApiError> {
        if let Some(sub) = session.subscription.as_ref().and_then(|s| s.as_object()) {
            return Ok(sub.clone());
        }
        let Some(id) = session.subscription_id() else {
            error!(session = %session.id, "a complete subscription checkout without a subscription");
            return Err(ApiError::unavailable());
        };
        self.stripe
            .retrieve_subscription(id)
            .await
            .map_err(|e| stripe_failure("retrieve subscription", &e))
    }
}
