//! The sync worker: a level-triggered job handler. A job names a user and what to bring up to
//! date; the worker reads the user's current profile and pushes it (Keycloak attributes, the
//! Lago customer and plan, then the email), so a duplicate or out-of-order job is harmless.
//!
//! The email goes last and only once Keycloak and Lago succeeded: a failed job is retried
//! whole, and this keeps a retry from sending the message twice.

use super::keycloak::{KeycloakClient, KeycloakConfig, KeycloakError, KeycloakUser};
use super::lago::{LagoClient, LagoConfig, LagoCustomer, LagoCustomerState, LagoError, StripeLink};
use super::mailer::{EmailConfig, EmailMessage, MailError, Mailer, OutboxMailer};
use super::templates::{render, EmailContext, TemplateError};
use crate::adapters::stripe::StripeClient;
use crate::config::EnvSource;
use crate::config::StripeConfig;
use crate::domain::access::effective_tier;
use crate::domain::SubscriptionStatus;
use crate::domain::{BillingProfile, Catalog, UserId};
use crate::ports::{
    BillingStore, StoreError, StripeAction, StripeApi, SubscriptionChange, SyncFailure, SyncJob,
    SyncTarget,
};
use crate::stripe::{IdempotencyScope, StripeError};
use crate::time::{rfc3339, Clock, UnixTime};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Default bound on one job: below the function's timeout so one hung job fails alone.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a job failed. A transient failure is reported as a batch item failure and retried (then
/// dead-lettered); a permanent one ([`SyncError::is_permanent`]) is recorded as a
/// [`SyncFailure`] for an operator to list and replay, and the message is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the message is not a sync job: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keycloak(#[from] KeycloakError),
    #[error(transparent)]
    Lago(#[from] LagoError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("no email address is known for user {0}")]
    NoRecipient(String),
    #[error("Stripe refused {change:?} of {subscription}: {error}")]
    Stripe {
        subscription: String,
        change: SubscriptionChange,
        error: StripeError,
    },
    #[error("the job asks Stripe for {0:?}, but the worker has no STRIPE_SECRET_KEY")]
    StripeNotConfigured(SubscriptionChange),
    #[error("the job did not finish within {0:?}")]
    Timeout(Duration),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<SyncError>),
}

impl SyncError {
    /// True when no retry of the same job can succeed (the integration refused the request
    /// itself, or the user cannot be found); such a job waits for a person, not for SQS.
    /// A message that is not a job at all stays on the queue's path to the dead-letter queue:
    /// there is no job to record.
    pub fn is_permanent(&self) -> bool {
        match self {
            SyncError::Keycloak(e) => e.is_permanent(),
            SyncError::Lago(e) => e.is_permanent(),
            SyncError::Template(_)
            | SyncError::NoRecipient(_)
            | SyncError::StripeNotConfigured(_) => true,
            SyncError::Stripe { error, .. } => !error.is_transient(),
            SyncError::Several(all) => all.iter().all(SyncError::is_permanent),
            SyncError::Malformed(_)
            | SyncError::Store(_)
            | SyncError::Mail(_)
            | SyncError::Timeout(_) => false,
        }
    }
}

/// What the app reads from the token: Tierflow's six attributes, computed from the profile.
/// The tier is the one whose entitlements apply now (free once access is revoked).
pub fn keycloak_attributes(
    profile: &BillingProfile,
    now: UnixTime,
) -> BTreeMap<&'static str, Option<String>> {
    BTreeMap::from([
        (
            "subscription_tier",
            Some(effective_tier(profile, now).as_str().to_owned()),
        ),
        (
            "subscription_status",
            Some(profile.status.as_str().to_owned()),
        ),
        ("stripe_customer_id", profile.customer_id.clone()),
        ("stripe_subscription_id", profile.subscription_id.clone()),
        (
            "subscription_start_date",
            profile.current_period_start.map(rfc3339),
        ),
        (
            "subscription_end_date",
            profile.current_period_end.map(rfc3339),
        ),
    ])
}

/// Lago's `subscription_at` for the user: Stripe's period start, never later than `now`. A start
/// in the future makes Lago create a pending subscription that begins only then (a Stripe clock
/// a few seconds ahead of ours near midnight, or a test clock moved forward).
pub fn lago_anchor(period_start: Option<UnixTime>, now: UnixTime) -> Option<UnixTime> {
    period_start.map(|start| start.min(now))
}

