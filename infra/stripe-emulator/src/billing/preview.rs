//! `POST /v1/invoices/create_preview`: the invoice a subscription change would produce, with
//! the discounts it would carry and its tax; and checking `discounts[]` for a subscription.

use super::*;

/// What `POST /v1/invoices/create_preview` asks for besides item changes.
#[derive(Debug, Clone, Default)]
pub struct PreviewOptions {
    /// `discounts`: replace the subscription's discounts in the preview.
    pub discounts: Option<Vec<DiscountRequest>>,
    /// `automatic_tax[enabled]`.
    pub automatic_tax: Option<bool>,
}

/// The invoice `POST /v1/invoices/create_preview` shows for a subscription change. Discounts
/// asked for are checked as a redemption would be and exist only while the preview is made.
pub fn preview_invoice(
    store: &mut Store,
    sub_id: &str,
    changes: &[ItemChange],
    behavior: ProrationBehavior,
    proration_date: Option<i64>,
    reset_anchor: bool,
    opts: &PreviewOptions,
) -> ApiResult<Value> {
    let mut sub = store
        .subscriptions
        .get(sub_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("subscription", sub_id, "subscription"))?;
    if opts.automatic_tax == Some(true) {
        require_tax_location(store, &sub.customer, "automatic_tax[enabled]")?;
    }
    if let Some(on) = opts.automatic_tax {
        sub.automatic_tax = on;
    }
    let mut transient = Vec::new();
    if let Some(reqs) = &opts.discounts {
        let redemptions = check_subscription_discounts(
            store,
            &sub.customer,
            &sub.currency,
            &item_pairs(&sub.items),
            reqs,
        )?;
        sub.discounts.clear();
        for (req, r) in reqs.iter().zip(redemptions) {
            if let DiscountSource::Existing(id) = &req.source {
                sub.discounts.push(id.clone());
                continue;
            }
            let id = format!("di_preview_{}", store.ids.token(16));
            let end = store.coupons.get(&r.coupon).and_then(|c| {
                c.duration_in_months
                    .filter(|_| c.duration == "repeating")
                    .map(|m| add_interval(store.now(), crate::calendar::Interval::Month, m))
            });
            store.discounts.insert(
                id.clone(),
                crate::objects::discount::Discount {
                    id: id.clone(),
                    coupon: r.coupon,
                    promotion_code: r.promotion_code,
                    customer: Some(sub.customer.clone()),
                    subscription: Some(sub.id.clone()),
                    checkout_session: None,
                    start: store.now(),
                    end,
                    used: false,
                },
            );
            transient.push(id.clone());
            sub.discounts.push(id);
        }
    }
    let preview = preview_for(store, sub, changes, behavior, proration_date, reset_anchor);
    for id in transient {
        store.discounts.remove(&id);
    }
    preview
}

/// Checks `discounts[]` for a customer's subscription to these `(price, quantity)` items,
/// as redeeming them would.
pub fn check_subscription_discounts(
    store: &Store,
    customer: &str,
    currency: &str,
    items: &[(String, i64)],
    reqs: &[DiscountRequest],
) -> ApiResult<Vec<Redemption>> {
    let prices: Vec<(&Price, i64)> = items
        .iter()
        .filter_map(|(p, q)| store.prices.get(p).map(|p| (p, *q)))
        .collect();
    let products: Vec<String> = prices.iter().map(|(p, _)| p.product.clone()).collect();
    let ctx = RedemptionContext {
        customer: Some(customer),
        currency,
        amount: prices.iter().map(|(p, q)| p.unit_amount * q).sum(),
        products: &products,
    };
    reqs.iter()
        .map(|r| check_redemption(store, r, ctx))
        .collect()
}

/// `(price, quantity)` pairs of subscription items.
pub fn item_pairs(items: &[SubItem]) -> Vec<(String, i64)> {
    items
        .iter()
        .map(|i| (i.price.clone(), i.quantity))
        .collect()
}

fn preview_for(
    store: &mut Store,
    sub: Subscription,
    changes: &[ItemChange],
    behavior: ProrationBehavior,
    proration_date: Option<i64>,
    reset_anchor: bool,
) -> ApiResult<Value> {
    let now = store.now();
    let sub_id = sub.id.as_str();
    if sub.status == "canceled" {
        return Err(ApiError::invalid_code(
            "invoice_upcoming_none",
            "No upcoming invoices for canceled subscription.".into(),
            Some("subscription"),
        ));
    }
    let t = proration_time(&sub, proration_date, now)?;
    let plan = plan_change(store, &sub, changes, behavior, t, reset_anchor)?;
    let mut lines = pending_lines(store, sub_id);
    let (reason, period) = if plan.immediate {
        lines.extend(plan.proration_lines);
        lines.extend(plan.cycle_lines);
        ("subscription_update", (t, t))
    } else {
        if behavior == ProrationBehavior::CreateProrations {
            lines.extend(plan.proration_lines);
        }
        let recurring = plan
            .new_items
            .first()
            .and_then(|i| store.prices.get(&i.price))
            .and_then(|p| p.recurring);
        let next_end = recurring
            .map(|r| {
                next_period_end(
                    sub.billing_cycle_anchor,
                    r.interval,
                    r.interval_count,
                    sub.current_period_end,
                )
            })
            .unwrap_or(sub.current_period_end);
        lines.extend(cycle_lines(
            store,
            &plan.new_items,
            sub.current_period_end,
            next_end,
        ));
        (
            "upcoming",
            (sub.current_period_start, sub.current_period_end),
        )
    };
    let mut lines: Vec<Line> = lines
        .into_iter()
        .map(|mut l| {
            l.id = format!("il_tmp_{}", store.ids.token(24));
            l
        })
        .collect();
    let at = if plan.immediate {
        t
    } else {
        sub.current_period_end
    };
    let discounts = discounts_of(store, &sub, at);
    let (on_invoice, _) = apply_discounts(store, &discounts, &mut lines, &sub.currency, at);
    let (tax_status, customer_address) =
        apply_tax(store, sub.automatic_tax, &sub.customer, &mut lines);
    let balance = store
        .customers
        .get(&sub.customer)
        .map(|c| c.balance)
        .unwrap_or(0);
    let invoice = Invoice {
        id: format!("upcoming_in_{}", store.ids.token(24)),
        created: now,
        customer: sub.customer.clone(),
        subscription: Some(sub.id.clone()),
        status: "draft".into(),
        billing_reason: reason.into(),
        currency: sub.currency.clone(),
        lines,
        period_start: period.0,
        period_end: period.1,
        starting_balance: balance,
        number: None,
        payment_intent: None,
        charge: None,
        attempt_count: 0,
        amount_paid: 0,
        finalized_at: None,
        paid_at: None,
        voided_at: None,
        next_payment_attempt: if plan.immediate {
            None
        } else {
            Some(sub.current_period_end)
        },
        first_failed_at: None,
        subscription_metadata: sub.metadata.clone(),
        discounts: on_invoice,
        tax_status,
        customer_address,
        finalization_error: None,
    };
    let mut json = invoice.to_json(store);
    json["id"] = Value::Null;
    Ok(json)
}
