//! What each target should hold for a profile, computed afresh on every job (the worker is
//! level-triggered): Keycloak's attributes, and Lago's plan and billing anchor.

use crate::domain::access::effective_tier;
use crate::domain::time::{rfc3339, UnixTime};
use crate::domain::{BillingProfile, Catalog};
use std::collections::BTreeMap;

/// What the app reads from the token: Tierflow's six attributes, computed from the profile.
/// The tier is the one whose entitlements apply now (free once access is revoked).
pub fn keycloak_attributes(
    profile: &BillingProfile,
    catalog: &Catalog,
    now: UnixTime,
) -> BTreeMap<&'static str, Option<String>> {
    BTreeMap::from([
        (
            "subscription_tier",
            Some(effective_tier(profile, catalog, now).as_str().to_owned()),
        ),
        (
            "subscription_status",
            Some(profile.status.as_str().to_owned()),
        ),
        ("stripe_customer_id", profile.customer_id.clone()),
        ("stripe_subscription_id", profile.subscription_id.clone()),
        (
            "subscription_start_date",
            profile.current_period_start.map(rfc3339),
        ),
        (
            "subscription_end_date",
            profile.current_period_end.map(rfc3339),
        ),
    ])
}

/// Lago's `subscription_at` for the user: Stripe's period start, never later than `now`. A start
/// in the future makes Lago create a pending subscription that begins only then (a Stripe clock
/// a few seconds ahead of ours near midnight, or a test clock moved forward).
pub fn lago_anchor(period_start: Option<UnixTime>, now: UnixTime) -> Option<UnixTime> {
    period_start.map(|start| start.min(now))
}

/// The Lago plan the user should be on now, or `None` when their Lago subscription must be
/// terminated (free, canceled, or access revoked).
pub fn lago_plan<'c>(
    profile: &BillingProfile,
    now: UnixTime,
    catalog: &'c Catalog,
) -> Option<&'c str> {
    let tier = effective_tier(profile, catalog, now);
    catalog.paid(tier).map(|spec| spec.lago_plan_code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::profile::Revocation;
    use crate::domain::tier::tier;
    use crate::domain::{SubscriptionStatus, Tier, UserId};

    fn paid(tier: Tier) -> BillingProfile {
        let mut p = BillingProfile::new_free(
            UserId::parse("u1").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        p.tier = tier;
        p.status = SubscriptionStatus::Active;
        p.customer_id = Some("cus_1".into());
        p.subscription_id = Some("sub_1".into());
        p.current_period_start = Some(1_792_713_600);
        p.current_period_end = Some(1_795_392_000);
        p
    }

    #[test]
    fn attributes_carry_the_effective_tier_ids_and_period() {
        let attrs = keycloak_attributes(
            &paid(tier("professional")),
            &crate::domain::Catalog::built_in(),
            1_793_000_000,
        );
        assert_eq!(
            attrs,
            BTreeMap::from([
                ("subscription_tier", Some("professional".into())),
                ("subscription_status", Some("active".into())),
                ("stripe_customer_id", Some("cus_1".into())),
                ("stripe_subscription_id", Some("sub_1".into())),
                (
                    "subscription_start_date",
                    Some("2026-10-23T00:00:00Z".into())
                ),
                ("subscription_end_date", Some("2026-11-23T00:00:00Z".into())),
            ])
        );
        let mut disputed = paid(tier("professional"));
        disputed.revocation = Some(Revocation {
            reason: "dispute".into(),
            at: 1,
            stripe_action: None,
        });
        assert_eq!(
            keycloak_attributes(&disputed, &crate::domain::Catalog::built_in(), 2)
                ["subscription_tier"]
                .as_deref(),
            Some("free")
        );
        let free = BillingProfile::new_free(
            UserId::parse("u2").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        let attrs = keycloak_attributes(&free, &crate::domain::Catalog::built_in(), 2);
        assert_eq!(attrs["subscription_status"].as_deref(), Some("none"));
        assert_eq!(attrs["stripe_subscription_id"], None);
    }

    #[test]
    fn lago_plans_follow_access() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let now = 1_793_000_000;
        assert_eq!(
            lago_plan(&paid(tier("starter")), now, &catalog),
            Some("tierflow_starter")
        );
        let mut past_due = paid(tier("starter"));
        past_due.status = SubscriptionStatus::PastDue;
        past_due.grace_until = Some(now + 10);
        assert_eq!(
            lago_plan(&past_due, now, &catalog),
            Some("tierflow_starter")
        );
        past_due.grace_until = Some(now - 10);
        assert_eq!(lago_plan(&past_due, now, &catalog), None, "grace ran out");
        let free = BillingProfile::new_free(
            UserId::parse("u2").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        assert_eq!(lago_plan(&free, now, &catalog), None);
    }

    #[test]
    fn lagos_anchor_is_stripes_period_start_but_never_in_the_future() {
        for (start, now, anchor) in [
            (None, 100, None),
            (Some(50), 100, Some(50)),
            (Some(100), 100, Some(100)),
            (Some(150), 100, Some(100)),
        ] {
            assert_eq!(lago_anchor(start, now), anchor, "{start:?} at {now}");
        }
    }
}
