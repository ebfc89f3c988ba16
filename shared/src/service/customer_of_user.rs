//! A user's Stripe customer when Tierflow has not linked one yet: the customer Stripe has
//! tagged with the user id, else a new one, in one round trip.

use crate::ports::StripeApi;
use crate::stripe::{IdempotencyScope, NewCustomer, StripeError};
use tracing::warn;

/// The customer to link, and whether it is the one this call's creation answered (made now,
/// or replayed from an earlier call whose link was never written): such a customer has no
/// subscription, because sessions are only ever made for a linked customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCustomer {
    /// The Stripe customer id (`cus_...`).
    pub id: String,
    /// Whether it is the customer this call's creation answered, so it has no subscription yet.
    pub created: bool,
}

/// The one idempotency scope of a user's customer creation: every route that creates one
/// (checkout, one-time payments) sends the same key and parameters, so concurrent first
/// calls get one customer.
pub fn customer_scope(user_id: &str) -> IdempotencyScope {
    IdempotencyScope::new(["customer", user_id])
}

/// Searches for the user's customer and creates one concurrently. The search finds a customer
/// only when the link was lost (the profile names none, Stripe has one): that customer is the
/// user's, and the one just created stays empty (logged). Otherwise the created one is used; a
/// repeat within Stripe's idempotency window answers the same customer, where the search,
/// which lags behind writes, would not have found it. `Err` names the call that failed.
pub async fn find_or_create_customer(
    stripe: &dyn StripeApi,
    user_id: &str,
    email: Option<&str>,
) -> Result<UserCustomer, (&'static str, StripeError)> {
    let params = NewCustomer::for_user(user_id, email);
    let scope = customer_scope(user_id);
    let (found, created) = tokio::join!(
        stripe.find_customer_by_user_id(user_id),
        stripe.create_customer(&params, &scope)
    );
    match (found.map_err(|e| ("search customers", e))?, created) {
        // The search already sees the customer the creation answered.
        (Some(existing), Ok(new)) if new.id == existing.id => Ok(UserCustomer {
            id: new.id,
            created: true,
        }),
        (Some(existing), Ok(extra)) => {
            warn!(customer = %existing.id, extra = %extra.id, "the user's customer was found in Stripe but not linked; the customer created alongside stays empty");
            Ok(UserCustomer {
                id: existing.id,
                created: false,
            })
        }
        (Some(existing), _) => Ok(UserCustomer {
            id: existing.id,
            created: false,
        }),
        (None, Ok(new)) => Ok(UserCustomer {
            id: new.id,
            created: true,
        }),
        (None, Err(e)) => Err(("create customer", e)),
    }
}
