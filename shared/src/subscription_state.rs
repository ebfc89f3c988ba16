//! Copies a Stripe subscription's state onto a billing profile: the one place that says what
//! a subscription means for a user, used by the webhook (for each event) and by the API (with
//! the subscription a call just returned), so whichever sees a change first records it the
//! same way and the other changes nothing.

use crate::domain::access::grace_end;
use crate::domain::discount::{ActiveDiscount, CouponOff};
use crate::domain::profile::AppliedVersion;
use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, Catalog, PaidPrice, SubscriptionStatus};
use crate::stripe::{Expandable, Subscription};

/// Where and when the subscription was seen in this state: a Stripe event, or Tierflow's own
/// call (`source` then names the request, `at` is when the answer came back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation<'a> {
    /// The event id (or an API cause) recorded as the applied version.
    pub source: &'a str,
    /// Stripe's `created` of the event, or the instant of the API call.
    pub at: UnixTime,
    /// `previous_attributes.status` of the event, when it changed the status.
    pub previous_status: Option<&'a str>,
    /// How the subscription was seen: what its copy can say about a scheduled change.
    pub kind: Seen,
}

/// How a subscription's copy was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// An event's object: its state when the event was created, possibly delivered late.
    Delivered,
    /// Asked from Stripe after the profile it is applied to was read: newer than anything that
    /// profile holds.
    Fetched,
    /// The answer to Tierflow's own call, at [`Observation::at`].
    Answered,
}

/// Whether a delivered `sub` lacks the schedule of the profile's pending change without having
/// carried it out: only Stripe's current copy can say whether the schedule was released.
pub fn schedule_missing(profile: &BillingProfile, sub: &Subscription) -> bool {
    profile.pending_change.as_ref().is_some_and(|change| {
        change.schedule_id.is_some()
            && sub.schedule_id().is_none()
            && profile.subscription_id.as_deref() == Some(sub.id.as_str())
            && !matches!(sub.status.as_str(), "canceled" | "incomplete_expired")
    })
}

/// Whether `sub` carries a discount the profile knows only by id (a delivered event names its
/// discounts without their coupons): Stripe's copy, with them expanded, then says.
pub fn discount_unknown(profile: &BillingProfile, sub: &Subscription) -> bool {
    match sub.discounts.first() {
        Some(Expandable::Id(id)) => profile
            .discount
            .as_ref()
            .is_none_or(|d| &d.id != id || d.off.is_none()),
        _ => false,
    }
}

/// The subscription's (first) discount: from the expanded object, else what the profile knew
/// of the same id, else the id alone.
fn active_discount(known: Option<ActiveDiscount>, sub: &Subscription) -> Option<ActiveDiscount> {
    match sub.discounts.first()? {
        Expandable::Object(d) => Some(ActiveDiscount {
            id: d.id.clone(),
            name: d.coupon.name.clone(),
            off: CouponOff::from_stripe(d.coupon.percent_off, d.coupon.amount_off),
            currency: d.coupon.currency.clone(),
            ends_at: d.end,
        }),
        Expandable::Id(id) => known.filter(|k| &k.id == id).or(Some(ActiveDiscount {
            id: id.clone(),
            name: None,
            off: None,
            currency: None,
            ends_at: None,
        })),
    }
}

