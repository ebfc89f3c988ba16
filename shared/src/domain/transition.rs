//! Which way a move between two plans goes: an upgrade (charged now, prorated), a downgrade
//! (at period end), no change, or a move the catalog does not allow.

use super::{BillingCycle, Catalog, Tier};

/// The kind of a move from the current plan to a target plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Higher tier, or the same tier billed yearly instead of monthly: applied now, prorated.
    Upgrade,
    /// Lower tier, or the same tier billed monthly instead of yearly: applied at period end.
    Downgrade,
    /// The plan the user already has.
    Same,
    /// Not a plan change Tierflow makes; the reason is safe to show the caller.
    Invalid(&'static str),
}

/// Classifies the move from `from` (the tier and, for a paid tier, the cycle the user has) to
/// `to`. Tiers decide when they differ; on the same tier the cycle decides (yearly is the larger
/// commitment). Free is never a target (canceling is how a user gets there), and neither is a
/// tier/cycle the catalog has no price for.
pub fn classify(
    catalog: &Catalog,
    from: (Tier, Option<BillingCycle>),
    to: (Tier, BillingCycle),
) -> Transition {
    let (from_tier, from_cycle) = from;
    let (to_tier, to_cycle) = to;
    if to_tier == Tier::Free {
        return if from_tier == Tier::Free {
            Transition::Same
        } else {
            Transition::Invalid("free is not a plan to move to: cancel the subscription instead")
        };
    }
    if catalog.price(to_tier, to_cycle).is_none() {
        return Transition::Invalid("the catalog has no price for that tier and billing cycle");
    }
    if from_tier == Tier::Free {
        return Transition::Upgrade;
    }
    if to_tier != from_tier {
        return if to_tier > from_tier {
            Transition::Upgrade
        } else {
            Transition::Downgrade
        };
    }
    match (from_cycle.unwrap_or(BillingCycle::Monthly), to_cycle) {
        (a, b) if a == b => Transition::Same,
        (BillingCycle::Monthly, BillingCycle::Yearly) => Transition::Upgrade,
        _ => Transition::Downgrade,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;

    const PLANS: [(Tier, BillingCycle); 10] = [
        (Tier::Free, BillingCycle::Monthly),
        (Tier::Free, BillingCycle::Yearly),
        (Tier::Trial, BillingCycle::Monthly),
        (Tier::Trial, BillingCycle::Yearly),
        (Tier::Starter, BillingCycle::Monthly),
        (Tier::Starter, BillingCycle::Yearly),
        (Tier::Professional, BillingCycle::Monthly),
        (Tier::Professional, BillingCycle::Yearly),
        (Tier::Enterprise, BillingCycle::Monthly),
        (Tier::Enterprise, BillingCycle::Yearly),
    ];

    /// Rows: from; columns: to; in `PLANS` order (free, trial, starter, professional,
    /// enterprise; each monthly then yearly). U upgrade, D downgrade, S same, X invalid.
    const TABLE: [&str; 10] = [
        "SSUXUUUUUU", // free
        "SSUXUUUUUU", // free (a free user has no cycle)
        "XXSXUUUUUU", // trial monthly
        "XXDXUUUUUU", // trial yearly (no such price today; a legacy one moves like any other)
        "XXDXSUUUUU", // starter monthly
        "XXDXDSUUUU", // starter yearly
        "XXDXDDSUUU", // professional monthly
        "XXDXDDDSUU", // professional yearly
        "XXDXDDDDSU", // enterprise monthly
        "XXDXDDDDDS", // enterprise yearly
    ];

    #[test]
    fn every_pair_of_tiers_and_cycles() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        for (row, from) in PLANS.iter().enumerate() {
            let from_cycle = (from.0 != Tier::Free).then_some(from.1);
            for (col, to) in PLANS.iter().enumerate() {
                let got = match classify(&catalog, (from.0, from_cycle), *to) {
                    Transition::Upgrade => 'U',
                    Transition::Downgrade => 'D',
                    Transition::Same => 'S',
                    Transition::Invalid(_) => 'X',
                };
                let want = TABLE[row].as_bytes()[col] as char;
                assert_eq!(got, want, "{} {} -> {} {}", from.0, from.1, to.0, to.1);
            }
        }
    }

    #[test]
    fn invalid_moves_say_why() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let to_free = classify(
            &catalog,
            (Tier::Starter, Some(BillingCycle::Monthly)),
            (Tier::Free, BillingCycle::Monthly),
        );
        assert!(matches!(to_free, Transition::Invalid(m) if m.contains("cancel")));
        let no_price = classify(
            &catalog,
            (Tier::Free, None),
            (Tier::Trial, BillingCycle::Yearly),
        );
        assert!(matches!(no_price, Transition::Invalid(m) if m.contains("no price")));
    }

    #[test]
    fn a_paid_tier_without_a_known_cycle_counts_as_monthly() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        assert_eq!(
            classify(
                &catalog,
                (Tier::Starter, None),
                (Tier::Starter, BillingCycle::Yearly)
            ),
            Transition::Upgrade
        );
    }
}
