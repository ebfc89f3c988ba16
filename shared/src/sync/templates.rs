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
//! | refund | amount, currency, [full] |

use crate::domain::profile::RevocationAction;
use crate::domain::{BillingProfile, Tier};
use crate::time::rfc3339;
use serde_json::{Map, Value};

/// Every template name the worker can render.
pub const TEMPLATES: [&str; 12] = [
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
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A job whose email cannot be written; it fails (and is dead-lettered) rather than send a
/// message with a hole in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown email template {0:?}")]
    Unknown(String),
    #[error("email template {template} needs the field {field}")]
    MissingField {
        template: &'static str,
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

    let draft = match name {
        "subscription_confirmed" => {
            let tier = f.tier("tier").unwrap_or(profile.tier);
            let mut paragraphs = vec![match f.tier("previous_tier") {
                Some(prev) if prev.is_paid() && prev != tier => format!(
                    "Your {product} plan changed from {} to {}. Everything in {} is available now.",
                    tier_name(prev),
                    tier_name(tier),
                    tier_name(tier)
                ),
                _ => format!(
                    "Thank you for subscribing to {product}. Your {} plan is active.",
                    tier_name(tier)
                ),
            }];
            if let Some(end) = &period_end {
                paragraphs.push(format!("Your subscription renews on {end}."));
            }
            Draft {
                subject: format!("Your {product} plan is now {}", tier_name(tier)),
                paragraphs,
                action: manage,
            }
        }
        "downgrade_scheduled" => {
            let pending = profile.pending_change.as_ref();
            let target = f.tier("tier").or(pending.map(|p| p.target_tier)).ok_or(
                TemplateError::MissingField {
                    template: name,
                    field: "tier",
                },
            )?;
            let current = f.tier("previous_tier").unwrap_or(profile.tier);
            let when = f
                .text("effective_at")
                .map(display_date)
                .or(pending.map(|p| display_date(&rfc3339(p.effective_at))))
                .or(period_end)
                .ok_or(TemplateError::MissingField {
                    template: name,
                    field: "effective_at",
                })?;
            Draft {
                subject: format!("Your {product} plan changes to {} on {when}", tier_name(target)),
                paragraphs: vec![
                    format!(
                        "You keep everything in {} until {when}. From then on your plan is {} and you will be billed its price.",
                        tier_name(current),
                        tier_name(target)
                    ),
                    "Changed your mind? You can withdraw the change any time before that date.".into(),
                ],
                action: manage,
            }
        }
        "downgrade_applied" => {
            let tier = f.tier("tier").unwrap_or(profile.tier);
            let mut paragraphs = vec![match f.tier("previous_tier") {
                Some(prev) => format!(
                    "Your {product} plan changed from {} to {} as scheduled.",
                    tier_name(prev),
                    tier_name(tier)
                ),
                None => format!("Your {product} plan is now {}.", tier_name(tier)),
            }];
            if let Some(end) = &period_end {
                paragraphs.push(format!(
                    "Your next renewal, at the {} price, is on {end}.",
                    tier_name(tier)
                ));
            }
            Draft {
                subject: format!("Your {product} plan is now {}", tier_name(tier)),
                paragraphs,
                action: manage,
            }
        }
        "cancellation_scheduled" => {
            let end = period_end.ok_or(TemplateError::MissingField {
                template: name,
                field: "period_end",
            })?;
            Draft {
                subject: format!("Your {product} subscription ends on {end}"),
                paragraphs: vec![
                    format!(
                        "Your {} subscription is canceled. You keep access until {end} and will not be charged again.",
                        tier_name(profile.tier)
                    ),
                    "You can resume it any time before that date.".into(),
                ],
                action: manage,
            }
        }
        "resumed" => {
            let mut paragraphs = vec![format!(
                "Your {} subscription is active again and will keep renewing.",
                tier_name(profile.tier)
            )];
            if let Some(end) = &period_end {
                paragraphs.push(format!("Your next renewal is on {end}."));
            }
            Draft {
                subject: format!("Your {product} subscription continues"),
                paragraphs,
                action: manage,
            }
        }
        "subscription_canceled" => {
            let previous = f
                .tier("previous_tier")
                .filter(|t| t.is_paid())
                .map(|t| format!("{} ", tier_name(t)))
                .unwrap_or_default();
            Draft {
                subject: format!("Your {product} subscription has ended"),
                paragraphs: vec![
                    format!("Your {previous}subscription has ended and your account is now on the Free plan."),
                    "You can subscribe again whenever you like.".into(),
                ],
                action: manage,
            }
        }
        "payment_receipt" => {
            let amount = f.money()?;
            let mut paragraphs = vec![format!("We received your payment of {amount}. Thank you.")];
            if let Some(description) = f.text("description") {
                paragraphs.push(format!("For: {description}"));
            }
            Draft {
                subject: format!("Your {product} receipt for {amount}"),
                paragraphs,
                action: f
                    .text("invoice_url")
                    .map(|u| ("View the invoice".to_owned(), u.to_owned())),
            }
        }
        "payment_failed" => {
            let amount = f.money()?;
            let until = f
                .text("grace_until")
                .map(display_date)
                .or(profile.grace_until.map(|t| display_date(&rfc3339(t))))
                .ok_or(TemplateError::MissingField {
                    template: name,
                    field: "grace_until",
                })?;
            Draft {
                subject: format!("Your {product} payment of {amount} failed"),
                paragraphs: vec![
                    format!("We could not charge your payment method for {amount}."),
                    format!(
                        "Your plan stays active until {until}. Please pay the invoice or update your payment method before then to keep it."
                    ),
                ],
                action: f
                    .text("invoice_url")
                    .map(|u| ("Pay the invoice".to_owned(), u.to_owned()))
                    .or(manage),
            }
        }
        "action_required" => {
            let amount = f.money()?;
            let url = f.require_text("action_url")?;
            Draft {
                subject: format!("Confirm your {product} payment of {amount}"),
                paragraphs: vec![format!(
                    "Your bank asks you to confirm the payment of {amount}. It completes once you confirm it."
                )],
                action: Some(("Confirm the payment".to_owned(), url.to_owned())),
            }
        }
        "dispute" => {
            let amount = f.money()?;
            let mut paragraphs = vec![
                format!("A payment of {amount} to {product} was disputed with your bank."),
                "While the dispute is open, access to paid features is suspended and your account is on the Free plan.".to_owned(),
            ];
            if let Some(reason) = f.text("reason") {
                paragraphs.push(format!("Reason given: {}", reason.replace('_', " ")));
            }
            match profile.revocation.as_ref().and_then(|r| r.stripe_action) {
                Some(RevocationAction::CancelNow) => paragraphs
                    .push("The subscription is canceled, so you will not be charged again.".into()),
                Some(RevocationAction::CancelAtPeriodEnd) => paragraphs.push(
                    "The subscription will not renew, so you will not be charged again.".into(),
                ),
                _ => {}
            }
            paragraphs
                .push("If this was a mistake, reply to this message so we can sort it out.".into());
            Draft {
                subject: format!("A payment to {product} was disputed"),
                paragraphs,
                action: None,
            }
        }
        "dispute_won" => {
            let amount = f.money()?;
            let mut paragraphs = vec![format!(
                "The dispute about your payment of {amount} to {product} is closed: the payment stands."
            )];
            if profile.revocation.is_none() && profile.tier.is_paid() {
                paragraphs.push(format!(
                    "Your access to the {} plan is back.",
                    tier_name(profile.tier)
                ));
            }
            Draft {
                subject: format!("Your {product} dispute is closed"),
                paragraphs,
                action: None,
            }
        }
        "refund" => {
            let amount = f.money()?;
            let mut paragraphs = vec![format!(
                "We refunded {amount}. It reaches your account within 5 to 10 business days."
            )];
            let ended = f.fields.get("full").and_then(Value::as_bool) == Some(true)
                && profile
                    .revocation
                    .as_ref()
                    .is_some_and(|r| r.reason == "refund");
            if ended {
                paragraphs.push("As the subscription was refunded in full, your account is now on the Free plan.".into());
            }
            Draft {
                subject: format!("Your {product} refund of {amount}"),
                paragraphs,
                action: None,
            }
        }
        other => return Err(TemplateError::Unknown(other.to_owned())),
    };
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

fn tier_name(tier: Tier) -> String {
    let raw = tier.as_str();
    let mut chars = raw.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::{PendingChange, Revocation};
    use crate::domain::{SubscriptionStatus, UserId};
    use serde_json::json;

    fn profile() -> BillingProfile {
        let mut p = BillingProfile::new_free(UserId::parse("u1").unwrap());
        p.tier = Tier::Professional;
        p.status = SubscriptionStatus::Active;
        p.current_period_end = Some(1_795_391_165); // 2026-11-22
        p
    }

    fn ctx(p: &BillingProfile) -> EmailContext<'_> {
        EmailContext {
            product: "Acme",
            billing_url: Some("https://app.example.com/billing"),
            profile: p,
        }
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn amounts_use_the_currency_minor_unit() {
        assert_eq!(format_amount(4900, "usd"), "49.00 USD");
        assert_eq!(format_amount(5, "eur"), "0.05 EUR");
        assert_eq!(format_amount(500, "JPY"), "500 JPY");
        assert_eq!(format_amount(1234, "kwd"), "1.234 KWD");
        assert_eq!(format_amount(-150, "usd"), "-1.50 USD");
    }

    #[test]
    fn every_template_renders_text_and_html() {
        let mut p = profile();
        p.grace_until = Some(1_795_000_000);
        p.pending_change = Some(PendingChange {
            target_tier: Tier::Starter,
            billing_cycle: None,
            effective_at: 1_795_391_165,
            schedule_id: None,
            change_id: None,
            scheduled_at: None,
        });
        let f = fields(json!({
            "tier": "professional", "previous_tier": "starter", "amount": 4900, "currency": "usd",
            "action_url": "https://pay.example/3ds", "invoice_url": "https://inv.example/1",
            "grace_until": "2026-11-18T07:06:40Z", "period_end": "2026-11-22T23:46:05Z"
        }));
        for name in TEMPLATES {
            let email = render(name, &f, &ctx(&p)).unwrap();
            assert!(!email.subject.is_empty(), "{name}");
            assert!(email.text.starts_with("Hello,"), "{name}");
            assert!(email.html.contains("<p>Hello,</p>"), "{name}");
            assert!(email.text.ends_with("— Acme\n"), "{name}");
        }
    }

    #[test]
    fn payment_failed_states_the_grace_end() {
        let f = fields(
            json!({"amount": 1900, "currency": "usd", "grace_until": "2026-11-18T07:06:40Z"}),
        );
        let email = render("payment_failed", &f, &ctx(&profile())).unwrap();
        assert_eq!(email.subject, "Your Acme payment of 19.00 USD failed");
        assert!(
            email.text.contains("active until November 18, 2026"),
            "{}",
            email.text
        );
        assert!(email
            .text
            .contains("Manage your billing: https://app.example.com/billing"));
    }

    #[test]
    fn action_required_links_the_authentication_page() {
        let f = fields(
            json!({"amount": 4900, "currency": "usd", "action_url": "https://pay.example/a?b=1&c=2"}),
        );
        let email = render("action_required", &f, &ctx(&profile())).unwrap();
        assert!(email
            .text
            .contains("Confirm the payment: https://pay.example/a?b=1&c=2"));
        assert!(email
            .html
            .contains("href=\"https://pay.example/a?b=1&amp;c=2\""));
        let missing = fields(json!({"amount": 4900, "currency": "usd"}));
        assert_eq!(
            render("action_required", &missing, &ctx(&profile())).unwrap_err(),
            TemplateError::MissingField {
                template: "action_required",
                field: "action_url"
            }
        );
    }

    #[test]
    fn downgrade_scheduled_falls_back_to_the_pending_change() {
        let mut p = profile();
        p.pending_change = Some(PendingChange {
            target_tier: Tier::Starter,
            billing_cycle: None,
            effective_at: 1_795_391_165,
            schedule_id: None,
            change_id: None,
            scheduled_at: None,
        });
        let email = render("downgrade_scheduled", &Map::new(), &ctx(&p)).unwrap();
        assert_eq!(
            email.subject,
            "Your Acme plan changes to Starter on November 22, 2026"
        );
        assert!(email.text.contains("You keep everything in Professional"));
    }

    #[test]
    fn dispute_and_refund_say_what_happened_to_access() {
        let mut p = profile();
        p.tier = Tier::Free;
        p.revocation = Some(Revocation {
            reason: "refund".into(),
            at: 1,
            stripe_action: None,
        });
        let f = fields(json!({"amount": 4900, "currency": "usd", "full": true}));
        let refund = render("refund", &f, &ctx(&p)).unwrap();
        assert!(refund.text.contains("We refunded 49.00 USD."));
        assert!(refund.text.contains("now on the Free plan"));
        let dispute = render(
            "dispute",
            &fields(json!({"amount": 4900, "currency": "usd", "reason": "fraudulent"})),
            &ctx(&p),
        )
        .unwrap();
        assert!(dispute
            .text
            .contains("access to paid features is suspended"));
        assert!(dispute.text.contains("Reason given: fraudulent"));
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let f = fields(
            json!({"amount": 100, "currency": "usd", "description": "<script>x</script> & co"}),
        );
        let email = render("payment_receipt", &f, &ctx(&profile())).unwrap();
        assert!(email
            .html
            .contains("&lt;script&gt;x&lt;/script&gt; &amp; co"));
        assert!(!email.html.contains("<script>"));
    }

    #[test]
    fn unknown_templates_and_missing_amounts_are_errors() {
        assert_eq!(
            render("welcome", &Map::new(), &ctx(&profile())).unwrap_err(),
            TemplateError::Unknown("welcome".into())
        );
        assert!(render("payment_receipt", &Map::new(), &ctx(&profile())).is_err());
    }
}