/// The Lago plan the user should be on now, or `None` when their Lago subscription must be
/// terminated (free, canceled, or access revoked).
pub fn lago_plan<'c>(
    profile: &BillingProfile,
    now: UnixTime,
    catalog: &'c Catalog,
) -> Option<&'c str> {
    let tier = effective_tier(profile, now);
    tier.is_paid()
        .then(|| catalog.tier(tier).lago_plan_code.as_str())
}

/// How the worker names the product and links billing in emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    pub product_name: String,
    pub billing_url: Option<String>,
}

/// What one job did, per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The job's change was made in Stripe (or found already made).
    pub stripe: bool,
    pub keycloak: bool,
    pub lago: bool,
    pub email: bool,
}

/// The worker with its integrations; `None` means not configured (announced once at start).
pub struct Worker {
    pub store: Arc<dyn BillingStore>,
    /// Makes the changes jobs ask of Stripe (a revocation that stops billing).
    pub stripe: Option<Arc<dyn StripeApi>>,
    pub keycloak: Option<KeycloakClient>,
    pub lago: Option<LagoClient>,
    pub mailer: Option<Arc<dyn Mailer>>,
    pub email: EmailSettings,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    pub job_timeout: Duration,
}

impl Worker {
    /// Logs one line per integration saying whether it is enabled (at init).
    pub fn log_startup(&self) {
        for line in self.startup_report() {
            if line.contains("disabled") {
                warn!("{line}");
            } else {
                info!("{line}");
            }
        }
    }

    /// Builds the integrations that `source` configures; `ses` makes the SES mailer when email
    /// is configured without a local outbox.
    pub fn with_integrations(
        store: Arc<dyn BillingStore>,
        source: &dyn EnvSource,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
        ses: impl FnOnce(&EmailConfig) -> Arc<dyn Mailer>,
    ) -> Result<Self, crate::config::InitError> {
        let keycloak = KeycloakConfig::load(source)?
            .map(|cfg| KeycloakClient::new(cfg, clock.clone()))
            .transpose()?;
        let lago = LagoConfig::load(source)?.map(LagoClient::new).transpose()?;
        let stripe =
            match crate::config::Env(source).optional("STRIPE_SECRET_KEY") {
                Some(_) => Some(Arc::new(StripeClient::new(&StripeConfig::load(source)?)?)
                    as Arc<dyn StripeApi>),
                None => None,
            };
        let email = EmailConfig::load(source)?;
        let mailer = email.as_ref().map(|cfg| match &cfg.outbox_dir {
            Some(dir) => Arc::new(OutboxMailer::new(dir, cfg.from.clone())) as Arc<dyn Mailer>,
            None => ses(cfg),
        });
        let job_timeout = crate::config::Env(source)
            .parsed("SYNC_JOB_TIMEOUT_SECONDS", DEFAULT_JOB_TIMEOUT.as_secs())
            .map(Duration::from_secs)?;
        Ok(Self {
            store,
            stripe,
            keycloak,
            lago,
            mailer,
            email: EmailSettings {
                product_name: email
                    .as_ref()
                    .map_or_else(|| "Tierflow".to_owned(), |c| c.product_name.clone()),
                billing_url: email.and_then(|c| c.billing_url),
            },
            catalog,
            clock,
            job_timeout,
        })
    }

    /// One line per integration: enabled (and where) or disabled (and which variable enables it).
    pub fn startup_report(&self) -> Vec<String> {
        vec![
            match &self.stripe {
                Some(_) => "Stripe changes enabled: revocations stop billing".into(),
                None => "Stripe changes disabled: set STRIPE_SECRET_KEY so revocations can stop billing".into(),
            },
            match &self.keycloak {
                Some(kc) => format!("Keycloak sync enabled: {}", kc.describe()),
                None => "Keycloak sync disabled: set KEYCLOAK_BASE_URL, KEYCLOAK_REALM, KEYCLOAK_CLIENT_ID and KEYCLOAK_CLIENT_SECRET to enable it".into(),
            },
            match &self.lago {
                Some(lago) => format!("Lago sync enabled: {}", lago.api_url()),
                None => "Lago sync disabled: set LAGO_API_URL and LAGO_API_KEY to enable it".into(),
            },
            match &self.mailer {
                Some(mailer) => format!("email enabled: {}", mailer.describe()),
                None => "email disabled: set EMAIL_FROM (and EMAIL_OUTBOX_DIR for a local outbox) to enable it".into(),
            },
        ]
    }

