//! `POST /api/v1/billing/portal`: a Stripe Customer Portal session for the caller's customer.

use super::customer::stored_customer;
use super::{no_billing_account, PortalConfig};
use crate::adapters::stripe::catalog_sync::find_portal_configuration;
use crate::auth::Caller;
use crate::http::ApiError;
use crate::ports::{BillingStore, StripeApi};
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::NewPortalSession;
use lambda_http::http::StatusCode;
use serde::Serialize;

/// Where to send the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalView {
    /// The session's short-lived Stripe `url`: redirect to it at once, do not store it.
    pub portal_url: String,
}

/// A fresh portal session under Tierflow's portal configuration (catalog-sync's: plan switches
/// within the catalog, downgrades at period end); 404 when the caller has no Stripe customer
/// (never subscribed nor paid), or when Stripe no longer has the one on record; 503 when
/// catalog-sync has not made the configuration yet (the account's default one could bypass the
/// catalog's rules).
pub async fn open_portal(
    store: &dyn BillingStore,
    stripe: &dyn StripeApi,
    config: &PortalConfig,
    caller: &Caller,
) -> Result<PortalView, ApiError> {
    let customer = stored_customer(store, caller)
        .await?
        .ok_or_else(no_billing_account)?;
    let configs = stripe
        .list_portal_configurations()
        .await
        .map_err(|e| stripe_failure("portal_configuration_list", &e))?;
    let Some(configuration) = find_portal_configuration(&configs) else {
        tracing::error!("no Tierflow portal configuration in Stripe: run catalog-sync");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "portal_not_configured",
            "The billing portal is not set up yet.",
        ));
    };
    let session = stripe
        .create_portal_session(&NewPortalSession {
            customer: customer.clone(),
            return_url: config.return_url.clone(),
            configuration: Some(configuration.id.clone()),
        })
        .await
        .map_err(|e| {
            if e.is_not_found() {
                tracing::warn!(customer_id = %customer, "the stored customer is gone from Stripe");
                no_billing_account()
            } else {
                stripe_failure("portal_session_create", &e)
            }
        })?;
    Ok(PortalView {
        portal_url: session.url,
    })
}
