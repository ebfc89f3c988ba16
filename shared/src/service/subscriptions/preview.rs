//! `GET /api/v1/subscriptions/preview-change?target_tier=&billing_cycle=`: what a change costs.
//! For an upgrade, Stripe's invoice preview at a fixed proration instant, returned so the
//! upgrade can charge exactly that; for a downgrade, when it takes effect and the new price.

use super::{
    no_subscription, refused_as_stale, stripe_failure, LiveSubscription, SubscriptionService,
};
use crate::auth::Caller;
use crate::domain::discount::{discount_of, CouponOff};
use crate::domain::proration::proration_instant;
use crate::domain::time::{add_months, rfc3339, UnixTime};
use crate::domain::{classify, BillingCycle, BillingProfile, Tier, Transition};
use crate::http::ApiError;
use crate::stripe::{Invoice, InvoiceLine, PriceChangePreview, ProrationBehavior};
use serde::Serialize;

/// The query: `target_tier`, and `billing_cycle` (defaults to the current cycle, else monthly).
#[derive(Debug, Clone, Default)]
pub struct PreviewQuery {
    /// Required: a 400 names it when missing.
    pub target_tier: Option<String>,
    /// `monthly` or `yearly`, unparsed.
    pub billing_cycle: Option<String>,
    /// A promotion code the upgrade will redeem; the preview is discounted by it.
    pub promotion_code: Option<String>,
}

/// The answer. Amounts are integers in the currency's minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewView {
    /// `upgrade`, `downgrade` or `new_subscription`.
    pub change: &'static str,
    /// True for `upgrade` and `new_subscription`: the change is charged now.
    pub is_upgrade: bool,
    /// `free` for a caller without a live subscription.
    pub current_tier: Tier,
    /// The tier asked for.
    pub target_tier: Tier,
    /// The cycle after the change.
    pub billing_cycle: BillingCycle,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// Charged now: the prorated difference for an upgrade, 0 for a downgrade.
    pub amount_due: i64,
    /// The target plan's recurring price.
    pub new_price: i64,
    /// What each renewal after the change charges: the target plan's price.
    pub next_renewal: i64,
    /// When the first renewal at `next_renewal` bills: the end of the period the change
    /// leaves the subscription in.
    pub next_renewal_at: String,
    /// The lines of Stripe's preview invoice behind `amount_due` (an upgrade's credit for
    /// unused time and charge for the rest of the period); empty when nothing is charged here.
    pub lines: Vec<PreviewLine>,
    /// When the change takes effect (now, or the period end for a downgrade).
    pub effective_at: String,
    /// Pass it to the upgrade so it charges exactly `amount_due`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration_date: Option<i64>,
    /// Before discounts and tax: the sum of `lines`.
    pub subtotal: i64,
    /// What the promotion code (or a discount the subscription already has) takes off.
    pub discount: i64,
    /// Tax added (Stripe Tax); 0 when it is off.
    pub tax: i64,
    /// The promotion code the preview was asked with, as given.
    pub promotion_code: Option<String>,
}

/// One line of the previewed invoice, in the currency's minor unit (a credit is negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewLine {
    /// Stripe's line description (e.g. "Unused time on …"); empty when it has none.
    pub description: String,
    /// Minor units; negative for a credit.
    pub amount: i64,
    /// Stripe marks the line as proration (credit or charge for part of a period).
    pub proration: bool,
    /// RFC 3339 start of the period the line covers.
    pub period_start: Option<String>,
    /// RFC 3339 end of the period the line covers.
    pub period_end: Option<String>,
}

impl PreviewLine {
    fn from_stripe(line: &InvoiceLine) -> Self {
        Self {
            description: line.description.clone().unwrap_or_default(),
            amount: line.amount,
            proration: line.is_proration(),
            period_start: line.period.map(|p| rfc3339(p.start)),
            period_end: line.period.map(|p| rfc3339(p.end)),
        }
    }
}

