//! Discounts: parsing `discounts[]`, checking a coupon or promotion code can be redeemed (with
//! Stripe's errors), redeeming it, and what it takes off an invoice's lines.

use super::*;
use crate::form::Params;
use crate::objects::discount::{Coupon, Discount};

/// One entry of `discounts[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountSource {
    /// `discounts[n][coupon]`.
    Coupon(String),
    /// `discounts[n][promotion_code]` (a `promo_...` id).
    PromotionCode(String),
    /// `discounts[n][discount]`: keep an existing discount.
    Existing(String),
}

/// A requested discount and the parameter that named it (for errors).
#[derive(Debug, Clone)]
pub struct DiscountRequest {
    /// What to redeem.
    pub source: DiscountSource,
    /// `discounts[0][coupon]`, ...
    pub param: String,
}

/// Parses `key` (`discounts`): `None` when absent, `Some(vec![])` for `discounts=` (remove all).
pub fn parse_discounts(p: &Params, key: &str) -> ApiResult<Option<Vec<DiscountRequest>>> {
    if !p.has(key) {
        return Ok(None);
    }
    if p.str(key).is_some_and(|v| v.is_empty()) {
        return Ok(Some(Vec::new()));
    }
    let mut out = Vec::new();
    for (n, entry) in p.array(key).iter().enumerate() {
        let given: Vec<(&str, String)> = ["coupon", "promotion_code", "discount"]
            .into_iter()
            .filter_map(|k| entry.non_empty(k).map(|v| (k, v)))
            .collect();
        let [(kind, value)] = given.as_slice() else {
            return Err(ApiError::invalid(
                format!(
                    "Each of {key}[{n}] takes exactly one of coupon, promotion_code or discount."
                ),
                Some(&format!("{key}[{n}]")),
            ));
        };
        let param = format!("{key}[{n}][{kind}]");
        let source = match *kind {
            "coupon" => DiscountSource::Coupon(value.clone()),
            "promotion_code" => DiscountSource::PromotionCode(value.clone()),
            _ => DiscountSource::Existing(value.clone()),
        };
        out.push(DiscountRequest { source, param });
    }
    if out.len() > 20 {
        return Err(ApiError::invalid(
            "You can apply at most 20 discounts.".into(),
            Some(key),
        ));
    }
    Ok(Some(out))
}

/// What a redemption would use: the coupon and the promotion code it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// Coupon id.
    pub coupon: String,
    /// Promotion code id.
    pub promotion_code: Option<String>,
}

/// Who redeems and on what, for the promotion code's restrictions and `applies_to`.
#[derive(Debug, Clone, Copy)]
pub struct RedemptionContext<'a> {
    /// The customer, if known.
    pub customer: Option<&'a str>,
    /// Currency of what is bought.
    pub currency: &'a str,
    /// What the first invoice comes to before discounts (for `minimum_amount`).
    pub amount: i64,
    /// Products bought (for `applies_to`).
    pub products: &'a [String],
}

fn refuse(param: &str, message: String) -> ApiError {
    ApiError::invalid(message, Some(param))
}

/// Checks a coupon can be redeemed: valid (not past `redeem_by`, not exhausted), in the
/// currency, and applying to something bought.
pub fn check_coupon(
    store: &Store,
    id: &str,
    ctx: RedemptionContext<'_>,
    param: &str,
) -> ApiResult<Coupon> {
    let coupon = store
        .coupons
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("coupon", id, param))?;
    if !coupon.valid(store.now()) {
        return Err(ApiError::invalid_code(
            "coupon_expired",
            format!("Coupon expired: {id}"),
            Some(param),
        ));
    }
    if coupon
        .currency
        .as_deref()
        .is_some_and(|c| c != ctx.currency)
    {
        return Err(refuse(
            param,
            format!(
                "The coupon {id} is in {} and cannot be applied to a purchase in {}.",
                coupon.currency.unwrap_or_default(),
                ctx.currency
            ),
        ));
    }
    let applies = ctx.products.iter().any(|p| coupon.applies_to(p));
    if !applies && !ctx.products.is_empty() {
        return Err(refuse(
            param,
            format!("The coupon {id} does not apply to any of the items purchased (applies_to)."),
        ));
    }
    Ok(coupon)
}

