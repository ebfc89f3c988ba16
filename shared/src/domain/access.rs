//! Access: the single answer the app asks for, derived from status, grace end and disputes.

use super::{BillingProfile, SubscriptionStatus, Tier};
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
pub fn access_for(profile: &BillingProfile, now: UnixTime) -> Access {
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
        _ if profile.tier == Tier::Free => Access::Active,
        _ => Access::Revoked,
    }
}

/// The tier whose entitlements apply now: the paid tier while access lasts, free otherwise.
pub fn effective_tier(profile: &BillingProfile, now: UnixTime) -> Tier {
    match access_for(profile, now) {
        Access::Active | Access::Grace => profile.tier,
        Access::Revoked => Tier::Free,
    }
}

/// When a past-due subscription's grace period ends.
pub fn grace_end(past_due_since: UnixTime, grace_days: u32) -> UnixTime {
    past_due_since + i64::from(grace_days) * 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{profile::Revocation, UserId};

    fn profile(tier: Tier, status: SubscriptionStatus, grace_until: Option<i64>) -> BillingProfile {
        let mut p = BillingProfile::new_free(UserId::parse("u1").unwrap());
        p.tier = tier;
        p.status = status;
        p.grace_until = grace_until;
        p
    }

    #[test]
    fn access_table() {
        use SubscriptionStatus as S;
        let now = 1_000_000;
        let cases = [
            (Tier::Free, S::None, None, Access::Active),
            (Tier::Professional, S::Active, None, Access::Active),
            (Tier::Starter, S::Trialing, None, Access::Active),
            (Tier::Professional, S::PastDue, Some(now + 1), Access::Grace),
            (Tier::Professional, S::PastDue, Some(now), Access::Revoked),
            (Tier::Professional, S::PastDue, None, Access::Revoked),
            (
                Tier::Professional,
                S::Unpaid,
                Some(now - 10),
                Access::Revoked,
            ),
            (Tier::Professional, S::Incomplete, None, Access::Revoked),
            (Tier::Professional, S::Canceled, None, Access::Revoked),
            (Tier::Free, S::Canceled, None, Access::Active),
        ];
        for (tier, status, grace, want) in cases {
            let p = profile(tier, status, grace);
            assert_eq!(access_for(&p, now), want, "{tier} {status:?} {grace:?}");
        }
    }

    #[test]
    fn a_dispute_revokes_even_an_active_subscription() {
        let mut p = profile(Tier::Enterprise, SubscriptionStatus::Active, None);
        p.revocation = Some(Revocation {
            reason: "dispute".into(),
            at: 5,
            stripe_action: None,
        });
        assert_eq!(access_for(&p, 10), Access::Revoked);
        assert_eq!(effective_tier(&p, 10), Tier::Free);
    }

    #[test]
    fn grace_lasts_the_configured_days() {
        assert_eq!(grace_end(100, 3), 100 + 3 * 86_400);
        let p = profile(
            Tier::Starter,
            SubscriptionStatus::PastDue,
            Some(grace_end(0, 3)),
        );
        assert_eq!(effective_tier(&p, 3 * 86_400 - 1), Tier::Starter);
        assert_eq!(effective_tier(&p, 3 * 86_400), Tier::Free);
    }
}