/// When the first renewal after an upgrade bills: a change of interval starts a new period,
/// billed in full by the preview's one non-proration charge (its period end); otherwise the
/// prorations run to the current period's end, where the renewal bills.
pub(super) fn renewal_after_upgrade(invoice: &Invoice, current_period_end: UnixTime) -> UnixTime {
    invoice
        .lines
        .data
        .iter()
        .filter(|l| l.amount > 0 && !l.is_proration())
        .filter_map(|l| l.period.map(|p| p.end))
        .max()
        .unwrap_or(current_period_end)
}

/// The end of a first period of `cycle` starting at `start`.
fn first_period_end(start: UnixTime, cycle: BillingCycle) -> UnixTime {
    match cycle {
        BillingCycle::Monthly => add_months(start, 1),
        BillingCycle::Yearly => add_months(start, 12),
    }
}

/// The lines of a preview invoice, in Stripe's order.
pub(super) fn preview_lines(invoice: &Invoice) -> Vec<PreviewLine> {
    invoice
        .lines
        .data
        .iter()
        .map(PreviewLine::from_stripe)
        .collect()
}

impl SubscriptionService {
    /// Previews moving the caller to the target plan.
    pub async fn preview_change(
        &self,
        caller: &Caller,
        query: &PreviewQuery,
    ) -> Result<PreviewView, ApiError> {
        let raw_tier = query
            .target_tier
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("invalid_tier", "target_tier is required"))?;
        let target = self.named_tier(raw_tier)?;
        let (snapshot, (), promotion) = tokio::join!(
            self.load(&caller.user_id),
            self.prefetch_prices(),
            self.promotion_code(query.promotion_code.as_deref())
        );
        let (snapshot, promotion) = (snapshot?, promotion?);
        let code = query
            .promotion_code
            .as_deref()
            .map(str::trim)
            .map(str::to_owned);
        let profile = &snapshot.profile;
        let cycle = match &query.billing_cycle {
            Some(raw) => BillingCycle::parse(raw)
                .map_err(|e| ApiError::bad_request("invalid_billing_cycle", e.0))?,
            None => profile.billing_cycle.unwrap_or(BillingCycle::Monthly),
        };
        let currency = self.catalog.currency.as_str().to_owned();
        let Some(sub_id) = snapshot.live_subscription() else {
            // No subscription: the first one is paid in full through Checkout.
            let free = self.catalog.free_tier();
            let price = match classify(&self.catalog, (free, None), (&target, cycle)) {
                Transition::Invalid(why) => return Err(ApiError::bad_request("invalid_plan", why)),
                Transition::Same => return Err(same_plan()),
                _ => self
                    .catalog
                    .price(&target, cycle)
                    .map_or(0, |p| p.unit_amount),
            };
            let now = self.clock.now();
            let discount = match &promotion {
                Some(p) => first_invoice_discount(p, price, &currency)?,
                None => 0,
            };
            // A first subscriber of a tier with a trial pays nothing until it ends.
            let trial = self
                .catalog
                .paid(&target)
                .is_some_and(|spec| spec.trial.is_some())
                && profile.trial_used_at.is_none();
            let due_now = if trial { 0 } else { price - discount };
            return Ok(PreviewView {
                change: "new_subscription",
                is_upgrade: true,
                current_tier: free.clone(),
                target_tier: target,
                billing_cycle: cycle,
                currency,
                amount_due: due_now,
                new_price: price,
                next_renewal: price,
                next_renewal_at: rfc3339(first_period_end(now, cycle)),
                lines: Vec::new(),
                effective_at: rfc3339(now),
                proration_date: None,
                subtotal: price,
                discount,
                tax: 0,
                promotion_code: code,
            });
        };
        // The stored profile's copy where it is current; Stripe's when it is not, or when
        // the stored copy would refuse or Stripe refuses what it said.
        let mut live = match LiveSubscription::from_profile(profile, self.stripe_now()) {
            Some(stored) => stored,
            None => self.live_from_stripe(sub_id).await?,
        };
        let promotion_id = promotion.map(|p| p.id);
        loop {
            match self
                .preview_with(
                    profile,
                    &live,
                    (&target, cycle),
                    &currency,
                    promotion_id.as_deref(),
                )
                .await?
            {
                Some(mut view) => {
                    view.promotion_code = code;
                    return Ok(view);
                }
                None => live = self.live_from_stripe(sub_id).await?,
            }
        }
    }

    /// The preview against `live`; `None` when `live` is the stored copy and it would refuse,
    /// or Stripe refused what it said: then Stripe's copy decides.
    async fn preview_with(
        &self,
        profile: &BillingProfile,
        live: &LiveSubscription,
        (target, cycle): (&Tier, BillingCycle),
        currency: &str,
        promotion_code: Option<&str>,
    ) -> Result<Option<PreviewView>, ApiError> {
        let current = live.plan.clone().unwrap_or((
            profile.tier.clone(),
            profile.billing_cycle.unwrap_or(BillingCycle::Monthly),
        ));
        let new_price = self
            .catalog
            .price(target, cycle)
            .map_or(0, |p| p.unit_amount);
        let refuse = |e: ApiError| {
            if live.from_profile {
                Ok(None)
            } else {
                Err(e)
            }
        };
        match classify(
            &self.catalog,
            (&current.0, Some(current.1)),
            (target, cycle),
        ) {
            Transition::Invalid(why) => refuse(ApiError::bad_request("invalid_plan", why)),
            Transition::Same => refuse(same_plan()),
            Transition::Downgrade => {
                let end = live
                    .period
                    .map(|(_, end)| end)
                    .or(profile.current_period_end)
                    .unwrap_or_else(|| self.clock.now());
                Ok(Some(PreviewView {
                    change: "downgrade",
                    is_upgrade: false,
                    current_tier: current.0,
                    target_tier: target.clone(),
                    billing_cycle: cycle,
                    currency: currency.to_owned(),
                    amount_due: 0,
                    new_price,
                    next_renewal: new_price,
                    next_renewal_at: rfc3339(end),
                    lines: Vec::new(),
                    effective_at: rfc3339(end),
                    proration_date: None,
                    subtotal: 0,
                    discount: 0,
                    tax: 0,
                    promotion_code: None,
                }))
            }
            Transition::Upgrade => {
                let Some((when, invoice)) = self
                    .preview_upgrade(live, target.clone(), cycle, promotion_code)
                    .await?
                else {
                    return Ok(None);
                };
                // `preview_upgrade` refused a subscription without a current period.
                let period_end = live.period.map_or(when, |(_, end)| end);
                let currency = invoice
                    .currency
                    .clone()
                    .unwrap_or_else(|| self.catalog.currency.as_str().to_owned());
                Ok(Some(PreviewView {
                    change: "upgrade",
                    is_upgrade: true,
                    current_tier: current.0,
                    target_tier: target.clone(),
                    billing_cycle: cycle,
                    currency,
                    amount_due: invoice.amount_due,
                    new_price,
                    next_renewal: new_price,
                    next_renewal_at: rfc3339(renewal_after_upgrade(&invoice, period_end)),
                    lines: preview_lines(&invoice),
                    effective_at: rfc3339(self.clock.now()),
                    proration_date: Some(when),
                    subtotal: invoice.subtotal,
                    discount: invoice.discount_total(),
                    tax: invoice.tax_total(),
                    promotion_code: None,
                }))
            }
        }
    }

    /// Stripe's preview of the upgrade at a proration instant fixed now: (instant, invoice);
    /// `None` when Stripe refused what the stored copy said.
    async fn preview_upgrade(
        &self,
        live: &LiveSubscription,
        target: Tier,
        cycle: BillingCycle,
        promotion_code: Option<&str>,
    ) -> Result<Option<(i64, Invoice)>, ApiError> {
        let Some(item_id) = live.item_id.as_deref() else {
            tracing::error!(subscription = %live.id, "a subscription without items");
            return Err(ApiError::unavailable());
        };
        let Some((start, end)) = live.period else {
            return Err(no_subscription());
        };
        let when = proration_instant(self.clock.now(), start, end);
        let answer = self
            .with_price_answer(&target, cycle, |price| {
                let params = PriceChangePreview {
                    customer: Some(live.customer.clone()).filter(|c| !c.is_empty()),
                    subscription: live.id.clone(),
                    item_id: item_id.to_owned(),
                    price,
                    proration_date: when,
                    proration_behavior: ProrationBehavior::AlwaysInvoice,
                    promotion_code: promotion_code.map(str::to_owned),
                };
                async move { self.stripe.preview_price_change(&params).await }
            })
            .await?;
        match answer {
            Ok(invoice) => Ok(Some((when, invoice))),
            Err(e) if super::promotion_code_refused(&e).is_some() => {
                Err(super::refusal_or_failure("preview invoice", &e))
            }
            Err(e) if refused_as_stale(live, &e) => Ok(None),
            Err(e) => Err(stripe_failure("preview invoice", &e)),
        }
    }
}

