//! `GET /api/v1/subscriptions/current`: the caller's billing as stored, never a Stripe call.

use crate::auth::Caller;
use crate::domain::access::effective_tier;
use crate::domain::catalog::Entitlements;
use crate::domain::discount::{ActiveDiscount, CouponOff};
use crate::domain::time::{rfc3339, UnixTime};
use crate::domain::{
    access_for, Access, BillingCycle, BillingProfile, Catalog, SubscriptionStatus, Tier,
};
use crate::http::ApiError;
use crate::ports::BillingStore;
use serde::Serialize;

/// The caller's subscription as the app needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    /// The tier paid for.
    pub tier: Tier,
    /// The tier whose entitlements apply now (free once access is revoked).
    pub effective_tier: Tier,
    /// Stripe's subscription status word (`active`, `past_due`, …), `none` for never subscribed.
    pub status: &'static str,
    /// Whether the paid tier is usable now: `active`, `grace` or `revoked`.
    pub access: Access,
    /// `None` on free.
    pub billing_cycle: Option<BillingCycle>,
    /// The price the subscriber actually pays (a grandfathered one included).
    pub price: Option<PriceView>,
    /// RFC 3339; `None` without a subscription.
    pub current_period_start: Option<String>,
    /// RFC 3339: when the subscription renews, or ends if `cancel_at_period_end`.
    pub current_period_end: Option<String>,
    /// The subscription ends at `current_period_end` instead of renewing.
    pub cancel_at_period_end: bool,
    /// RFC 3339: while past due, when the grace period ends and `access` becomes `revoked`.
    pub grace_until: Option<String>,
    /// A downgrade or cancellation scheduled for later, usually the period end.
    pub pending_change: Option<PendingChangeView>,
    /// RFC 3339: while `trialing`, when the trial ends (and the first charge is due).
    pub trial_end: Option<String>,
    /// Whether the account has had its one trial (none is offered after it).
    pub trial_used: bool,
    /// The discount the subscription carries (a redeemed promotion code), and when it ends.
    pub discount: Option<DiscountView>,
    /// Whether a card is on file: the subscription's own or the customer's default. A trial
    /// without one ends as its tier's catalog entry says (canceled or paused).
    pub has_payment_method: bool,
    /// What the next renewal will charge, derived from the stored profile.
    pub next_invoice: Option<NextInvoiceView>,
    /// The entitlements of `effective_tier`, not of `tier`.
    pub entitlements: Entitlements,
}

/// A discount on the subscription, as shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscountView {
    /// The coupon's display name, when it has one.
    pub name: Option<String>,
    /// Percent off each invoice (two decimals at most), for a percentage coupon.
    pub percent_off: Option<Percent>,
    /// Minor units off each invoice, for an amount coupon.
    pub amount_off: Option<i64>,
    /// The currency of `amount_off`.
    pub currency: Option<String>,
    /// RFC 3339: when it stops applying; `None` for a coupon that lasts forever.
    pub ends_at: Option<String>,
}

/// A percentage kept in hundredths (exact), written as a JSON number (`12.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent(pub i64);

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Hundredths of a percent are exact in an f64 at any realistic size.
        serializer.serialize_f64(self.0 as f64 / 100.0)
    }
}

fn discount_view(discount: &ActiveDiscount) -> DiscountView {
    let (percent_off, amount_off) = match discount.off {
        Some(CouponOff::PercentHundredths(h)) => (Some(Percent(h)), None),
        Some(CouponOff::Amount(a)) => (None, Some(a)),
        None => (None, None),
    };
    DiscountView {
        name: discount.name.clone(),
        percent_off,
        amount_off,
        currency: discount.currency.clone(),
        ends_at: discount.ends_at.map(rfc3339),
    }
}

/// The renewal Stripe will invoice next, before tax, discounts and credit balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextInvoiceView {
    /// Minor units of `currency`.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// RFC 3339: the period end, or when the pending change takes effect.
    pub date: String,
}

/// The recurring price of the subscription, in the currency's minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceView {
    /// Minor units of `currency`, per `interval`.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// Stripe's `recurring.interval`: `month` or `year`.
    pub interval: String,
    /// Not the catalog's current price for the plan: kept from before a price change.
    pub legacy: bool,
}