    /// Processes one SQS message body, bounded by the job timeout.
    pub async fn process_message(&self, body: Option<&str>) -> Result<SyncReport, SyncError> {
        let job: SyncJob = serde_json::from_str(body.unwrap_or(""))
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        tokio::time::timeout(self.job_timeout, self.sync(&job))
            .await
            .map_err(|_| SyncError::Timeout(self.job_timeout))?
    }

    /// Processes one message and says whether SQS may delete it: done, or failed permanently
    /// and recorded. A transient failure, or a permanent one that could not be recorded, is
    /// `Err` and goes back to the queue.
    pub async fn settle_message(&self, body: Option<&str>) -> Result<(), SyncError> {
        let error = match self.process_message(body).await {
            Ok(_) => return Ok(()),
            Err(e) if !e.is_permanent() => return Err(e),
            Err(e) => e,
        };
        let job: SyncJob = serde_json::from_str(body.unwrap_or(""))
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let failure = SyncFailure {
            reason: error.to_string(),
            failed_at: self.clock.now(),
            job,
        };
        self.store.record_sync_failure(&failure).await?;
        error!(
            metric = "sync_job_permanent_failure",
            user_id = %failure.job.user_id,
            cause = %failure.job.cause,
            error = %failure.reason,
            "sync job failed permanently; recorded for replay (redrive --failed)"
        );
        Ok(())
    }

    /// Brings the job's targets up to date with the user's current profile.
    #[tracing::instrument(skip_all, fields(user_id = %job.user_id, cause = %job.cause))]
    pub async fn sync(&self, job: &SyncJob) -> Result<SyncReport, SyncError> {
        let profile = self
            .store
            .profile(&job.user_id)
            .await?
            .unwrap_or_else(|| BillingProfile::new_free(job.user_id.clone()));
        let now = self.clock.now();
        let mut report = SyncReport::default();
        // Stopping billing comes first: it matters most, and the rest is safe to repeat.
        if let Some(action) = &job.stripe_action {
            self.apply_stripe_action(action).await?;
            report.stripe = true;
        }
        let mut failures = Vec::new();
        let mut keycloak_user = None;
        // A deleted account is gone from the identity provider: looking it up there would fail
        // every retry into the DLQ, and there is no one left to email.
        let account_deleted = profile.deleted_at.is_some();
        if account_deleted {
            info!("account deleted: the identity provider and email are skipped");
        }

        if job.targets.contains(&SyncTarget::Keycloak) && !account_deleted {
            if let Some(kc) = &self.keycloak {
                match push_keycloak(kc, &profile, now).await {
                    Ok(user) => {
                        keycloak_user = Some(user);
                        report.keycloak = true;
                    }
                    Err(e) => failures.push(SyncError::Keycloak(e)),
                }
            }
        }
        if job.targets.contains(&SyncTarget::Lago) {
            if let Some(lago) = &self.lago {
                match self
                    .push_lago(lago, &profile, keycloak_user.as_ref(), now)
                    .await
                {
                    Ok(()) => report.lago = true,
                    Err(e) => failures.push(SyncError::Lago(e)),
                }
            }
        }
        if !failures.is_empty() {
            return Err(match failures.len() {
                1 => failures.remove(0),
                _ => SyncError::Several(failures),
            });
        }
        if let (true, Some(template), Some(mailer)) = (
            job.targets.contains(&SyncTarget::Email) && !account_deleted,
            job.email.as_deref(),
            &self.mailer,
        ) {
            self.send_email(mailer.as_ref(), job, template, &profile, keycloak_user)
                .await?;
            report.email = true;
        }
        if account_deleted {
            self.clear_superseded_failures(&job.user_id).await?;
        }
        info!(
            stripe = report.stripe,
            keycloak = report.keycloak,
            lago = report.lago,
            email = report.email,
            "synced"
        );
        Ok(report)
    }

