//! Prices, proration and the lines a change of items bills.

use super::*;

/// `proration_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProrationBehavior {
    /// Prorations become pending invoice items for the next invoice (Stripe's default).
    CreateProrations,
    /// Prorations are invoiced and charged at once.
    AlwaysInvoice,
    /// No prorations.
    None,
}

impl ProrationBehavior {
    /// Parses the parameter value.
    pub fn parse(s: Option<&str>, param: &str) -> ApiResult<Self> {
        match s {
            None | Some("") | Some("create_prorations") => Ok(ProrationBehavior::CreateProrations),
            Some("always_invoice") => Ok(ProrationBehavior::AlwaysInvoice),
            Some("none") => Ok(ProrationBehavior::None),
            Some(other) => Err(ApiError::invalid(
                format!("Invalid {param}: must be one of create_prorations, none, or always_invoice (got {other})"),
                Some(param),
            )),
        }
    }
}

/// `payment_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentBehavior {
    /// Apply the change even if payment fails (Stripe's default).
    #[default]
    AllowIncomplete,
    /// Apply only once the invoice is paid; otherwise keep a `pending_update`.
    PendingIfIncomplete,
    /// Refuse with a 402 if the invoice cannot be paid.
    ErrorIfIncomplete,
}

impl PaymentBehavior {
    /// Parses the parameter value.
    pub fn parse(s: Option<&str>) -> ApiResult<Self> {
        match s {
            None | Some("") | Some("allow_incomplete") | Some("default_incomplete") => {
                Ok(PaymentBehavior::AllowIncomplete)
            }
            Some("pending_if_incomplete") => Ok(PaymentBehavior::PendingIfIncomplete),
            Some("error_if_incomplete") => Ok(PaymentBehavior::ErrorIfIncomplete),
            Some(other) => Err(ApiError::invalid(
                format!("Invalid payment_behavior: {other}"),
                Some("payment_behavior"),
            )),
        }
    }
}

/// One entry of `items[]` in a subscription update.
#[derive(Debug, Clone, Default)]
pub struct ItemChange {
    /// Existing item id.
    pub id: Option<String>,
    /// New price.
    pub price: Option<String>,
    /// New quantity.
    pub quantity: Option<i64>,
    /// Remove the item.
    pub deleted: bool,
}

/// The effect of an item change, computed before anything is stored.
#[derive(Debug, Clone)]
pub struct ChangePlan {
    /// Items after the change.
    pub new_items: Vec<SubItem>,
    /// Whether prices or quantities change.
    pub changed: bool,
    /// A new billing period (the interval changed, so the cycle anchor resets to now).
    pub new_period: Option<(i64, i64)>,
    /// Proration lines (credits for old items, charges for new ones).
    pub proration_lines: Vec<Line>,
    /// Full-price lines for a new period.
    pub cycle_lines: Vec<Line>,
    /// Whether Stripe invoices the change immediately.
    pub immediate: bool,
}

pub(super) fn price(store: &Store, id: &str) -> ApiResult<Price> {
    store
        .prices
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("price", id, "price"))
}

pub(super) fn product_name(store: &Store, price: &Price) -> String {
    store
        .products
        .get(&price.product)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| price.product.clone())
}

pub(super) fn recurring(price: &Price, param: &str) -> ApiResult<Recurring> {
    price.recurring.ok_or_else(|| {
        ApiError::invalid(
            format!(
                "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring` ({}).",
                price.id
            ),
            Some(param),
        )
    })
}

/// Checks `(price, quantity)` pairs for a subscription: recurring, same currency and interval.
pub fn validate_items(
    store: &Store,
    items: &[(String, i64)],
    param: &str,
) -> ApiResult<(String, Recurring)> {
    let mut first: Option<(String, Recurring)> = None;
    for (id, qty) in items {
        let p = store
            .prices
            .get(id)
            .ok_or_else(|| ApiError::no_such_param("price", id, param))?;
        let r = recurring(p, param)?;
        if *qty < 1 {
            return Err(ApiError::invalid(
                "Quantity must be at least 1.".into(),
                Some(param),
            ));
        }
        match &first {
            None => first = Some((p.currency.clone(), r)),
            Some((cur, fr)) => {
                if *cur != p.currency {
                    return Err(ApiError::invalid(
                        "All prices on a subscription must have the same currency.".into(),
                        Some(param),
                    ));
                }
                if fr.interval != r.interval || fr.interval_count != r.interval_count {
                    return Err(ApiError::invalid(
                        "All prices on a subscription must have the same `recurring.interval` and `recurring.interval_count`.".into(),
                        Some(param),
                    ));
                }
            }
        }
    }
    first.ok_or_else(|| ApiError::missing_param(param))
}

