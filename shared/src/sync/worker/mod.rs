//! The sync worker: a level-triggered job handler. A job names a user and what to bring up to
//! date; the worker reads the user's current profile and pushes it (Keycloak attributes, the
//! Lago customer and plan, then the email), so a duplicate or out-of-order job is harmless.
//!
//! The email goes last and only once Keycloak and Lago succeeded: a failed job is retried
//! whole, and this keeps a retry from sending the message twice.

pub mod desired_state;
mod stripe_action;
mod targets;
#[cfg(test)]
mod tests;

use super::keycloak::{KeycloakClient, KeycloakConfig, KeycloakError};
use super::lago::{LagoClient, LagoConfig, LagoError};
use super::mailer::{EmailConfig, OutboxMailer};
use super::templates::TemplateError;
use crate::adapters::stripe::StripeClient;
use crate::config::EnvSource;
use crate::config::StripeConfig;
use crate::domain::{BillingProfile, Catalog, UserId};
use crate::ports::mailer::{MailError, Mailer};
use crate::ports::Clock;
use crate::ports::StripeApi;
use crate::ports::{
    BillingStore, StoreError, SubscriptionChange, SyncFailure, SyncJob, SyncTarget,
};
use crate::stripe::StripeError;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::Arc;
use std::time::Duration;
use targets::push_keycloak;
use tracing::{error, info, warn};

/// Default bound on one job: below the function's timeout so one hung job fails alone.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a job failed. A transient failure is reported as a batch item failure and retried (then
/// dead-lettered); a permanent one ([`SyncError::is_permanent`]) is recorded as a
/// [`SyncFailure`] for an operator to list and replay, and the message is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The SQS body does not parse as a [`SyncJob`] (the parser's message); left to the DLQ.
    #[error("the message is not a sync job: {0}")]
    Malformed(String),
    /// The profile could not be read, or a failure could not be recorded or cleared.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keycloak failed; permanent when it refused the request itself or has no such user.
    #[error(transparent)]
    Keycloak(#[from] KeycloakError),
    /// Lago refused or could not be reached; permanent when it refused the request itself.
    #[error(transparent)]
    Lago(#[from] LagoError),
    /// The job names an unknown template or lacks a field it needs: permanent.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The mailer did not take the message: retried.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Neither the profile nor Keycloak has an address for the user (the user id): permanent.
    #[error("no email address is known for user {0}")]
    NoRecipient(String),
    /// Stripe refused the job's change; permanent unless Stripe's error is transient.
    #[error("Stripe refused {change:?} of {subscription}: {error}")]
    Stripe {
        /// The `sub_…` id the change was for.
        subscription: String,
        /// The change the job asked for.
        change: SubscriptionChange,
        /// What Stripe answered.
        error: StripeError,
    },
    /// The job carries a Stripe change but `STRIPE_SECRET_KEY` is not set: permanent.
    #[error("the job asks Stripe for {0:?}, but the worker has no STRIPE_SECRET_KEY")]
    StripeNotConfigured(SubscriptionChange),
    /// The job ran past the worker's job timeout (the bound given): retried.
    #[error("the job did not finish within {0:?}")]
    Timeout(Duration),
    /// Keycloak and Lago both failed; permanent only when every one of them is.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<SyncError>),
    /// Some targets failed for good and the others were done: permanent, and what is recorded
    /// for replay is `remaining`, the job narrowed to what is still to do.
    #[error("{error}")]
    Unfinished {
        /// The job with only its undone targets (no Stripe change: that was made).
        remaining: Box<SyncJob>,
        /// Why.
        error: Box<SyncError>,
    },
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
            SyncError::Unfinished { .. } => true,
            SyncError::Malformed(_)
            | SyncError::Store(_)
            | SyncError::Mail(_)
            | SyncError::Timeout(_) => false,
        }
    }
}

/// How the worker names the product and links billing in emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// `EMAIL_PRODUCT_NAME`, `Tierflow` when unset.
    pub product_name: String,
    /// `EMAIL_BILLING_URL`: the button in messages that ask the user to act; none when unset.
    pub billing_url: Option<String>,
}

/// What one job did, per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The job's change was made in Stripe (or found already made).
    pub stripe: bool,
    /// Keycloak's attributes were merged.
    pub keycloak: bool,
    /// Lago's customer and plan were brought in line.
    pub lago: bool,
    /// The job's email was handed to the mailer.
    pub email: bool,
}

