//! Email to a user: the sync worker renders a message and hands it to a mailer (Amazon SES in
//! AWS, a local outbox directory in development; both in `crate::sync::mailer`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One message, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// The recipient's address: the profile's email, else the identity provider's.
    pub to: String,
    /// The subject line, plain text.
    pub subject: String,
    /// The plain-text body, for clients that do not show HTML.
    pub text: String,
    /// The HTML body, with every user-supplied value escaped.
    pub html: String,
    /// The template it was rendered from, for tracing and the outbox file name.
    pub template: String,
    /// Stable per (user, template, cause): a resend of the same job has the same key.
    pub dedupe_key: String,
}

/// Why a message was not handed over; the job fails and is retried, then dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("{provider} did not take the email: {detail}")]
pub struct MailError {
    /// Which mailer refused it (`SES`, `outbox`).
    pub provider: &'static str,
    /// The provider's own error, as text.
    pub detail: String,
}

/// Sends email.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// A short description for the startup line (`SES from billing@…`, `outbox in …`).
    fn describe(&self) -> String;
    /// Hands `message` over for delivery; `Ok` once the provider has accepted it.
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError>;
}