pub(super) fn cycle_lines(store: &Store, items: &[SubItem], start: i64, end: i64) -> Vec<Line> {
    items
        .iter()
        .filter_map(|i| {
            let p = store.prices.get(&i.price)?;
            let interval = p.recurring.map(|r| r.interval.as_str()).unwrap_or("month");
            Some(Line {
                id: String::new(),
                amount: p.unit_amount * i.quantity,
                description: proration::cycle_line(
                    &product_name(store, p),
                    i.quantity,
                    p.unit_amount,
                    &p.currency,
                    interval,
                ),
                period_start: start,
                period_end: end,
                price: p.id.clone(),
                quantity: i.quantity,
                proration: false,
                subscription_item: Some(i.id.clone()),
                invoice_item: None,
                ..Line::default()
            })
        })
        .collect()
}

pub(super) fn credit_line(
    store: &Store,
    sub: &Subscription,
    item: &SubItem,
    t: i64,
) -> Option<Line> {
    let p = store.prices.get(&item.price)?;
    let (net, discounts) = prorated_base(store, sub, p, item.quantity, t);
    let amount =
        -proration::remaining_share(net, t, sub.current_period_start, sub.current_period_end);
    Some(Line {
        id: String::new(),
        amount,
        description: proration::unused_time(&product_name(store, p), item.quantity, t),
        period_start: t,
        period_end: sub.current_period_end,
        price: p.id.clone(),
        quantity: item.quantity,
        proration: true,
        subscription_item: Some(item.id.clone()),
        invoice_item: None,
        discount_amounts: discounts.iter().map(|d| (d.clone(), 0)).collect(),
        discounts,
        taxes: Vec::new(),
    })
}

pub(super) fn charge_line(
    store: &Store,
    sub: &Subscription,
    item: &SubItem,
    t: i64,
) -> Option<Line> {
    let p = store.prices.get(&item.price)?;
    let (net, discounts) = prorated_base(store, sub, p, item.quantity, t);
    let amount =
        proration::remaining_share(net, t, sub.current_period_start, sub.current_period_end);
    Some(Line {
        id: String::new(),
        amount,
        description: proration::remaining_time(&product_name(store, p), item.quantity, t),
        period_start: t,
        period_end: sub.current_period_end,
        price: p.id.clone(),
        quantity: item.quantity,
        proration: true,
        subscription_item: Some(item.id.clone()),
        invoice_item: None,
        discount_amounts: discounts.iter().map(|d| (d.clone(), 0)).collect(),
        discounts,
        taxes: Vec::new(),
    })
}

/// The period amount a proration is a share of: the price times quantity, less the
/// subscription's percent-off discounts in effect at `t` (basil's
/// `proration_discounts=included`: a proration's amount is net, its discount amounts 0).
/// Amount-off coupons apply per invoice, not to prorations. Answers the discounts it used.
fn prorated_base(
    store: &Store,
    sub: &Subscription,
    price: &Price,
    quantity: i64,
    t: i64,
) -> (i64, Vec<String>) {
    let mut net = price.unit_amount * quantity;
    let mut used = Vec::new();
    for d in sub
        .discounts
        .iter()
        .filter_map(|id| store.discounts.get(id))
    {
        let Some(coupon) = store.coupons.get(&d.coupon) else {
            continue;
        };
        if !d.in_effect(t) || !coupon.applies_to(&price.product) {
            continue;
        }
        if let Some(pct) = coupon.percent_off {
            net -= percent_of(net, pct);
            used.push(d.id.clone());
        }
    }
    (net, used)
}

/// `pct` percent of `amount`, rounded half away from zero (Stripe's docs do not say how a
/// percent-off rounds; it rounds per line, and this is the rounding its prorations use).
pub fn percent_of(amount: i64, pct: f64) -> i64 {
    // Percentages carry at most two decimals: in hundredths of a percent, exact in integers.
    let hundredths = (pct * 100.0).round() as i128;
    proration::round_div(i128::from(amount) * hundredths, 10_000)
}