/// Whether a customer has paid before (a promotion code's `first_time_transaction`).
fn has_paid_before(store: &Store, customer: &str) -> bool {
    store
        .charges
        .oldest_first()
        .any(|c| c.customer.as_deref() == Some(customer) && c.status == "succeeded")
}

/// Checks a requested discount can be redeemed, as Stripe refuses it otherwise.
pub fn check_redemption(
    store: &Store,
    req: &DiscountRequest,
    ctx: RedemptionContext<'_>,
) -> ApiResult<Redemption> {
    let param = req.param.as_str();
    let now = store.now();
    match &req.source {
        DiscountSource::Coupon(id) => {
            check_coupon(store, id, ctx, param)?;
            Ok(Redemption {
                coupon: id.clone(),
                promotion_code: None,
            })
        }
        DiscountSource::PromotionCode(id) => {
            let promo = store
                .promotion_codes
                .get(id)
                .ok_or_else(|| ApiError::no_such_param("promotion code", id, param))?;
            if !promo.active {
                return Err(refuse(
                    param,
                    format!("The promotion code {} is not active.", promo.code),
                ));
            }
            if promo.expires_at.is_some_and(|t| now >= t) {
                return Err(refuse(
                    param,
                    format!("The promotion code {} has expired.", promo.code),
                ));
            }
            if promo
                .max_redemptions
                .is_some_and(|m| promo.times_redeemed >= m)
            {
                return Err(refuse(
                    param,
                    format!(
                        "The promotion code {} has reached its maximum number of redemptions.",
                        promo.code
                    ),
                ));
            }
            if let Some(owner) = &promo.customer {
                if ctx.customer != Some(owner.as_str()) {
                    return Err(refuse(
                        param,
                        format!(
                            "The promotion code {} cannot be redeemed by this customer.",
                            promo.code
                        ),
                    ));
                }
            }
            if promo.first_time_transaction
                && ctx.customer.is_some_and(|c| has_paid_before(store, c))
            {
                return Err(refuse(
                    param,
                    format!(
                        "The promotion code {} can only be redeemed by first-time customers.",
                        promo.code
                    ),
                ));
            }
            if let Some(min) = promo.minimum_amount {
                let same = promo.minimum_amount_currency.as_deref() == Some(ctx.currency);
                if !same || ctx.amount < min {
                    return Err(refuse(
                        param,
                        format!(
                            "The promotion code {} requires a minimum amount of {min} {}.",
                            promo.code,
                            promo.minimum_amount_currency.clone().unwrap_or_default()
                        ),
                    ));
                }
            }
            check_coupon(store, &promo.coupon, ctx, param)?;
            Ok(Redemption {
                coupon: promo.coupon.clone(),
                promotion_code: Some(id.clone()),
            })
        }
        DiscountSource::Existing(id) => {
            let d = store
                .discounts
                .get(id)
                .ok_or_else(|| ApiError::no_such_param("discount", id, param))?;
            Ok(Redemption {
                coupon: d.coupon.clone(),
                promotion_code: d.promotion_code.clone(),
            })
        }
    }
}

/// Redeems: a new Discount (start now; `end` after `duration_in_months` for a repeating
/// coupon), the coupon's and promotion code's `times_redeemed` counted; emits
/// `customer.discount.created`.
pub fn redeem(
    store: &mut Store,
    r: &Redemption,
    customer: Option<&str>,
    subscription: Option<&str>,
    checkout_session: Option<&str>,
) -> String {
    let now = store.now();
    let id = store.new_id("di_");
    let end = store.coupons.get(&r.coupon).and_then(|c| {
        (c.duration == "repeating")
            .then(|| {
                c.duration_in_months
                    .map(|m| add_interval(now, crate::calendar::Interval::Month, m))
            })
            .flatten()
    });
    if let Some(c) = store.coupons.get_mut(&r.coupon) {
        c.times_redeemed += 1;
    }
    if let Some(pc) = r
        .promotion_code
        .as_ref()
        .and_then(|p| store.promotion_codes.get_mut(p))
    {
        pc.times_redeemed += 1;
    }
    let discount = Discount {
        id: id.clone(),
        coupon: r.coupon.clone(),
        promotion_code: r.promotion_code.clone(),
        customer: customer.map(str::to_string),
        subscription: subscription.map(str::to_string),
        checkout_session: checkout_session.map(str::to_string),
        start: now,
        end,
        used: false,
    };
    store.discounts.insert(id.clone(), discount);
    let json = store.render(&id).unwrap_or(Value::Null);
    store.emit("customer.discount.created", json, None);
    id
}