    /// Makes the job's change in Stripe. A refusal for a subscription that has already ended
    /// (or is gone) means there is nothing left to do; any other refusal is permanent.
    async fn apply_stripe_action(&self, action: &StripeAction) -> Result<(), SyncError> {
        let stripe = self
            .stripe
            .as_ref()
            .ok_or(SyncError::StripeNotConfigured(action.change))?;
        let id = action.subscription_id.as_str();
        let scope = IdempotencyScope::new(["stripe-action", &action.requested_by]);
        let result = match action.change {
            SubscriptionChange::CancelNow => stripe.cancel_subscription(id).await,
            SubscriptionChange::CancelAtPeriodEnd => {
                stripe.set_cancel_at_period_end_once(id, true, &scope).await
            }
            SubscriptionChange::Resume => {
                stripe
                    .set_cancel_at_period_end_once(id, false, &scope)
                    .await
            }
        };
        let refused = |error: StripeError| SyncError::Stripe {
            subscription: id.to_owned(),
            change: action.change,
            error,
        };
        let error = match result {
            Ok(sub) => {
                info!(subscription = id, change = ?action.change, status = %sub.status,
                      cancel_at_period_end = sub.cancel_at_period_end, "Stripe subscription changed");
                return Ok(());
            }
            Err(e) if e.is_transient() => return Err(refused(e)),
            Err(e) => e,
        };
        match stripe.retrieve_subscription(id).await {
            Ok(sub) if !SubscriptionStatus::from_stripe(&sub.status).is_live() => {
                info!(subscription = id, change = ?action.change, status = %sub.status,
                      "the subscription has already ended: nothing to change");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                info!(
                    subscription = id,
                    "the subscription is gone: nothing to change"
                );
                Ok(())
            }
            Err(e) if e.is_transient() => Err(refused(e)),
            _ => Err(refused(error)),
        }
    }

    /// Clears a deleted account's recorded failures once its state is synced: a job that
    /// failed because the identity provider deleted the user before announcing it is
    /// superseded, and no email is due to someone who is gone.
    async fn clear_superseded_failures(&self, user: &UserId) -> Result<(), SyncError> {
        for failure in self.store.user_sync_failures(user).await? {
            self.store.clear_sync_failure(&failure).await?;
            info!(cause = %failure.job.cause, reason = %failure.reason,
                  "a deleted account's recorded sync failure is superseded: cleared");
        }
        Ok(())
    }