/// A scheduled change, as shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingChangeView {
    /// The tier the subscription moves to; `free` means it ends.
    pub target_tier: Tier,
    /// The new cycle, or `None` to keep the current one.
    pub billing_cycle: Option<BillingCycle>,
    /// RFC 3339: when the change takes effect.
    pub effective_at: String,
}

/// Builds the view of a profile at `now`.
pub fn subscription_view(
    profile: &BillingProfile,
    catalog: &Catalog,
    now: UnixTime,
) -> SubscriptionView {
    let effective = effective_tier(profile, catalog, now);
    SubscriptionView {
        tier: profile.tier.clone(),
        effective_tier: effective.clone(),
        status: profile.status.as_str(),
        access: access_for(profile, catalog, now),
        billing_cycle: profile.billing_cycle,
        price: profile.price.as_ref().map(|p| PriceView {
            amount: p.amount,
            currency: p.currency.clone(),
            interval: p.interval.clone(),
            legacy: p.legacy,
        }),
        current_period_start: profile.current_period_start.map(rfc3339),
        current_period_end: profile.current_period_end.map(rfc3339),
        cancel_at_period_end: profile.cancel_at_period_end,
        grace_until: profile.grace_until.map(rfc3339),
        pending_change: profile.pending_change.as_ref().map(|c| PendingChangeView {
            target_tier: c.target_tier.clone(),
            billing_cycle: c.billing_cycle,
            effective_at: rfc3339(c.effective_at),
        }),
        trial_end: profile
            .trial_end
            .filter(|_| profile.status == SubscriptionStatus::Trialing)
            .map(rfc3339),
        trial_used: profile.trial_used_at.is_some(),
        has_payment_method: profile.has_payment_method(),
        discount: profile.discount.as_ref().map(discount_view),
        next_invoice: next_invoice(profile, catalog),
        // A tier the catalog no longer defines grants what its free tier grants.
        entitlements: catalog
            .spec(effective)
            .or_else(|| catalog.spec(catalog.free_tier()))
            .map(|spec| spec.entitlements.clone())
            .unwrap_or_default(),
    }
}

/// The next renewal as the stored profile implies it: the price paid at period end, or the
/// scheduled change's catalog price when it takes effect; none when nothing will renew.
pub fn next_invoice(profile: &BillingProfile, catalog: &Catalog) -> Option<NextInvoiceView> {
    let renews = profile.status.is_live() && profile.status != SubscriptionStatus::Paused;
    if !renews || profile.cancel_at_period_end {
        return None;
    }
    if let Some(change) = &profile.pending_change {
        let cycle = change.billing_cycle.or(profile.billing_cycle)?;
        // A change to free ends the subscription, so nothing renews.
        let price = catalog.price(&change.target_tier, cycle)?;
        return Some(NextInvoiceView {
            amount: price.unit_amount,
            currency: catalog.currency.as_str().to_string(),
            date: rfc3339(change.effective_at),
        });
    }
    let paid = profile.price.as_ref()?;
    Some(NextInvoiceView {
        amount: paid.amount,
        currency: paid.currency.clone(),
        date: rfc3339(profile.current_period_end?),
    })
}

