//! The emails Tierflow sends, as text and HTML. A template reads the fields its sync job carries
//! (`SyncJob::email_fields`, written by `effects.rs`, the webhook's `decide` and the
//! subscription API) and falls back to the user's current profile for dates it can derive.
//!
//! | template | fields (optional ones in brackets) |
//! |---|---|
//! | subscription_confirmed | tier, [previous_tier], [period_end] |
//! | downgrade_scheduled | tier (the target), [previous_tier], [effective_at] (else the pending change) |
//! | downgrade_applied | tier, [previous_tier], [period_end] |
//! | cancellation_scheduled | [period_end] (else the profile's period end) |
//! | resumed | [period_end] |
//! | subscription_canceled | [previous_tier] |
//! | payment_receipt | amount, currency, [description], [invoice_url] |
//! | payment_failed | amount, currency, grace_until (else the profile's), [invoice_url] |
//! | action_required | amount, currency, action_url |
//! | dispute | amount, currency, [reason] |
//! | dispute_won | amount, currency |
//! | refund | amount, currency, [full] |
//! | trial_started | [tier], [trial_end] (else the profile's) |
//! | trial_ending | [tier], trial_end (else the profile's), [has_payment_method] |
//! | trial_expired | [previous_tier] |

mod payment;
mod plan;
#[cfg(test)]
mod tests;
mod trial;

use crate::domain::time::rfc3339;
use crate::domain::{BillingProfile, Catalog, Tier};
use serde_json::{Map, Value};

/// Every template name the worker can render.
pub const TEMPLATES: [&str; 15] = [
    "subscription_confirmed",
    "downgrade_scheduled",
    "downgrade_applied",
    "cancellation_scheduled",
    "resumed",
    "subscription_canceled",
    "payment_receipt",
    "payment_failed",
    "action_required",
    "dispute",
    "dispute_won",
    "refund",
    "trial_started",
    "trial_ending",
    "trial_expired",
];

/// What every message may mention besides its own fields.
#[derive(Debug, Clone, Copy)]
pub struct EmailContext<'a> {
    /// The product's name as users know it.
    pub product: &'a str,
    /// Where users manage their billing, linked from messages that ask them to act.
    pub billing_url: Option<&'a str>,
    /// The user's profile as the worker read it.
    pub profile: &'a BillingProfile,
    /// The catalog: the tiers' display names, and which tier is free.
    pub catalog: &'a Catalog,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The subject line, plain text.
    pub subject: String,
    /// The plain-text body, signed with the product's name.
    pub text: String,
    /// A whole HTML document with the same content, every value escaped.
    pub html: String,
}

/// A job whose email cannot be written; it fails (and is dead-lettered) rather than send a
/// message with a hole in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The job names a template that is not in [`TEMPLATES`] (the name it gave).
    #[error("unknown email template {0:?}")]
    Unknown(String),
    /// Neither the job's fields nor the profile give a value the template must show.
    #[error("email template {template} needs the field {field}")]
    MissingField {
        /// The template being rendered.
        template: &'static str,
        /// The `email_fields` key it needed.
        field: &'static str,
    },
}

/// A message before it is laid out: subject, paragraphs and an optional button.
struct Draft {
    subject: String,
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
}

struct Fields<'a> {
    template: &'static str,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn require_text(&self, name: &'static str) -> Result<&str, TemplateError> {
        self.text(name).ok_or(TemplateError::MissingField {
            template: self.template,
            field: name,
        })
    }

    fn tier(&self, name: &str) -> Option<Tier> {
        self.text(name).and_then(|t| Tier::parse(t).ok())
    }

    fn money(&self) -> Result<String, TemplateError> {
        let amount = self.fields.get("amount").and_then(Value::as_i64).ok_or(
            TemplateError::MissingField {
                template: self.template,
                field: "amount",
            },
        )?;
        Ok(format_amount(amount, self.require_text("currency")?))
    }
}

/// What a template reads: its job's fields, the profile, and the two values most templates use.
struct Inputs<'a> {
    f: Fields<'a>,
    profile: &'a BillingProfile,
    catalog: &'a Catalog,
    product: &'a str,
    /// The period end to show: the job's `period_end`, else the profile's.
    period_end: Option<String>,
    /// The "Manage your billing" button, when a billing URL is configured.
    manage: Option<(String, String)>,
}