/// What a promotion code takes off a first invoice of `price` (Checkout's), as Stripe will
/// compute it; 400 for a coupon in another currency (Stripe refuses it at Checkout).
fn first_invoice_discount(
    promotion: &crate::stripe::PromotionCode,
    price: i64,
    currency: &str,
) -> Result<i64, ApiError> {
    let coupon = &promotion.coupon;
    if coupon.amount_off.is_some() && coupon.currency.as_deref() != Some(currency) {
        return Err(super::invalid_promotion_code(format!(
            "{} is for purchases in {}",
            promotion.code,
            coupon.currency.as_deref().unwrap_or("another currency")
        )));
    }
    Ok(
        CouponOff::from_stripe(coupon.percent_off, coupon.amount_off)
            .map_or(0, |off| discount_of(price, off)),
    )
}

fn same_plan() -> ApiError {
    ApiError::bad_request("no_change", "you are already on that plan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const END: UnixTime = 1_797_000_000;

    fn line(amount: i64, proration: bool, end: i64) -> serde_json::Value {
        json!({"id": "il_1", "object": "line_item", "amount": amount, "description": "x",
               "period": {"start": 1_796_000_000, "end": end},
               "parent": {"type": "subscription_item_details", "subscription_item_details":
                   {"proration": proration, "subscription": "sub_1", "subscription_item": "si_1"}}})
    }

    #[test]
    fn an_upgrade_renews_at_the_period_its_invoice_leaves() {
        let year_on = END + 31_536_000;
        let month_on = 1_796_000_000 + 2_592_000;
        let cases = [
            (
                "same interval: prorations to the period end",
                vec![line(-1900, true, END), line(4900, true, END)],
                END,
            ),
            (
                "monthly to yearly: a new year from now",
                vec![line(-1900, true, END), line(49_000, false, year_on)],
                year_on,
            ),
            (
                "yearly to monthly: a new month, before the old year's end",
                vec![line(-40_000, true, year_on), line(4900, false, month_on)],
                month_on,
            ),
            ("no lines", vec![], END),
        ];
        for (name, lines, want) in cases {
            let invoice: Invoice = serde_json::from_value(json!({
                "id": "upcoming_in_1", "object": "invoice", "amount_due": 0,
                "lines": {"object": "list", "data": lines}
            }))
            .expect("invoice");
            assert_eq!(renewal_after_upgrade(&invoice, END), want, "{name}");
        }
    }

    #[test]
    fn a_new_subscription_renews_one_cycle_after_it_starts() {
        let start = 1_795_391_165; // 2026-11-22T23:46:05Z
        assert_eq!(
            rfc3339(first_period_end(start, BillingCycle::Monthly)),
            "2026-12-22T23:46:05Z"
        );
        assert_eq!(
            rfc3339(first_period_end(start, BillingCycle::Yearly)),
            "2027-11-22T23:46:05Z"
        );
    }
}
