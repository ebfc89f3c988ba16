//! The caller's Stripe customer: read from the profile, or found or created and then linked.
//!
//! The subscriptions module links a customer the same way; both find or create it with
//! [`find_or_create_customer`] (one idempotency scope and parameters), so concurrent first calls
//! from either route end up with one customer.

use super::store_unavailable;
use crate::auth::Caller;
use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, Catalog};
use crate::http::ApiError;
use crate::ports::{BillingStore, Commit, CommitError, ProfileWrite, StripeApi};
use crate::service::customer_of_user::find_or_create_customer;
use crate::service::stripe_failure::stripe_failure;
use lambda_http::http::StatusCode;

/// How many times a profile write is retried when another writer got there first.
const LINK_ATTEMPTS: usize = 3;

/// The Stripe customer id stored in the caller's profile, if they have one.
pub async fn stored_customer(
    store: &dyn BillingStore,
    caller: &Caller,
) -> Result<Option<String>, ApiError> {
    let profile = store
        .profile(&caller.user_id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(profile.and_then(|p| p.customer_id))
}

/// The caller's Stripe customer id: the profile's, else the customer Stripe has for the user
/// (`metadata[user_id]`), else a new one. A customer not yet in the profile is linked to the
/// user and recorded in the profile in one commit.
pub async fn ensure_customer(
    store: &dyn BillingStore,
    stripe: &dyn StripeApi,
    catalog: &Catalog,
    caller: &Caller,
    now: UnixTime,
) -> Result<String, ApiError> {
    let user = &caller.user_id;
    let profile = store
        .profile(user)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if let Some(customer) = profile.as_ref().and_then(|p| p.customer_id.clone()) {
        return Ok(customer);
    }
    let customer = find_or_create_customer(stripe, user.as_str(), caller.email.as_deref())
        .await
        .map_err(|(call, e)| stripe_failure(call, &e))?
        .id;
    link_customer(store, catalog, caller, customer, profile, now).await
}

/// Records `customer` on the caller's profile and links it to them, unless another writer
/// recorded one first (then that one is the caller's customer).
async fn link_customer(
    store: &dyn BillingStore,
    catalog: &Catalog,
    caller: &Caller,
    customer: String,
    mut profile: Option<BillingProfile>,
    now: UnixTime,
) -> Result<String, ApiError> {
    let user = &caller.user_id;
    for _ in 0..LINK_ATTEMPTS {
        let current = profile
            .take()
            .unwrap_or_else(|| BillingProfile::new_free(user.clone(), catalog));
        if let Some(existing) = &current.customer_id {
            return Ok(existing.clone());
        }
        let expected_version = current.version;
        let mut updated = current;
        updated.customer_id = Some(customer.clone());
        if updated.email.is_none() {
            updated.email = caller.email.clone();
        }
        updated.updated_at = now;
        let commit = Commit {
            profile: Some(ProfileWrite {
                profile: updated,
                expected_version,
            }),
            customer_links: vec![(customer.clone(), user.clone())],
            ..Commit::default()
        };
        match store.commit(commit).await {
            Ok(()) => {
                tracing::info!(user_id = %user, customer_id = %customer, "customer linked");
                return Ok(customer);
            }
            Err(CommitError::ProfileConflict) => {
                profile = store
                    .profile(user)
                    .await
                    .map_err(|e| store_unavailable(&e))?;
            }
            Err(CommitError::CustomerLinkedElsewhere) => {
                tracing::error!(
                    user_id = %user,
                    customer_id = %customer,
                    "the user's Stripe customer is linked to another user; needs a person"
                );
                return Err(ApiError::conflict(
                    "billing_account_conflict",
                    "your billing account needs attention from support before it can be used",
                ));
            }
            Err(e) => return Err(store_unavailable(&e)),
        }
    }
    tracing::warn!(user_id = %user, "profile kept changing while linking a customer");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "your billing profile is being updated; retry shortly",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::domain::UserId;

    fn caller(id: &str) -> Caller {
        Caller {
            user_id: UserId::parse(id).unwrap(),
            email: Some("ada@example.com".into()),
        }
    }

    #[tokio::test]
    async fn linking_records_the_customer_and_the_link_together() {
        let store = MemoryStore::new();
        let ada = caller("ada");
        let id = link_customer(
            &store,
            &crate::domain::Catalog::built_in(),
            &ada,
            "cus_1".into(),
            None,
            100,
        )
        .await
        .unwrap();
        assert_eq!(id, "cus_1");
        let profile = store.profile(&ada.user_id).await.unwrap().unwrap();
        assert_eq!(profile.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(profile.email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            store.user_for_customer("cus_1").await.unwrap(),
            Some(ada.user_id.clone())
        );
        assert_eq!(
            stored_customer(&store, &ada).await.unwrap().as_deref(),
            Some("cus_1")
        );
    }

    #[tokio::test]
    async fn a_customer_recorded_meanwhile_wins() {
        let store = MemoryStore::new();
        let ada = caller("ada");
        link_customer(
            &store,
            &crate::domain::Catalog::built_in(),
            &ada,
            "cus_first".into(),
            None,
            100,
        )
        .await
        .unwrap();
        // A stale read (no profile yet) conflicts, re-reads and keeps the recorded customer.
        let id = link_customer(
            &store,
            &crate::domain::Catalog::built_in(),
            &ada,
            "cus_second".into(),
            None,
            101,
        )
        .await
        .unwrap();
        assert_eq!(id, "cus_first");
        assert_eq!(store.user_for_customer("cus_second").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_customer_of_another_user_is_a_conflict_not_a_takeover() {
        let store = MemoryStore::new();
        link_customer(
            &store,
            &crate::domain::Catalog::built_in(),
            &caller("bob"),
            "cus_1".into(),
            None,
            100,
        )
        .await
        .unwrap();
        let ada = caller("ada");
        let err = link_customer(
            &store,
            &crate::domain::Catalog::built_in(),
            &ada,
            "cus_1".into(),
            None,
            101,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert_eq!(store.profile(&ada.user_id).await.unwrap(), None);
    }
}