/// Sets each discountable (non-proration) line's discount amounts for the discounts in
/// effect at `at`, in order, each on what the ones before left: a percent off per line; an
/// amount off once per invoice, spread over the lines it applies to in proportion to their
/// amounts (the last line takes the rounding remainder). Answers the ids of the discounts on
/// the invoice (prorations' included ones too) and those that took something off.
pub fn apply_discounts(
    store: &Store,
    discounts: &[Discount],
    lines: &mut [Line],
    currency: &str,
    at: i64,
) -> (Vec<String>, Vec<String>) {
    let mut on_invoice: Vec<String> = Vec::new();
    let mut took = Vec::new();
    for d in discounts.iter().filter(|d| d.in_effect(at)) {
        let Some(coupon) = store.coupons.get(&d.coupon) else {
            continue;
        };
        let product_of = |l: &Line| store.prices.get(&l.price).map(|p| p.product.clone());
        let eligible: Vec<usize> = (0..lines.len())
            .filter(|&i| !lines[i].proration)
            .filter(|&i| product_of(&lines[i]).is_some_and(|p| coupon.applies_to(&p)))
            .collect();
        let mut amounts = vec![0i64; lines.len()];
        if let Some(pct) = coupon.percent_off {
            for &i in &eligible {
                amounts[i] = percent_of(lines[i].net(), pct);
            }
        } else if let (Some(off), true) = (
            coupon.amount_off,
            coupon.currency.as_deref() == Some(currency),
        ) {
            let base: i64 = eligible.iter().map(|&i| lines[i].net().max(0)).sum();
            let total = off.min(base);
            let mut left = total;
            for (k, &i) in eligible.iter().enumerate() {
                let share = if k + 1 == eligible.len() {
                    left
                } else if base > 0 {
                    proration::round_div(
                        i128::from(total) * i128::from(lines[i].net().max(0)),
                        i128::from(base),
                    )
                } else {
                    0
                };
                amounts[i] = share.min(left);
                left -= amounts[i];
            }
        }
        for &i in &eligible {
            lines[i].discounts.push(d.id.clone());
            lines[i].discount_amounts.push((d.id.clone(), amounts[i]));
        }
        if amounts.iter().any(|a| *a > 0) {
            took.push(d.id.clone());
        }
    }
    for l in lines.iter() {
        for id in &l.discounts {
            if !on_invoice.contains(id) {
                on_invoice.push(id.clone());
            }
        }
    }
    (on_invoice, took)
}

/// The subscription's discounts in effect at `at`.
pub fn discounts_of(store: &Store, sub: &Subscription, at: i64) -> Vec<Discount> {
    sub.discounts
        .iter()
        .filter_map(|id| store.discounts.get(id))
        .filter(|d| d.in_effect(at))
        .cloned()
        .collect()
}

/// After an invoice: a `once` discount that took something off is used up, and a used or
/// ended discount leaves the subscription (`customer.discount.deleted`).
pub(super) fn settle_discounts(store: &mut Store, sub_id: &str, took: &[String], at: i64) {
    for id in took {
        let once = store
            .discounts
            .get(id)
            .and_then(|d| store.coupons.get(&d.coupon))
            .is_some_and(|c| c.duration == "once");
        if let (true, Some(d)) = (once, store.discounts.get_mut(id)) {
            d.used = true;
        }
    }
    let Some(ids) = store.subscriptions.get(sub_id).map(|s| s.discounts.clone()) else {
        return;
    };
    let (kept, gone): (Vec<String>, Vec<String>) = ids
        .into_iter()
        .partition(|id| store.discounts.get(id).is_some_and(|d| d.in_effect(at)));
    if gone.is_empty() {
        return;
    }
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        s.discounts = kept;
    }
    for id in gone {
        let json = store.render(&id).unwrap_or(Value::Null);
        store.emit("customer.discount.deleted", json, None);
    }
}
