//! Bringing each integration in line with the profile: Keycloak's attributes, Lago's customer
//! and plan, and the job's email (sent last, once the others succeeded).

use super::desired_state::{keycloak_attributes, lago_anchor, lago_plan};
use super::{SyncError, Worker};
use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, Catalog};
use crate::ports::mailer::{EmailMessage, Mailer};
use crate::ports::SyncJob;
use crate::sync::keycloak::{KeycloakClient, KeycloakError, KeycloakUser};
use crate::sync::lago::{LagoClient, LagoCustomer, LagoCustomerState, LagoError, StripeLink};
use crate::sync::templates::{render, EmailContext};

/// Finds the user in Keycloak (by id, else by email for a first link) and merges Tierflow's
/// attributes into theirs.
pub(super) async fn push_keycloak(
    kc: &KeycloakClient,
    profile: &BillingProfile,
    catalog: &Catalog,
    now: UnixTime,
) -> Result<KeycloakUser, KeycloakError> {
    let user = kc
        .find_user(profile.user_id.as_str(), profile.email.as_deref())
        .await?;
    kc.merge_user_attributes(user, &keycloak_attributes(profile, catalog, now))
        .await
}

impl Worker {
    /// Brings Lago in line: terminate first when the user has no plan (nothing later may fail
    /// on a customer that is gone from Stripe and leave usage accruing), then the customer
    /// with its Stripe link changed only when Tierflow's changed, then the plan.
    pub(super) async fn push_lago(
        &self,
        lago: &LagoClient,
        profile: &BillingProfile,
        keycloak_user: Option<&KeycloakUser>,
        now: UnixTime,
    ) -> Result<(), LagoError> {
        let user_id = profile.user_id.as_str();
        let plan = lago_plan(profile, now, &self.catalog);
        if plan.is_none() {
            lago.terminate_subscription(user_id).await?;
        }
        let linked = lago.customer(user_id).await?;
        let link = StripeLink::between(
            linked
                .as_ref()
                .and_then(LagoCustomerState::stripe_customer_id),
            profile.customer_id.as_deref(),
        );
        lago.upsert_customer(
            &LagoCustomer {
                external_id: user_id.to_owned(),
                email: profile
                    .email
                    .clone()
                    .or_else(|| keycloak_user.and_then(|u| u.email.clone())),
                name: keycloak_user.and_then(|u| u.name.clone()),
                currency: self.catalog.currency.as_str().to_owned(),
                stripe_customer_id: profile.customer_id.clone(),
            },
            &link,
        )
        .await?;
        // One Lago subscription per user, addressed by the user id, whatever the plan, anchored
        // to Stripe's period so both bill on the same day.
        match plan {
            Some(plan) => {
                let anchor = lago_anchor(profile.current_period_start, now);
                lago.assign_plan(user_id, user_id, plan, anchor).await
            }
            None => Ok(()),
        }
    }

    /// Renders the job's template and sends it to the profile's email, else the address
    /// Keycloak knows for the user.
    pub(super) async fn send_email(
        &self,
        mailer: &dyn Mailer,
        job: &SyncJob,
        template: &str,
        profile: &BillingProfile,
        keycloak_user: Option<KeycloakUser>,
    ) -> Result<(), SyncError> {
        let rendered = render(
            template,
            &job.email_fields,
            &EmailContext {
                product: &self.email.product_name,
                billing_url: self.email.billing_url.as_deref(),
                profile,
                catalog: &self.catalog,
            },
        )?;
        let mut to = profile
            .email
            .clone()
            .or_else(|| keycloak_user.and_then(|u| u.email));
        if to.is_none() {
            if let Some(kc) = &self.keycloak {
                to = kc.find_user(profile.user_id.as_str(), None).await?.email;
            }
        }
        let to = to.ok_or_else(|| SyncError::NoRecipient(profile.user_id.to_string()))?;
        mailer
            .send(&EmailMessage {
                to,
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                template: template.to_owned(),
                dedupe_key: format!("{}/{template}/{}", profile.user_id, job.cause),
            })
            .await?;
        Ok(())
    }
}
