//! Access: the single answer the app asks for, derived from status, grace end and disputes.

use super::{BillingProfile, Catalog, SubscriptionStatus, Tier};
use crate::domain::time::UnixTime;
use serde::{Deserialize, Serialize};

/// Whether the user's paid tier is usable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Paid and in good standing (or on free, which is always usable).
    Active,
    /// A payment failed; the tier stays usable until the grace period ends.
    Grace,
    /// Not usable: grace ran out, Stripe stopped retrying (`unpaid`), a dispute was opened, or
    /// the first payment never completed.
    Revoked,
}

/// The one place access is decided.
pub fn access_for(profile: &BillingProfile, catalog: &Catalog, now: UnixTime) -> Access {
    if profile.revocation.is_some() {
        return Access::Revoked;
    }
    match profile.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => Access::Active,
        // Stripe is still retrying: the tier stays usable until the grace period ends.
        SubscriptionStatus::PastDue => match profile.grace_until {
            Some(until) if now < until => Access::Grace,
            _ => Access::Revoked,
        },
        // Stripe gave up retrying: whatever grace there was is over.
        SubscriptionStatus::Unpaid => Access::Revoked,
        _ if catalog.is_free(&profile.tier) => Access::Active,
        _ => Access::Revoked,
    }
}

/// The tier whose entitlements apply now: the paid tier while access lasts, free otherwise.
pub fn effective_tier<'a>(
    profile: &'a BillingProfile,
    catalog: &'a Catalog,
    now: UnixTime,
) -> &'a Tier {
    match access_for(profile, catalog, now) {
        Access::Active | Access::Grace => &profile.tier,
        Access::Revoked => catalog.free_tier(),
    }
}

/// When a past-due subscription's grace period ends.
pub fn grace_end(past_due_since: UnixTime, grace_days: u32) -> UnixTime {
    past_due_since + i64::from(grace_days) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::{profile::Revocation, UserId};

    fn catalog() -> Catalog {
        Catalog::parse(BUILT_IN_CATALOG).unwrap()
    }

    fn profile(tier: &str, status: SubscriptionStatus, grace_until: Option<i64>) -> BillingProfile {
        let mut p = BillingProfile::new_free(UserId::parse("u1").unwrap(), &catalog());
        p.tier = Tier::parse(tier).unwrap();
        p.status = status;
        p.grace_until = grace_until;
        p
    }

    #[test]
    fn access_table() {
        use SubscriptionStatus as S;
        let now = 1_000_000;
        let cases = [
            ("free", S::None, None, Access::Active),
            ("professional", S::Active, None, Access::Active),
            ("starter", S::Trialing, None, Access::Active),
            ("professional", S::PastDue, Some(now + 1), Access::Grace),
            ("professional", S::PastDue, Some(now), Access::Revoked),
            ("professional", S::PastDue, None, Access::Revoked),
            ("professional", S::Unpaid, Some(now - 10), Access::Revoked),
            ("professional", S::Incomplete, None, Access::Revoked),
            ("professional", S::Canceled, None, Access::Revoked),
            ("free", S::Canceled, None, Access::Active),
        ];
        for (tier, status, grace, want) in cases {
            let p = profile(tier, status, grace);
            assert_eq!(
                access_for(&p, &catalog(), now),
                want,
                "{tier} {status:?} {grace:?}"
            );
        }
    }

    #[test]
    fn a_dispute_revokes_even_an_active_subscription() {
        let mut p = profile("enterprise", SubscriptionStatus::Active, None);
        p.revocation = Some(Revocation {
            reason: "dispute".into(),
            at: 5,
            stripe_action: None,
        });
        assert_eq!(access_for(&p, &catalog(), 10), Access::Revoked);
        assert_eq!(effective_tier(&p, &catalog(), 10).as_str(), "free");
    }

    #[test]
    fn grace_lasts_the_configured_days() {
        assert_eq!(grace_end(100, 3), 100 + 3 * 86_400);
        let p = profile(
            "starter",
            SubscriptionStatus::PastDue,
            Some(grace_end(0, 3)),
        );
        assert_eq!(
            effective_tier(&p, &catalog(), 3 * 86_400 - 1).as_str(),
            "starter"
        );
        assert_eq!(effective_tier(&p, &catalog(), 3 * 86_400).as_str(), "free");
    }
}