/// Copies `sub` onto `profile` and records it as the applied version (never older than the
/// version already applied). Fails, with a reason for a person, on a subscription whose price
/// is not in the catalog.
pub fn apply_subscription(
    profile: &mut BillingProfile,
    sub: &Subscription,
    seen: &Observation<'_>,
    now: UnixTime,
    catalog: &Catalog,
    grace_days: u32,
) -> Result<(), String> {
    let version = AppliedVersion {
        object_id: sub.id.clone(),
        created: seen.at.max(
            profile
                .subscription_version
                .as_ref()
                .map_or(0, |v| v.created),
        ),
        event_id: seen.source.to_owned(),
        status: sub.status.clone(),
        previous_status: seen.previous_status.map(str::to_owned),
    };
    let status = SubscriptionStatus::from_stripe(&sub.status);
    if !sub.customer_id().is_empty() {
        profile.customer_id = Some(sub.customer_id().to_owned());
    }
    if matches!(
        status,
        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
    ) {
        profile.clear_subscription(catalog);
        profile.subscription_version = Some(version);
        return Ok(());
    }
    let price = sub
        .price()
        .ok_or_else(|| format!("{} has no price", sub.id))?;
    let plan = catalog.resolve_price(&price.facts()).ok_or_else(|| {
        format!(
            "price {} (lookup key {:?}) is not in the catalog: no catalog lookup key, tier marks, \
             legacy price entry or tier product",
            price.id, price.lookup_key
        )
    })?;
    let (tier, cycle) = (plan.tier, plan.cycle);

    let new_subscription = profile.subscription_id.as_deref() != Some(sub.id.as_str());
    if new_subscription {
        // A new subscription starts clean: a dispute or refund on an earlier one does not carry over.
        profile.revocation = None;
        profile.pending_change = None;
    }
    profile.subscription_id = Some(sub.id.clone());
    profile.subscription_item_id = sub.primary_item().map(|item| item.id.clone());
    profile.subscription_payment_method = sub
        .default_payment_method
        .as_ref()
        .map(|pm| pm.id().to_owned());
    profile.tier = if profile.revocation.is_some() {
        catalog.free_tier().clone()
    } else {
        tier
    };
    profile.billing_cycle = Some(cycle);
    profile.price = Some(PaidPrice {
        price_id: price.id.clone(),
        amount: price.unit_amount.unwrap_or(0),
        currency: price
            .currency
            .clone()
            .unwrap_or_else(|| catalog.currency.as_str().to_owned()),
        interval: price
            .interval()
            .unwrap_or(cycle.stripe_interval())
            .to_owned(),
        legacy: plan.legacy,
    });
    profile.status = status;
    if let Some(started) = sub.trial_start {
        profile.trial_used_at = Some(profile.trial_used_at.map_or(started, |t| t.min(started)));
    }
    profile.trial_end = sub
        .trial_end
        .filter(|_| status == SubscriptionStatus::Trialing);
    profile.discount = active_discount(profile.discount.take(), sub);
    profile.current_period_start = sub.current_period_start();
    profile.current_period_end = sub.current_period_end();
    profile.cancel_at_period_end = sub.cancel_at_period_end || sub.cancel_at.is_some();
    match status {
        SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
            if profile.grace_until.is_none() {
                profile.grace_until = Some(grace_end(seen.at, grace_days));
            }
        }
        _ => profile.grace_until = None,
    }
    // A scheduled change that Stripe has now carried out (or that no schedule carries any
    // more) is no longer pending. Only a state known to be newer than the scheduling can say
    // the schedule is gone: a delivery may be a late one from before it (its `created` has one
    // second's resolution, too coarse to tell), so the webhook asks Stripe instead (see
    // [`schedule_missing`]).
    if let Some(change) = &profile.pending_change {
        let carried_out = change.target_tier == profile.tier
            && change
                .billing_cycle
                .is_none_or(|c| Some(c) == profile.billing_cycle);
        let newer_than_scheduling = match seen.kind {
            Seen::Delivered => false,
            Seen::Fetched => true,
            Seen::Answered => change.scheduled_at.is_none_or(|at| seen.at > at),
        };
        let schedule_gone =
            change.schedule_id.is_some() && sub.schedule_id().is_none() && newer_than_scheduling;
        if carried_out || schedule_gone {
            profile.pending_change = None;
        }
    }
    profile.updated_at = now;
    profile.subscription_version = Some(version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::profile::PendingChange;
    use crate::domain::tier::tier;
    use crate::domain::{BillingCycle, UserId};

    fn professional_without_schedule() -> Subscription {
        serde_json::from_value(serde_json::json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "cancel_at_period_end": false, "schedule": null,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                "current_period_start": 1_000, "current_period_end": 2_593_000,
                "price": {"id": "price_pro_m", "object": "price",
                    "lookup_key": "tierflow_professional_monthly", "unit_amount": 4900,
                    "currency": "usd", "recurring": {"interval": "month"}}}]}
        }))
        .expect("subscription")
    }

    #[test]
    fn a_grandfathered_price_keeps_its_plan_and_is_shown_as_legacy() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
        let seen = Observation {
            source: "evt_1",
            at: 5_000,
            previous_status: None,
            kind: Seen::Delivered,
        };
        let mut sub = professional_without_schedule();
        let price = &mut sub.items.data[0].price;
        // catalog-sync moved the lookup key to a new price; the old one keeps its marks.
        price.lookup_key = None;
        price.unit_amount = Some(3900);
        price.metadata = [
            ("tierflow_tier".to_owned(), "professional".to_owned()),
            ("tierflow_cycle".to_owned(), "monthly".to_owned()),
        ]
        .into();
        let mut profile = BillingProfile::new_free(
            UserId::parse("user-1").expect("user"),
            &crate::domain::Catalog::built_in(),
        );
        apply_subscription(&mut profile, &sub, &seen, 6_000, &catalog, 3).expect("applied");
        assert_eq!(profile.tier, tier("professional"));
        assert_eq!(
            profile.price,
            Some(PaidPrice {
                price_id: "price_pro_m".into(),
                amount: 3900,
                currency: "usd".into(),
                interval: "month".into(),
                legacy: true,
            })
        );

        // A price nothing maps to fails the event with a reason.
        let price = &mut sub.items.data[0].price;
        price.metadata.clear();
        price.product = Some(crate::stripe::Expandable::Id("prod_foreign".into()));
        let err = apply_subscription(&mut profile, &sub, &seen, 6_000, &catalog, 3).unwrap_err();
        assert!(err.contains("not in the catalog"), "{err}");
    }

    /// A professional subscriber with a downgrade to starter scheduled at `scheduled_at`.
    fn downgrading(scheduled_at: UnixTime) -> BillingProfile {
        let mut p = BillingProfile::new_free(
            UserId::parse("user-1").expect("user"),
            &crate::domain::Catalog::built_in(),
        );
        p.subscription_id = Some("sub_1".into());
        p.tier = tier("professional");
        p.billing_cycle = Some(BillingCycle::Monthly);
        p.pending_change = Some(PendingChange {
            target_tier: tier("starter"),
            billing_cycle: Some(BillingCycle::Monthly),
            effective_at: 2_593_000,
            schedule_id: Some("sub_sched_1".into()),
            change_id: Some("chg_1".into()),
            scheduled_at: Some(scheduled_at),
        });
        p
    }

    #[test]
    fn only_a_state_known_newer_than_the_downgrade_can_withdraw_it() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
        let sub = professional_without_schedule();
        // (how seen, observed at, still pending?)
        let cases = [
            (Seen::Answered, 4_000, true),
            (Seen::Answered, 5_000, true),
            (Seen::Answered, 5_001, false),
            // A delivery created later may still be from before the scheduling (one-second
            // `created`, clocks apart): it never withdraws, the webhook asks Stripe.
            (Seen::Delivered, 4_000, true),
            (Seen::Delivered, 9_000, true),
            // Stripe's copy fetched after the profile was read is newer than the scheduling
            // whatever the event's `created` says.
            (Seen::Fetched, 4_000, false),
        ];
        for (kind, at, pending) in cases {
            let mut profile = downgrading(5_000);
            let seen = Observation {
                source: "evt_1",
                at,
                previous_status: None,
                kind,
            };
            apply_subscription(&mut profile, &sub, &seen, 6_000, &catalog, 3).expect("applied");
            assert_eq!(
                profile.pending_change.is_some(),
                pending,
                "{kind:?} observed at {at}"
            );
        }
        let mut profile = downgrading(5_000);
        assert!(schedule_missing(&profile, &sub));
        profile.pending_change = None;
        assert!(!schedule_missing(&profile, &sub));
    }
}
