//! The mailer adapters: Amazon SES (v2 API) in AWS, and a local outbox directory that a
//! developer reads (one JSON file and one HTML file per message); and the email settings.

use crate::config::{ConfigError, Env, EnvSource};
use crate::ports::mailer::{EmailMessage, MailError, Mailer};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How email is sent, if at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// The sender (`EMAIL_FROM`), an address or domain verified in SES.
    pub from: String,
    /// `EMAIL_OUTBOX_DIR`: write messages here instead of sending them (local development).
    pub outbox_dir: Option<PathBuf>,
    /// `SES_CONFIGURATION_SET`: SES configuration set for bounce and complaint tracking.
    pub configuration_set: Option<String>,
    /// `EMAIL_PRODUCT_NAME` (default `Tierflow`): how messages name the product.
    pub product_name: String,
    /// `EMAIL_BILLING_URL`: the app's billing page, linked from messages that ask for action.
    pub billing_url: Option<String>,
}

impl EmailConfig {
    /// `None` when `EMAIL_FROM` is not set: email is then disabled.
    pub fn load(source: &dyn EnvSource) -> Result<Option<Self>, ConfigError> {
        let env = Env(source);
        let Some(from) = env.optional("EMAIL_FROM") else {
            return Ok(None);
        };
        if !from.contains('@') {
            return Err(ConfigError::Invalid {
                name: "EMAIL_FROM",
                reason: "an email address is expected".into(),
            });
        }
        Ok(Some(Self {
            from: from.trim().to_owned(),
            outbox_dir: env.optional("EMAIL_OUTBOX_DIR").map(PathBuf::from),
            configuration_set: env.optional("SES_CONFIGURATION_SET"),
            product_name: env
                .optional("EMAIL_PRODUCT_NAME")
                .unwrap_or_else(|| "Tierflow".to_owned()),
            billing_url: env.optional("EMAIL_BILLING_URL"),
        }))
    }
}

/// Amazon SES (API v2).
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// Sends from `from` (verified in SES), tagged with `configuration_set` when given.
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    fn describe(&self) -> String {
        format!("SES from {}", self.from)
    }

    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let err = |detail: String| MailError {
            provider: "SES",
            detail,
        };
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| err(e.to_string()))
        };
        let email = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(content(&message.subject)?)
                    .body(
                        Body::builder()
                            .text(content(&message.text)?)
                            .html(content(&message.html)?)
                            .build(),
                    )
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(email)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| err(aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// Writes each message to a directory: `<key>.json` (the whole message) and `<key>.html`
/// (to open in a browser). A resend of the same job overwrites the same files.
pub struct OutboxMailer {
    dir: PathBuf,
    from: String,
}

impl OutboxMailer {
    /// Writes into `dir` (created when missing), naming `from` as the sender.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            from: from.into(),
        }
    }

    fn file_stem(key: &str) -> String {
        key.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// What the outbox writes: the message and its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The sender SES would have used (`EMAIL_FROM`).
    pub from: String,
    /// The message, its fields at the top level of the JSON.
    #[serde(flatten)]
    pub message: EmailMessage,
}

#[async_trait]
impl Mailer for OutboxMailer {
    fn describe(&self) -> String {
        format!("local outbox in {}", self.dir.display())
    }

    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        let err = |detail: String| MailError {
            provider: "outbox",
            detail,
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| err(format!("{}: {e}", self.dir.display())))?;
        let stem = Self::file_stem(&message.dedupe_key);
        let entry = OutboxEntry {
            from: self.from.clone(),
            message: message.clone(),
        };
        let json = serde_json::to_string_pretty(&entry).map_err(|e| err(e.to_string()))?;
        let json_path = self.dir.join(format!("{stem}.json"));
        // Written under a temporary name, then renamed: a reader never sees half a message.
        let partial = self.dir.join(format!(".{stem}.json.partial"));
        tokio::fs::write(&partial, json)
            .await
            .map_err(|e| err(format!("{}: {e}", partial.display())))?;
        tokio::fs::write(self.dir.join(format!("{stem}.html")), &message.html)
            .await
            .map_err(|e| err(e.to_string()))?;
        tokio::fs::rename(&partial, &json_path)
            .await
            .map_err(|e| err(format!("{}: {e}", json_path.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str) -> EmailMessage {
        EmailMessage {
            to: "alice@example.com".into(),
            subject: "Hi".into(),
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
            template: "resumed".into(),
            dedupe_key: key.into(),
        }
    }

    #[tokio::test]
    async fn the_outbox_writes_a_readable_message_once_per_key() {
        let dir = std::env::temp_dir().join(format!("tierflow-outbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let outbox = OutboxMailer::new(&dir, "billing@example.com");
        outbox.send(&message("u1/resumed/evt_1")).await.unwrap();
        outbox.send(&message("u1/resumed/evt_1")).await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["u1_resumed_evt_1.html", "u1_resumed_evt_1.json"]);
        let entry: OutboxEntry =
            serde_json::from_slice(&std::fs::read(dir.join("u1_resumed_evt_1.json")).unwrap())
                .unwrap();
        assert_eq!(entry.from, "billing@example.com");
        assert_eq!(entry.message, message("u1/resumed/evt_1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn email_config_needs_a_sender_address() {
        let env = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(EmailConfig::load(&env(&[])).unwrap().is_none());
        assert!(EmailConfig::load(&env(&[("EMAIL_FROM", "nobody")])).is_err());
        let cfg = EmailConfig::load(&env(&[
            ("EMAIL_FROM", "billing@example.com"),
            ("EMAIL_OUTBOX_DIR", "/tmp/out"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.product_name, "Tierflow");
        assert_eq!(cfg.outbox_dir, Some(PathBuf::from("/tmp/out")));
    }
}
