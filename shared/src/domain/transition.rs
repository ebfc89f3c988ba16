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
    from: (&Tier, Option<BillingCycle>),
    to: (&Tier, BillingCycle),
) -> Transition {
    let (from_tier, from_cycle) = from;
    let (to_tier, to_cycle) = to;
    if catalog.is_free(to_tier) {
        return if catalog.is_free(from_tier) {
            Transition::Same
        } else {
            Transition::Invalid(
                "the free tier is not a plan to move to: cancel the subscription instead",
            )
        };
    }
    if catalog.price(to_tier, to_cycle).is_none() {
        return Transition::Invalid("the catalog has no price for that tier and billing cycle");
    }
    if catalog.is_free(from_tier) {
        return Transition::Upgrade;
    }
    if to_tier != from_tier {
        return if catalog.ranks_above(to_tier, from_tier) {
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

    fn tier(name: &str) -> Tier {
        Tier::parse(name).unwrap()
    }

    const PLANS: [(&str, BillingCycle); 10] = [
        ("free", BillingCycle::Monthly),
        ("free", BillingCycle::Yearly),
        ("trial", BillingCycle::Monthly),
        ("trial", BillingCycle::Yearly),
        ("starter", BillingCycle::Monthly),
        ("starter", BillingCycle::Yearly),
        ("professional", BillingCycle::Monthly),
        ("professional", BillingCycle::Yearly),
        ("enterprise", BillingCycle::Monthly),
        ("enterprise", BillingCycle::Yearly),
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
            let from_cycle = (from.0 != "free").then_some(from.1);
            let from_tier = Tier::parse(from.0).unwrap();
            for (col, to) in PLANS.iter().enumerate() {
                let to_tier = Tier::parse(to.0).unwrap();
                let got = match classify(&catalog, (&from_tier, from_cycle), (&to_tier, to.1)) {
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
            (&tier("starter"), Some(BillingCycle::Monthly)),
            (&tier("free"), BillingCycle::Monthly),
        );
        assert!(matches!(to_free, Transition::Invalid(m) if m.contains("cancel")));
        let no_price = classify(
            &catalog,
            (&tier("free"), None),
            (&tier("trial"), BillingCycle::Yearly),
        );
        assert!(matches!(no_price, Transition::Invalid(m) if m.contains("no price")));
    }

    #[test]
    fn a_paid_tier_without_a_known_cycle_counts_as_monthly() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        assert_eq!(
            classify(
                &catalog,
                (&tier("starter"), None),
                (&tier("starter"), BillingCycle::Yearly)
            ),
            Transition::Upgrade
        );
    }
}
