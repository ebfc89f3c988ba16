//! A subscription's created/updated/deleted, and a deleted customer.

use super::*;
use crate::domain::profile::AppliedVersion;

pub(super) fn previous_status(event: &Event) -> Option<&str> {
    event
        .data
        .previous_attributes
        .as_ref()?
        .get("status")?
        .as_str()
}

/// `previous_attributes.invoice_settings.default_payment_method` of a `customer.updated` that
/// changed it ("" when there was none).
fn previous_default_payment_method(event: &Event) -> Option<&str> {
    let previous = event
        .data
        .previous_attributes
        .as_ref()?
        .get("invoice_settings")?
        .get("default_payment_method")?;
    Some(previous.as_str().unwrap_or(""))
}

pub(super) fn subscription_changed(
    event: &Event,
    incoming: &Subscription,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let profile = input.profile;
    let fetched = input.fetched_subscription.filter(|s| s.id == incoming.id);
    let sub = fetched.unwrap_or(incoming);
    let ended = matches!(sub.status.as_str(), "canceled" | "incomplete_expired");
    if let Some(current) = &profile.subscription_id {
        if current != &sub.id && (ended || sub.status == "incomplete") {
            return Decision::Ignore(format!("{} is not the user's current subscription", sub.id));
        }
    }
    if fetched.is_none() {
        let version = IncomingVersion {
            object_id: &sub.id,
            event_id: &event.id,
            created: event.created,
            status: &sub.status,
            previous_status: previous_status(event),
        };
        match order(profile.subscription_version.as_ref(), &version) {
            Order::Stale => return Decision::Ignore("older than the state already applied".into()),
            Order::Undecidable => return Decision::FetchSubscription(sub.id.clone()),
            Order::Newer => {}
        }
        if schedule_missing(profile, sub)
            || crate::subscription_state::discount_unknown(profile, sub)
        {
            // Released, or a late delivery from before the scheduling: Stripe's copy says.
            return Decision::FetchSubscription(sub.id.clone());
        }
    }
    let mut next = profile.clone();
    let prev = if fetched.is_some() {
        None
    } else {
        previous_status(event)
    };
    if let Err(reason) = apply_subscription(&mut next, sub, event, prev, input, policy) {
        return Decision::Fail(reason);
    }
    let links = vec![(sub.customer_id().to_owned(), input.user_id.clone())];
    Decision::Apply(Box::new(application(
        event,
        input,
        next,
        vec![],
        links,
        format!("{} is {}", sub.id, sub.status),
    )))
}

/// Copies a subscription's state onto the profile (see [`crate::subscription_state`]).
pub(super) fn apply_subscription(
    profile: &mut BillingProfile,
    sub: &Subscription,
    event: &Event,
    previous_status: Option<&str>,
    input: &Input<'_>,
    policy: Policy,
) -> Result<(), String> {
    let fetched = input.fetched_subscription.is_some_and(|f| f.id == sub.id);
    let seen = Observation {
        source: &event.id,
        at: if fetched {
            input.fetched_at.max(event.created)
        } else {
            event.created
        },
        previous_status,
        kind: if fetched {
            Seen::Fetched
        } else {
            Seen::Delivered
        },
    };
    crate::subscription_state::apply_subscription(
        profile,
        sub,
        &seen,
        input.now,
        input.catalog,
        policy.grace_days,
    )
}

/// `customer.subscription.trial_will_end` (three days before the end): the trial-ending email,
/// with a link to add a card when none is on file, and its domain event. It changes no state
/// (the subscription's own events do), so the version guard does not hold it back.
pub(super) fn trial_will_end(event: &Event, sub: &Subscription, input: &Input<'_>) -> Decision {
    let profile = input.profile;
    if profile.subscription_id.as_deref() != Some(sub.id.as_str()) {
        return Decision::Ignore(format!("{} is not the user's current subscription", sub.id));
    }
    if sub.status != "trialing" {
        return Decision::Ignore(format!("{} is {}, no longer trialing", sub.id, sub.status));
    }
    let Some(trial_end) = sub.trial_end else {
        return Decision::Fail(format!("{} is trialing without a trial_end", sub.id));
    };
    let mut effects = Effects::default();
    let card = profile.has_payment_method() || sub.default_payment_method.is_some();
    let mut fields = Map::new();
    fields.insert("tier".into(), json!(profile.tier));
    fields.insert("trial_end".into(), json!(rfc3339(trial_end)));
    fields.insert("has_payment_method".into(), json!(card));
    effects.add_email(profile, "trial_ending", fields, &event.id);
    effects.add_event(
        profile,
        "trial.ending",
        json!({"tier": profile.tier, "trial_end": rfc3339(trial_end), "has_payment_method": card}),
        &event.id,
    );
    Decision::Apply(Box::new(Application {
        profile: profile.clone(),
        customer_links: vec![],
        payments: vec![],
        effects,
        detail: format!("{}'s trial ends at {}", sub.id, rfc3339(trial_end)),
    }))
}

/// `customer.updated`: records whether the customer has a default payment method (a card added
/// in the portal during a trial is what lets the trial convert).
pub(super) fn customer_updated(event: &Event, customer: &Customer, input: &Input<'_>) -> Decision {
    let profile = input.profile;
    if profile.customer_id.as_deref() != Some(customer.id.as_str()) {
        return Decision::Ignore(format!(
            "{} is not the user's current customer",
            customer.id
        ));
    }
    let card = customer.default_payment_method_id();
    // Deliveries are not ordered: the guard the subscriptions have, with the default payment
    // method as the state ("" for none) and the event's previous one for same-second ties.
    let version = IncomingVersion {
        object_id: &customer.id,
        event_id: &event.id,
        created: event.created,
        status: card.unwrap_or(""),
        previous_status: previous_default_payment_method(event),
    };
    match order(profile.customer_version.as_ref(), &version) {
        Order::Stale => {
            return Decision::Ignore("older than the customer state already applied".into())
        }
        // A card changed there and back within one second: applied as delivered; the
        // customer's next event sets it right (display only: Stripe decides what it charges).
        Order::Undecidable | Order::Newer => {}
    }
    // An event that changed the card is recorded even when the profile already shows its
    // card (an older one may still be on its way); any other is needed only to correct it.
    if card == profile.customer_payment_method.as_deref() && version.previous_status.is_none() {
        return Decision::Ignore("the default payment method is unchanged".into());
    }
    let mut next = profile.clone();
    next.customer_payment_method = card.map(str::to_owned);
    next.customer_version = Some(AppliedVersion {
        object_id: customer.id.clone(),
        created: event.created,
        event_id: event.id.clone(),
        status: card.unwrap_or("").to_owned(),
        previous_status: version.previous_status.map(str::to_owned),
    });
    next.updated_at = input.now;
    Decision::Apply(Box::new(application(
        event,
        input,
        next,
        vec![],
        vec![],
        format!("{}'s default payment method changed", customer.id),
    )))
}

pub(super) fn customer_deleted(event: &Event, customer: &Customer, input: &Input<'_>) -> Decision {
    if input
        .profile
        .customer_id
        .as_deref()
        .is_some_and(|c| c != customer.id)
    {
        return Decision::Ignore(format!(
            "{} is not the user's current customer",
            customer.id
        ));
    }
    let mut profile = input.profile.clone();
    profile.clear_subscription(input.catalog);
    profile.customer_id = None;
    profile.updated_at = input.now;
    Decision::Apply(Box::new(application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!("customer {} deleted", customer.id),
    )))
}