/// The caller's current subscription; a user Tierflow has never seen is on free.
pub async fn current_subscription(
    store: &dyn BillingStore,
    catalog: &Catalog,
    caller: &Caller,
    now: UnixTime,
) -> Result<SubscriptionView, ApiError> {
    let profile = store.profile(&caller.user_id).await.map_err(|e| {
        tracing::error!(error = %e, "profile read failed");
        ApiError::unavailable()
    })?;
    let profile =
        profile.unwrap_or_else(|| BillingProfile::new_free(caller.user_id.clone(), catalog));
    Ok(subscription_view(&profile, catalog, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::BUILT_IN_CATALOG;
    use crate::domain::tier::tier;
    use crate::domain::{PaidPrice, PendingChange, UserId};

    #[test]
    fn a_new_user_is_free_with_free_entitlements() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let p = BillingProfile::new_free(
            UserId::parse("u").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        let v = subscription_view(&p, &catalog, 0);
        assert_eq!(v.tier, tier("free"));
        assert_eq!(v.access, Access::Active);
        assert_eq!(v.status, "none");
        assert_eq!(v.entitlements["projects"], Some(1));
    }

    type Case = (
        &'static str,
        Box<dyn Fn(&mut BillingProfile)>,
        Option<NextInvoiceView>,
    );

    fn paying_professional_monthly() -> BillingProfile {
        let mut p = BillingProfile::new_free(
            UserId::parse("u").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        p.tier = tier("professional");
        p.status = SubscriptionStatus::Active;
        p.billing_cycle = Some(BillingCycle::Monthly);
        p.price = Some(PaidPrice {
            price_id: "price_legacy".into(),
            amount: 1_900,
            currency: "usd".into(),
            interval: "month".into(),
            legacy: true,
        });
        p.current_period_start = Some(1_000);
        p.current_period_end = Some(2_000);
        p
    }

    #[test]
    fn the_next_invoice_follows_the_stored_profile() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let starter = catalog
            .price(&tier("starter"), BillingCycle::Yearly)
            .unwrap()
            .unit_amount;
        let at_end = |amount| {
            Some(NextInvoiceView {
                amount,
                currency: "usd".into(),
                date: rfc3339(2_000),
            })
        };
        let scheduled = |tier, cycle| PendingChange {
            target_tier: tier,
            billing_cycle: cycle,
            effective_at: 2_000,
            schedule_id: None,
            change_id: None,
            scheduled_at: None,
        };
        let cases: Vec<Case> = vec![
            (
                "the price paid, legacy included",
                Box::new(|_| {}),
                at_end(1_900),
            ),
            (
                "past due still renews",
                Box::new(|p| p.status = SubscriptionStatus::PastDue),
                at_end(1_900),
            ),
            (
                "a scheduled downgrade renews at its catalog price",
                Box::new(move |p| {
                    p.pending_change = Some(scheduled(tier("starter"), Some(BillingCycle::Yearly)))
                }),
                at_end(starter),
            ),
            (
                "a downgrade to free renews nothing",
                Box::new(move |p| p.pending_change = Some(scheduled(tier("free"), None))),
                None,
            ),
            (
                "cancel at period end",
                Box::new(|p| p.cancel_at_period_end = true),
                None,
            ),
            (
                "paused",
                Box::new(|p| p.status = SubscriptionStatus::Paused),
                None,
            ),
            (
                "canceled",
                Box::new(|p| p.status = SubscriptionStatus::Canceled),
                None,
            ),
        ];
        for (name, edit, want) in cases {
            let mut p = paying_professional_monthly();
            edit(&mut p);
            assert_eq!(next_invoice(&p, &catalog), want, "{name}");
        }
        let v = subscription_view(&paying_professional_monthly(), &catalog, 0);
        assert_eq!(
            v.current_period_start.as_deref(),
            Some(rfc3339(1_000).as_str())
        );
        assert_eq!(
            next_invoice(
                &BillingProfile::new_free(
                    UserId::parse("u").unwrap(),
                    &crate::domain::Catalog::built_in()
                ),
                &catalog
            ),
            None
        );
    }

    #[test]
    fn grace_keeps_entitlements_and_revocation_drops_them() {
        let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
        let mut p = BillingProfile::new_free(
            UserId::parse("u").unwrap(),
            &crate::domain::Catalog::built_in(),
        );
        p.tier = tier("enterprise");
        p.status = SubscriptionStatus::PastDue;
        p.grace_until = Some(1000);
        let v = subscription_view(&p, &catalog, 999);
        assert_eq!(
            (v.access, v.effective_tier),
            (Access::Grace, tier("enterprise"))
        );
        assert_eq!(v.entitlements["projects"], None, "enterprise is unlimited");
        assert_eq!(v.grace_until.as_deref(), Some("1970-01-01T00:16:40Z"));
        let v = subscription_view(&p, &catalog, 1000);
        assert_eq!(
            (v.access, v.effective_tier),
            (Access::Revoked, tier("free"))
        );
        assert_eq!(v.entitlements["projects"], Some(1));
    }
}