/// Computes what an item change does at proration time `t` (no state is changed except ids).
pub fn plan_change(
    store: &mut Store,
    sub: &Subscription,
    changes: &[ItemChange],
    behavior: ProrationBehavior,
    t: i64,
    reset_anchor: bool,
) -> ApiResult<ChangePlan> {
    let now = store.now();
    let mut items = sub.items.clone();
    for (n, change) in changes.iter().enumerate() {
        let param = format!("items[{n}]");
        match &change.id {
            Some(id) => {
                let pos = items.iter().position(|i| &i.id == id).ok_or_else(|| {
                    ApiError::invalid(
                        format!("Invalid subscription_item id: {id}"),
                        Some(&format!("{param}[id]")),
                    )
                })?;
                if change.deleted {
                    items.remove(pos);
                    continue;
                }
                if let Some(p) = &change.price {
                    let found = price(store, p).map_err(|_| {
                        ApiError::no_such_param("price", p, &format!("{param}[price]"))
                    })?;
                    // As Stripe: an item may keep an archived price, never move to one.
                    if !found.active && items[pos].price != *p {
                        return Err(ApiError::invalid(
                            "The price specified is inactive. This field only accepts active prices.".into(),
                            Some(&format!("{param}[price]")),
                        ));
                    }
                    items[pos].price = p.clone();
                }
                if let Some(q) = change.quantity {
                    items[pos].quantity = q;
                }
            }
            None => {
                let p = change
                    .price
                    .clone()
                    .ok_or_else(|| ApiError::missing_param(&format!("{param}[price]")))?;
                price(store, &p).map_err(|_| {
                    ApiError::no_such_param("price", &p, &format!("{param}[price]"))
                })?;
                if let Some(pos) = items.iter().position(|i| i.price == p) {
                    return Err(ApiError::invalid(
                        format!(
                            "Cannot add multiple subscription items with the same price: {}",
                            items[pos].price
                        ),
                        Some(&format!("{param}[price]")),
                    ));
                }
                items.push(SubItem {
                    id: store.new_id("si_"),
                    created: now,
                    price: p,
                    quantity: change.quantity.unwrap_or(1),
                });
            }
        }
    }
    let pairs: Vec<(String, i64)> = items
        .iter()
        .map(|i| (i.price.clone(), i.quantity))
        .collect();
    let (currency, new_recurring) = validate_items(store, &pairs, "items")?;
    if currency != sub.currency {
        return Err(ApiError::invalid(
            "You cannot change the currency of a subscription.".into(),
            Some("items"),
        ));
    }
    let old_recurring = sub
        .items
        .first()
        .and_then(|i| store.prices.get(&i.price))
        .and_then(|p| p.recurring);
    let changed = items != sub.items;
    let interval_changed = old_recurring != Some(new_recurring);
    let new_period = (interval_changed && changed || reset_anchor).then(|| {
        (
            now,
            add_interval(now, new_recurring.interval, new_recurring.interval_count),
        )
    });
    let mut proration_lines = Vec::new();
    let mut cycle = Vec::new();
    if let Some((start, end)) = new_period {
        if behavior != ProrationBehavior::None {
            proration_lines.extend(
                sub.items
                    .iter()
                    .filter_map(|i| credit_line(store, sub, i, t)),
            );
        }
        cycle = cycle_lines(store, &items, start, end);
    } else if changed && behavior != ProrationBehavior::None {
        for old in &sub.items {
            let new = items.iter().find(|i| i.id == old.id);
            if new != Some(old) {
                proration_lines.extend(credit_line(store, sub, old, t));
            }
            if let Some(new) = new.filter(|n| *n != old) {
                proration_lines.extend(charge_line(store, sub, new, t));
            }
        }
        for added in items
            .iter()
            .filter(|i| !sub.items.iter().any(|o| o.id == i.id))
        {
            proration_lines.extend(charge_line(store, sub, added, t));
        }
    }
    let immediate =
        new_period.is_some() || (changed && behavior == ProrationBehavior::AlwaysInvoice);
    Ok(ChangePlan {
        new_items: items,
        changed,
        new_period,
        proration_lines,
        cycle_lines: cycle,
        immediate,
    })
}

/// Pending (not yet invoiced) invoice items of a subscription, as lines.
pub fn pending_lines(store: &Store, sub_id: &str) -> Vec<Line> {
    store
        .invoice_items
        .oldest_first()
        .filter(|ii| ii.subscription.as_deref() == Some(sub_id) && ii.invoice.is_none())
        .map(|ii| ii.line.clone())
        .collect()
}

/// Stores proration lines as pending invoice items.
pub fn add_pending_items(store: &mut Store, sub: &Subscription, lines: Vec<Line>) {
    for mut line in lines {
        let id = store.new_id("ii_");
        line.invoice_item = Some(id.clone());
        let item = InvoiceItem {
            id: id.clone(),
            created: store.now(),
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            currency: sub.currency.clone(),
            line,
            invoice: None,
        };
        store.invoice_items.insert(id, item);
    }
}
