//! A subscription's created/updated/deleted, and a deleted customer.

use super::*;

pub(super) fn previous_status(event: &Event) -> Option<&str> {
    event
        .data
        .previous_attributes
        .as_ref()?
        .get("status")?
        .as_str()
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
        if schedule_missing(profile, sub) {
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