    /// Brings Lago in line: terminate first when the user has no plan (nothing later may fail
    /// on a customer that is gone from Stripe and leave usage accruing), then the customer
    /// with its Stripe link changed only when Tierflow's changed, then the plan.
    async fn push_lago(
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

    async fn send_email(
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

async fn push_keycloak(
    kc: &KeycloakClient,
    profile: &BillingProfile,
    now: UnixTime,
) -> Result<KeycloakUser, KeycloakError> {
    let user = kc
        .find_user(profile.user_id.as_str(), profile.email.as_deref())
        .await?;
    kc.merge_user_attributes(user, &keycloak_attributes(profile, now))
        .await
}

/// Handles one SQS batch: every message independently and concurrently; the ones that failed
/// are reported so SQS redelivers only them (after the visibility timeout), and after
/// `maxReceiveCount` receives moves them to the dead-letter queue.
pub async fn handle_batch(worker: Arc<Worker>, event: SqsEvent) -> SqsBatchResponse {
    let tasks: Vec<_> = event
        .records
        .into_iter()
        .map(|message| {
            let worker = worker.clone();
            let id = message.message_id.clone();
            let task =
                tokio::spawn(async move { worker.settle_message(message.body.as_deref()).await });
            (id, task)
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    for (id, task) in tasks {
        let failure = match task.await {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(join) => format!("the job panicked: {join}"),
        };
        error!(
            metric = "sync_job_failed",
            message_id = id.as_deref().unwrap_or("-"),
            error = %failure,
            "sync job failed; SQS will redeliver it"
        );
        // An empty identifier makes Lambda retry the whole batch: never lose an unnamed one.
        response.add_failure(id.unwrap_or_default());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::profile::Revocation;
    use crate::domain::{SubscriptionStatus, Tier, UserId};
    use crate::time::FixedClock;

    fn paid(tier: Tier) -> BillingProfile {
        let mut p = BillingProfile::new_free(UserId::parse("u1").unwrap());
        p.tier = tier;
        p.status = SubscriptionStatus::Active;
        p.customer_id = Some("cus_1".into());
        p.subscription_id = Some("sub_1".into());
        p.current_period_start = Some(1_792_713_600);
        p.current_period_end = Some(1_795_392_000);
        p
    }

    #[test]
    fn attributes_carry_the_effective_tier_ids_and_period() {
        let attrs = keycloak_attributes(&paid(Tier::Professional), 1_793_000_000);
        assert_eq!(
            attrs,
            BTreeMap::from([
                ("subscription_tier", Some("professional".into())),
                ("subscription_status", Some("active".into())),
                ("stripe_customer_id", Some("cus_1".into())),
                ("stripe_subscription_id", Some("sub_1".into())),
                (
                    "subscription_start_date",
                    Some("2026-10-23T00:00:00Z".into())
                ),
                ("subscription_end_date", Some("2026-11-23T00:00:00Z".into())),
            ])
        );
        let mut disputed = paid(Tier::Professional);
        disputed.revocation = Some(Revocation {
            reason: "dispute".into(),
            at: 1,
            stripe_action: None,
        });
        assert_eq!(
            keycloak_attributes(&disputed, 2)["subscription_tier"].as_deref(),
            Some("free")
        );
        let free = BillingProfile::new_free(UserId::parse("u2").unwrap());
        let attrs = keycloak_attributes(&free, 2);
        assert_eq!(attrs["subscription_status"].as_deref(), Some("none"));
        assert_eq!(attrs["stripe_subscription_id"], None);
    }

    #[test]
    fn lago_plans_follow_access() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let now = 1_793_000_000;
        assert_eq!(
            lago_plan(&paid(Tier::Starter), now, &catalog),
            Some("tierflow_starter")
        );
        let mut past_due = paid(Tier::Starter);
        past_due.status = SubscriptionStatus::PastDue;
        past_due.grace_until = Some(now + 10);
        assert_eq!(
            lago_plan(&past_due, now, &catalog),
            Some("tierflow_starter")
        );
        past_due.grace_until = Some(now - 10);
        assert_eq!(lago_plan(&past_due, now, &catalog), None, "grace ran out");
        let free = BillingProfile::new_free(UserId::parse("u2").unwrap());
        assert_eq!(lago_plan(&free, now, &catalog), None);
    }

    fn env(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn no_ses(_: &EmailConfig) -> Arc<dyn Mailer> {
        unreachable!("these tests configure no SES")
    }

    #[test]
    fn unconfigured_integrations_are_announced_once_as_disabled() {
        let worker = Worker::with_integrations(
            Arc::new(MemoryStore::new()),
            &env(&[]),
            Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            Arc::new(FixedClock::at(0)),
            no_ses,
        )
        .unwrap();
        let report = worker.startup_report();
        assert_eq!(report.len(), 4);
        assert!(report.iter().all(|l| l.contains("disabled")), "{report:?}");
        assert!(report[0].contains("STRIPE_SECRET_KEY"));
        assert!(report[1].contains("KEYCLOAK_BASE_URL"));
    }

    #[test]
    fn configured_integrations_are_announced_with_where_they_point() {
        let worker = Worker::with_integrations(
            Arc::new(MemoryStore::new()),
            &env(&[
                ("KEYCLOAK_BASE_URL", "https://kc.example.com"),
                ("KEYCLOAK_REALM", "app"),
                ("KEYCLOAK_CLIENT_ID", "tierflow"),
                ("KEYCLOAK_CLIENT_SECRET", "secret-value"),
                ("LAGO_API_URL", "https://lago.example.com"),
                ("LAGO_API_KEY", "lago-key"),
                ("EMAIL_FROM", "billing@example.com"),
                ("EMAIL_OUTBOX_DIR", "/tmp/tierflow-outbox"),
                ("STRIPE_SECRET_KEY", "sk_test_worker"),
            ]),
            Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            Arc::new(FixedClock::at(0)),
            no_ses,
        )
        .unwrap();
        let report = worker.startup_report().join("\n");
        assert!(report.contains("Keycloak sync enabled: realm app at https://kc.example.com"));
        assert!(report.contains("Lago sync enabled: https://lago.example.com"));
        assert!(report.contains("email enabled: local outbox in /tmp/tierflow-outbox"));
        assert!(report.contains("Stripe changes enabled"));
        assert!(
            !report.contains("secret-value")
                && !report.contains("lago-key")
                && !report.contains("sk_test_worker")
        );
    }

    #[tokio::test]
    async fn malformed_messages_fail_and_are_reported() {
        let worker = Arc::new(
            Worker::with_integrations(
                Arc::new(MemoryStore::new()),
                &env(&[]),
                Catalog::parse(BUILT_IN_CATALOG).unwrap(),
                Arc::new(FixedClock::at(0)),
                no_ses,
            )
            .unwrap(),
        );
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m-bad", "body": "{\"not\": \"a job\"}"},
            {"messageId": "m-ok", "body": "{\"user_id\": \"u1\", \"targets\": [\"keycloak\"], \"cause\": \"evt_1\"}"}
        ]}))
        .unwrap();
        let response = handle_batch(worker, event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m-bad"]);
    }

    #[tokio::test]
    async fn permanent_failures_are_recorded_and_acknowledged_transient_ones_retried() {
        let store = Arc::new(MemoryStore::new());
        let outbox = std::env::temp_dir().join(format!("tierflow-worker-{}", std::process::id()));
        let outbox = outbox.to_string_lossy().into_owned();
        let worker = Arc::new(
            Worker::with_integrations(
                store.clone(),
                &env(&[
                    ("EMAIL_FROM", "billing@example.com"),
                    ("EMAIL_OUTBOX_DIR", &outbox),
                ]),
                Catalog::parse(BUILT_IN_CATALOG).unwrap(),
                Arc::new(FixedClock::at(1_800_000_000)),
                no_ses,
            )
            .unwrap(),
        );
        let unknown_template = SyncJob::state(UserId::parse("u1").unwrap(), "evt_1")
            .with_email("no_such_template", serde_json::Map::new());
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m-permanent", "body": serde_json::to_string(&unknown_template).unwrap()},
        ]}))
        .unwrap();