/// The worker with its integrations; `None` means not configured (announced once at start).
pub struct Worker {
    /// Where profiles are read and permanent failures recorded.
    pub store: Arc<dyn BillingStore>,
    /// Makes the changes jobs ask of Stripe (a revocation that stops billing).
    pub stripe: Option<Arc<dyn StripeApi>>,
    /// Receives the subscription attributes the app reads from the token.
    pub keycloak: Option<KeycloakClient>,
    /// Receives the customer and plan that usage is billed on.
    pub lago: Option<LagoClient>,
    /// Sends the job's email: SES, or a local outbox directory.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// How emails name the product and link billing.
    pub email: EmailSettings,
    /// Maps each tier to its Lago plan code.
    pub catalog: Catalog,
    /// "Now" for effective tiers, Lago anchors and failure timestamps.
    pub clock: Arc<dyn Clock>,
    /// The bound on one job (`SYNC_JOB_TIMEOUT_SECONDS`), below the function's timeout.
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
        let job: SyncJob = match &error {
            SyncError::Unfinished { remaining, .. } => (**remaining).clone(),
            _ => serde_json::from_str(body.unwrap_or(""))
                .map_err(|e| SyncError::Malformed(e.to_string()))?,
        };
        if self.superseded_by_deletion(&job).await? {
            info!(user_id = %job.user_id, cause = %job.cause, error = %error,
                "the account was deleted meanwhile: nothing is left to do for this job");
            return Ok(());
        }
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
            .unwrap_or_else(|| BillingProfile::new_free(job.user_id.clone(), &self.catalog));
        let now = self.clock.now();
        let mut report = SyncReport::default();
        // Stopping billing comes first: it matters most, and the rest is safe to repeat.
        if let Some(action) = &job.stripe_action {
            self.apply_stripe_action(action).await?;
            report.stripe = true;
        }
        let mut failures = Vec::new();
        let mut failed_targets = Vec::new();
        let mut keycloak_user = None;
        // A deleted account is gone from the identity provider: looking it up there would fail
        // every retry into the DLQ, and there is no one left to email.
        let account_deleted = profile.deleted_at.is_some();
        if account_deleted {
            info!("account deleted: the identity provider and email are skipped");
        }

        if job.targets.contains(&SyncTarget::Keycloak) && !account_deleted {
            if let Some(kc) = &self.keycloak {
                match push_keycloak(kc, &profile, &self.catalog, now).await {
                    Ok(user) => {
                        keycloak_user = Some(user);
                        report.keycloak = true;
                    }
                    Err(e) => {
                        failures.push(SyncError::Keycloak(e));
                        failed_targets.push(SyncTarget::Keycloak);
                    }
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
                    Err(e) => {
                        failures.push(SyncError::Lago(e));
                        failed_targets.push(SyncTarget::Lago);
                    }
                }
            }
        }
        let failed = match failures.len() {
            0 => None,
            1 => Some(failures.remove(0)),
            _ => Some(SyncError::Several(failures)),
        };
        // A transient failure retries the whole job, so the email waits for it (it is sent
        // once). A permanent one is not retried: the email goes out now, not when a person
        // replays the failure, and the failure recorded names only what is still undone.
        let failed = match failed {
            Some(error) if !error.is_permanent() => return Err(error),
            other => other,
        };
        if let (true, Some(template), Some(mailer)) = (
            job.targets.contains(&SyncTarget::Email) && !account_deleted,
            job.email.as_deref(),
            &self.mailer,
        ) {
            match self
                .send_email(mailer.as_ref(), job, template, &profile, keycloak_user)
                .await
            {
                Ok(()) => report.email = true,
                Err(e) if failed.is_none() => return Err(e),
                Err(e) => {
                    warn!(error = %e, "the email failed too: it is replayed with the rest");
                    failed_targets.push(SyncTarget::Email);
                }
            }
        }
        if let Some(error) = failed {
            let mut remaining = job.clone();
            remaining.stripe_action = None;
            remaining.targets = failed_targets;
            if report.email {
                remaining.email = None;
                remaining.email_fields.clear();
            }
            return Err(SyncError::Unfinished {
                remaining: Box::new(remaining),
                error: Box::new(error),
            });
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

    /// Whether a job that failed for good needs nothing more because the account was deleted
    /// while it ran (the identity provider deletes a user before it announces it): a deleted
    /// account gets no Keycloak update and no email, so a job of only those is done. One with
    /// a Stripe change or a Lago step is still recorded.
    async fn superseded_by_deletion(&self, job: &SyncJob) -> Result<bool, SyncError> {
        let identity_only = job.stripe_action.is_none()
            && job
                .targets
                .iter()
                .all(|t| matches!(t, SyncTarget::Keycloak | SyncTarget::Email));
        if !identity_only {
            return Ok(false);
        }
        let profile = self.store.profile(&job.user_id).await?;
        Ok(profile.is_some_and(|p| p.deleted_at.is_some()))
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
