//! The messages about money: receipts, failed payments, payments to confirm, disputes and
//! refunds.

use super::{display_date, free_plan, tier_name, Draft, Inputs, TemplateError};
use crate::domain::profile::RevocationAction;
use crate::domain::time::rfc3339;
use serde_json::Value;

/// `payment_receipt`: a payment that succeeded.
pub(super) fn payment_receipt(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs { f, product, .. } = inputs;
    let amount = f.money()?;
    let mut paragraphs = vec![format!("We received your payment of {amount}. Thank you.")];
    if let Some(description) = f.text("description") {
        paragraphs.push(format!("For: {description}"));
    }
    Ok(Draft {
        subject: format!("Your {product} receipt for {amount}"),
        paragraphs,
        action: f
            .text("invoice_url")
            .map(|u| ("View the invoice".to_owned(), u.to_owned())),
    })
}

/// `payment_failed`: a renewal that could not be charged, and how long access lasts.
pub(super) fn payment_failed(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        profile,
        product,
        manage,
        ..
    } = inputs;
    let amount = f.money()?;
    let until = f
        .text("grace_until")
        .map(display_date)
        .or(profile.grace_until.map(|t| display_date(&rfc3339(t))))
        .ok_or(TemplateError::MissingField {
            template: f.template,
            field: "grace_until",
        })?;
    Ok(Draft {
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
    })
}

/// `action_required`: a payment the bank wants the user to confirm (3-D Secure), and where.
pub(super) fn action_required(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs { f, product, .. } = inputs;
    let amount = f.money()?;
    let url = f.require_text("action_url")?;
    Ok(Draft {
        subject: format!("Confirm your {product} payment of {amount}"),
        paragraphs: vec![format!(
            "Your bank asks you to confirm the payment of {amount}. It completes once you confirm it."
        )],
        action: Some(("Confirm the payment".to_owned(), url.to_owned())),
    })
}

/// `dispute`: a disputed payment: paid access suspended, and whether billing stopped.
pub(super) fn dispute(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        ..
    } = inputs;
    let amount = f.money()?;
    let mut paragraphs = vec![
        format!("A payment of {amount} to {product} was disputed with your bank."),
        format!(
            "While the dispute is open, access to paid features is suspended and your account is on the {} plan.",
            free_plan(catalog)
        ),
    ];
    if let Some(reason) = f.text("reason") {
        paragraphs.push(format!("Reason given: {}", reason.replace('_', " ")));
    }
    match profile.revocation.as_ref().and_then(|r| r.stripe_action) {
        Some(RevocationAction::CancelNow) => paragraphs
            .push("The subscription is canceled, so you will not be charged again.".into()),
        Some(RevocationAction::CancelAtPeriodEnd) => paragraphs
            .push("The subscription will not renew, so you will not be charged again.".into()),
        _ => {}
    }
    paragraphs.push("If this was a mistake, reply to this message so we can sort it out.".into());
    Ok(Draft {
        subject: format!("A payment to {product} was disputed"),
        paragraphs,
        action: None,
    })
}

/// `dispute_won`: a dispute closed in Tierflow's favour: the payment stands.
pub(super) fn dispute_won(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        ..
    } = inputs;
    let amount = f.money()?;
    let mut paragraphs = vec![format!(
        "The dispute about your payment of {amount} to {product} is closed: the payment stands."
    )];
    if profile.revocation.is_none() && !catalog.is_free(&profile.tier) {
        paragraphs.push(format!(
            "Your access to the {} plan is back.",
            tier_name(catalog, &profile.tier)
        ));
    }
    Ok(Draft {
        subject: format!("Your {product} dispute is closed"),
        paragraphs,
        action: None,
    })
}

/// `refund`: a refund, and whether it ended the subscription.
pub(super) fn refund(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        ..
    } = inputs;
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
        paragraphs.push(format!(
            "As the subscription was refunded in full, your account is now on the {} plan.",
            free_plan(catalog)
        ));
    }
    Ok(Draft {
        subject: format!("Your {product} refund of {amount}"),
        paragraphs,
        action: None,
    })
}