        let response = handle_batch(worker.clone(), event.clone()).await;
        assert!(response.batch_item_failures.is_empty());
        let failures = store.sync_failures(10).await.unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].job, unknown_template);
        assert_eq!(failures[0].failed_at, 1_800_000_000);
        assert!(failures[0].reason.contains("no_such_template"));

        // When the failure cannot be recorded, SQS keeps the message: nothing is lost.
        store.set_unavailable(true);
        let response = handle_batch(worker, event).await;
        assert_eq!(response.batch_item_failures.len(), 1);
    }

    #[test]
    fn lagos_anchor_is_stripes_period_start_but_never_in_the_future() {
        for (start, now, anchor) in [
            (None, 100, None),
            (Some(50), 100, Some(50)),
            (Some(100), 100, Some(100)),
            (Some(150), 100, Some(100)),
        ] {
            assert_eq!(lago_anchor(start, now), anchor, "{start:?} at {now}");
        }
    }

    #[test]
    fn only_refusals_no_retry_can_change_are_permanent() {
        let status = |status| KeycloakError::Status {
            operation: "update user",
            status,
            detail: String::new(),
        };
        for (error, permanent) in [
            (SyncError::Keycloak(status(400)), true),
            (SyncError::Keycloak(status(403)), true),
            (SyncError::Keycloak(status(404)), true),
            (SyncError::Keycloak(status(401)), false),
            (SyncError::Keycloak(status(409)), false),
            (SyncError::Keycloak(status(429)), false),
            (SyncError::Keycloak(status(503)), false),
            (
                SyncError::Keycloak(KeycloakError::UserNotFound {
                    user_id: "u1".into(),
                }),
                true,
            ),
            (
                SyncError::Lago(LagoError::Status {
                    operation: "upsert customer",
                    status: 422,
                    code: Some("third_party_error".into()),
                    detail: String::new(),
                }),
                true,
            ),
            (
                SyncError::Lago(LagoError::Unreachable {
                    operation: "upsert customer",
                    detail: String::new(),
                }),
                false,
            ),
            (SyncError::NoRecipient("u1".into()), true),
            (SyncError::Timeout(Duration::from_secs(1)), false),
            (SyncError::Malformed("x".into()), false),
            (
                SyncError::Several(vec![
                    SyncError::NoRecipient("u1".into()),
                    SyncError::Timeout(Duration::from_secs(1)),
                ]),
                false,
            ),
        ] {
            assert_eq!(error.is_permanent(), permanent, "{error}");
        }
    }
}