/// Renders `template` with its job's fields.
pub fn render(
    template: &str,
    fields: &Map<String, Value>,
    ctx: &EmailContext<'_>,
) -> Result<RenderedEmail, TemplateError> {
    let name = TEMPLATES
        .into_iter()
        .find(|t| *t == template)
        .ok_or_else(|| TemplateError::Unknown(template.to_owned()))?;
    let f = Fields {
        template: name,
        fields,
    };
    let profile = ctx.profile;
    let period_end = f.text("period_end").map(display_date).or(profile
        .current_period_end
        .map(|t| display_date(&rfc3339(t))));
    let manage = ctx
        .billing_url
        .map(|url| ("Manage your billing".to_owned(), url.to_owned()));
    let product = ctx.product;

    let inputs = Inputs {
        f,
        profile,
        catalog: ctx.catalog,
        product,
        period_end,
        manage,
    };
    let draft = match name {
        "subscription_confirmed" => plan::subscription_confirmed(inputs),
        "downgrade_scheduled" => plan::downgrade_scheduled(inputs),
        "downgrade_applied" => plan::downgrade_applied(inputs),
        "cancellation_scheduled" => plan::cancellation_scheduled(inputs),
        "resumed" => plan::resumed(inputs),
        "subscription_canceled" => plan::subscription_canceled(inputs),
        "payment_receipt" => payment::payment_receipt(inputs),
        "payment_failed" => payment::payment_failed(inputs),
        "action_required" => payment::action_required(inputs),
        "dispute" => payment::dispute(inputs),
        "dispute_won" => payment::dispute_won(inputs),
        "refund" => payment::refund(inputs),
        "trial_started" => trial::trial_started(inputs),
        "trial_ending" => trial::trial_ending(inputs, ctx.billing_url),
        "trial_expired" => trial::trial_expired(inputs),
        other => Err(TemplateError::Unknown(other.to_owned())),
    }?;
    Ok(lay_out(draft, product))
}

fn lay_out(draft: Draft, product: &str) -> RenderedEmail {
    let mut text = String::from("Hello,\n\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family: sans-serif; line-height: 1.5; max-width: 36em;\">\n<p>Hello,</p>\n",
        escape_html(&draft.subject)
    );
    for p in &draft.paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>\n", escape_html(p)));
    }
    if let Some((label, url)) = &draft.action {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>\n",
            escape_html(url),
            escape_html(label)
        ));
    }
    text.push_str(&format!("— {product}\n"));
    html.push_str(&format!(
        "<p>— {}</p>\n</body></html>\n",
        escape_html(product)
    ));
    RenderedEmail {
        subject: draft.subject,
        text,
        html,
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The tier's display name from the catalog; a tier it no longer defines by its name,
/// capitalised.
fn tier_name(catalog: &Catalog, tier: &Tier) -> String {
    if let Some(spec) = catalog.spec(tier) {
        return spec.name.clone();
    }
    let mut chars = tier.as_str().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The free tier's display name: what an account without a paid plan is on.
fn free_plan(catalog: &Catalog) -> String {
    tier_name(catalog, catalog.free_tier())
}

/// `2026-11-22T23:46:05Z` → `November 22, 2026`; anything else is shown as given.
fn display_date(raw: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let parsed = raw.get(..10).and_then(|date| {
        let mut parts = date.split('-');
        let year: u32 = parts.next()?.parse().ok()?;
        let month: usize = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        Some(format!(
            "{} {day}, {year}",
            MONTHS.get(month.checked_sub(1)?)?
        ))
    });
    parsed.unwrap_or_else(|| raw.to_owned())
}

/// An amount in minor units as people read it: `4900 usd` → `49.00 USD`, `500 jpy` → `500 JPY`.
pub fn format_amount(amount: i64, currency: &str) -> String {
    // Stripe's zero- and three-decimal currencies; every other one has two decimals.
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    let code = currency.trim().to_ascii_lowercase();
    let decimals: u32 = if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    };
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let upper = code.to_ascii_uppercase();
    if decimals == 0 {
        return format!("{sign}{abs} {upper}");
    }
    let unit = 10u64.pow(decimals);
    format!(
        "{sign}{}.{:0width$} {upper}",
        abs / unit,
        abs % unit,
        width = decimals as usize
    )
}
