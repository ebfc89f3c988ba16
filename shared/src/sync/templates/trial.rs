//! The messages about a trial: started, ending soon, and expired without a card.

use super::{display_date, free_plan, tier_name, Draft, Inputs, TemplateError};
use crate::domain::time::rfc3339;
use crate::domain::SubscriptionStatus;

/// The trial's end to show: the job's `trial_end`, else the profile's.
fn trial_end(inputs: &Inputs<'_>) -> Result<String, TemplateError> {
    inputs
        .f
        .text("trial_end")
        .map(display_date)
        .or(inputs.profile.trial_end.map(|t| display_date(&rfc3339(t))))
        .ok_or(TemplateError::MissingField {
            template: inputs.f.template,
            field: "trial_end",
        })
}

/// The link that opens the portal's add-a-card flow: the billing page with `#add-card`.
pub(super) fn add_card_link(billing_url: &str) -> String {
    let page = billing_url.split('#').next().unwrap_or(billing_url);
    format!("{page}#add-card")
}

/// `trial_started`: a trial began; says when it ends and what happens then.
pub(super) fn trial_started(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let end = trial_end(&inputs)?;
    let Inputs {
        f,
        catalog,
        profile,
        product,
        manage,
        ..
    } = inputs;
    let tier = f.tier("tier").unwrap_or(profile.tier.clone());
    let name = tier_name(catalog, &tier);
    let after = if profile.has_payment_method() {
        format!("On {end} your card will be charged and your {name} plan continues.")
    } else {
        format!("Add a card before {end} to keep {name} after the trial.")
    };
    Ok(Draft {
        subject: format!("Your {product} {name} trial has started"),
        paragraphs: vec![
            format!("Welcome to {product}. Everything in {name} is yours to try until {end}."),
            after,
        ],
        action: manage,
    })
}

/// `trial_ending`: three days before the end; without a card on file, a link to add one.
pub(super) fn trial_ending(
    inputs: Inputs<'_>,
    billing_url: Option<&str>,
) -> Result<Draft, TemplateError> {
    let end = trial_end(&inputs)?;
    let Inputs {
        f,
        catalog,
        profile,
        product,
        manage,
        ..
    } = inputs;
    let tier = f.tier("tier").unwrap_or(profile.tier.clone());
    let name = tier_name(catalog, &tier);
    let card = f
        .fields
        .get("has_payment_method")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(profile.has_payment_method());
    if card {
        return Ok(Draft {
            subject: format!("Your {product} {name} trial ends on {end}"),
            paragraphs: vec![format!(
                "Your {name} trial ends on {end}. Your card on file will then be charged and your plan continues; nothing else to do."
            )],
            action: manage,
        });
    }
    Ok(Draft {
        subject: format!("Your {product} {name} trial ends on {end}: add a card to keep it"),
        paragraphs: vec![
            format!("Your {name} trial ends on {end}, and there is no card on file."),
            format!(
                "Add a card before then to keep {name}; otherwise your trial ends and you lose its features."
            ),
        ],
        action: billing_url.map(|url| ("Add a card".to_owned(), add_card_link(url))),
    })
}

/// `trial_expired`: the trial ended without a card: canceled (back on free) or paused.
pub(super) fn trial_expired(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        manage,
        ..
    } = inputs;
    let tier = f
        .tier("previous_tier")
        .filter(|t| !catalog.is_free(t))
        .unwrap_or(profile.tier.clone());
    let name = tier_name(catalog, &tier);
    let paragraphs = if profile.status == SubscriptionStatus::Paused {
        vec![
            format!("Your {name} trial has ended without a card, so your subscription is paused."),
            format!("Add a card and resume it to get {name} back."),
        ]
    } else {
        vec![
            format!(
                "Your {name} trial has ended without a card, and your account is now on the {} plan.",
                free_plan(catalog)
            ),
            "You can subscribe whenever you like.".into(),
        ]
    };
    Ok(Draft {
        subject: format!("Your {product} {name} trial has ended"),
        paragraphs,
        action: manage,
    })
}
