//! The messages about the plan itself: subscribed, changed, downgraded, canceled, resumed.

use super::{display_date, free_plan, tier_name, Draft, Inputs, TemplateError};
use crate::domain::time::rfc3339;

/// `subscription_confirmed`: a first subscription, or a change of paid plan that applies now.
pub(super) fn subscription_confirmed(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        period_end,
        manage,
    } = inputs;
    let tier = f.tier("tier").unwrap_or(profile.tier.clone());
    let mut paragraphs = vec![match f.tier("previous_tier") {
        Some(prev) if !catalog.is_free(&prev) && prev != tier => format!(
            "Your {product} plan changed from {} to {}. Everything in {} is available now.",
            tier_name(catalog, &prev),
            tier_name(catalog, &tier),
            tier_name(catalog, &tier)
        ),
        _ => format!(
            "Thank you for subscribing to {product}. Your {} plan is active.",
            tier_name(catalog, &tier)
        ),
    }];
    if let Some(end) = &period_end {
        paragraphs.push(format!("Your subscription renews on {end}."));
    }
    Ok(Draft {
        subject: format!("Your {product} plan is now {}", tier_name(catalog, &tier)),
        paragraphs,
        action: manage,
    })
}

/// `downgrade_scheduled`: a move to a lower plan at the end of the period (the tier is the target).
pub(super) fn downgrade_scheduled(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        period_end,
        manage,
    } = inputs;
    let pending = profile.pending_change.as_ref();
    let target = f
        .tier("tier")
        .or(pending.map(|p| p.target_tier.clone()))
        .ok_or(TemplateError::MissingField {
            template: f.template,
            field: "tier",
        })?;
    let current = f.tier("previous_tier").unwrap_or(profile.tier.clone());
    let when = f
        .text("effective_at")
        .map(display_date)
        .or(pending.map(|p| display_date(&rfc3339(p.effective_at))))
        .or(period_end)
        .ok_or(TemplateError::MissingField {
            template: f.template,
            field: "effective_at",
        })?;
    Ok(Draft {
        subject: format!("Your {product} plan changes to {} on {when}", tier_name(catalog, &target)),
        paragraphs: vec![
            format!(
                "You keep everything in {} until {when}. From then on your plan is {} and you will be billed its price.",
                tier_name(catalog, &current),
                tier_name(catalog, &target)
            ),
            "Changed your mind? You can withdraw the change any time before that date.".into(),
        ],
        action: manage,
    })
}

/// `downgrade_applied`: a scheduled downgrade that took effect.
pub(super) fn downgrade_applied(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        period_end,
        manage,
    } = inputs;
    let tier = f.tier("tier").unwrap_or(profile.tier.clone());
    let mut paragraphs = vec![match f.tier("previous_tier") {
        Some(prev) => format!(
            "Your {product} plan changed from {} to {} as scheduled.",
            tier_name(catalog, &prev),
            tier_name(catalog, &tier)
        ),
        None => format!("Your {product} plan is now {}.", tier_name(catalog, &tier)),
    }];
    if let Some(end) = &period_end {
        paragraphs.push(format!(
            "Your next renewal, at the {} price, is on {end}.",
            tier_name(catalog, &tier)
        ));
    }
    Ok(Draft {
        subject: format!("Your {product} plan is now {}", tier_name(catalog, &tier)),
        paragraphs,
        action: manage,
    })
}

/// `cancellation_scheduled`: a subscription that ends at the period end, access kept until then.
pub(super) fn cancellation_scheduled(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        profile,
        product,
        period_end,
        manage,
    } = inputs;
    let end = period_end.ok_or(TemplateError::MissingField {
        template: f.template,
        field: "period_end",
    })?;
    Ok(Draft {
        subject: format!("Your {product} subscription ends on {end}"),
        paragraphs: vec![
            format!(
                "Your {} subscription is canceled. You keep access until {end} and will not be charged again.",
                tier_name(catalog, &profile.tier)
            ),
            "You can resume it any time before that date.".into(),
        ],
        action: manage,
    })
}

/// `resumed`: a scheduled cancellation withdrawn: the subscription keeps renewing.
pub(super) fn resumed(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        profile,
        catalog,
        product,
        period_end,
        manage,
        ..
    } = inputs;
    let mut paragraphs = vec![format!(
        "Your {} subscription is active again and will keep renewing.",
        tier_name(catalog, &profile.tier)
    )];
    if let Some(end) = &period_end {
        paragraphs.push(format!("Your next renewal is on {end}."));
    }
    Ok(Draft {
        subject: format!("Your {product} subscription continues"),
        paragraphs,
        action: manage,
    })
}

/// `subscription_canceled`: a subscription that ended: the account is on the free tier.
pub(super) fn subscription_canceled(inputs: Inputs<'_>) -> Result<Draft, TemplateError> {
    let Inputs {
        f,
        catalog,
        product,
        manage,
        ..
    } = inputs;
    let previous = f
        .tier("previous_tier")
        .filter(|t| !catalog.is_free(t))
        .map(|t| format!("{} ", tier_name(catalog, &t)))
        .unwrap_or_default();
    Ok(Draft {
        subject: format!("Your {product} subscription has ended"),
        paragraphs: vec![
            format!(
                "Your {previous}subscription has ended and your account is now on the {} plan.",
                free_plan(catalog)
            ),
            "You can subscribe again whenever you like.".into(),
        ],
        action: manage,
    })
}
