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

/// A portal flow the caller may open directly (`?flow=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalFlow {
    /// Add or replace the card: what a trial without one, or a paused subscription, needs.
    PaymentMethodUpdate,
}

impl PortalFlow {
    /// Parses `?flow=`; the error names the flows there are.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw {
            "payment_method_update" => Ok(Self::PaymentMethodUpdate),
            other => Err(ApiError::bad_request(
                "invalid_flow",
                format!("unknown portal flow {other:?}; expected payment_method_update"),
            )),
        }
    }

    /// Stripe's `flow_data[type]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentMethodUpdate => "payment_method_update",
        }
    }
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
    flow: Option<PortalFlow>,
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
            flow: flow.map(|f| f.as_str().to_owned()),
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
