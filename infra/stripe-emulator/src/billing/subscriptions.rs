//! Subscriptions: creation, updates with proration, previews, cancellation and schedules' item switches.

use super::*;

pub(super) fn sub_json(store: &Store, id: &str) -> Value {
    store.render(id).unwrap_or(Value::Null)
}

pub(super) fn save_sub(store: &mut Store, sub: Subscription) {
    store.subscriptions.insert(sub.id.clone(), sub);
}

/// What a new subscription starts with besides its customer and items.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    /// `default_payment_method`.
    pub pm: Option<String>,
    /// `metadata`.
    pub metadata: Map<String, Value>,
    /// `payment_behavior`.
    pub behavior: PaymentBehavior,
    /// Created by Checkout: the customer is present (3-D Secure passes) and the subscription
    /// starts `active`.
    pub checkout: bool,
    /// The trial's end (from `trial_end` or `trial_period_days`); `None`: no trial.
    pub trial_end: Option<i64>,
    /// `trial_settings[end_behavior][missing_payment_method]` (default `create_invoice`).
    pub trial_end_behavior: Option<String>,
    /// Checked coupons and promotion codes to redeem onto it.
    pub redemptions: Vec<Redemption>,
    /// `automatic_tax[enabled]`.
    pub automatic_tax: bool,
    /// The Checkout session creating it (named by its discounts).
    pub checkout_session: Option<String>,
}

/// Creates a subscription and pays its first invoice (a $0 one when it starts with a trial).
pub fn create_subscription(
    store: &mut Store,
    customer: &str,
    items: &[(String, i64)],
    new: NewSubscription,
) -> ApiResult<String> {
    let (currency, recurring) = validate_items(store, items, "items")?;
    let now = store.now();
    let trial_end = new.trial_end.filter(|t| *t > now);
    if new.behavior == PaymentBehavior::ErrorIfIncomplete && trial_end.is_none() {
        precheck_payment(store, new.pm.as_deref())?;
    }
    let id = store.new_id("sub_");
    let sub_items: Vec<SubItem> = items
        .iter()
        .map(|(p, q)| SubItem {
            id: store.new_id("si_"),
            created: now,
            price: p.clone(),
            quantity: *q,
        })
        .collect();
    // A trial is the first period; the billing cycle is anchored at its end.
    let end = trial_end
        .unwrap_or_else(|| add_interval(now, recurring.interval, recurring.interval_count));
    let status = match (trial_end, new.checkout) {
        (Some(_), _) => "trialing",
        (None, true) => "active",
        (None, false) => "incomplete",
    };
    let inv = store.new_id("in_");
    let sub = Subscription {
        id: id.clone(),
        created: now,
        customer: customer.to_string(),
        status: status.into(),
        items: sub_items,
        currency,
        billing_cycle_anchor: trial_end.unwrap_or(now),
        current_period_start: now,
        current_period_end: end,
        cancel_at_period_end: false,
        cancel_at: None,
        canceled_at: None,
        ended_at: None,
        cancellation_reason: None,
        latest_invoice: Some(inv.clone()),
        default_payment_method: new.pm.clone(),
        metadata: new.metadata,
        schedule: None,
        pending_update: None,
        start_date: now,
        trial_start: trial_end.map(|_| now),
        trial_end,
        trial_end_behavior: new
            .trial_end_behavior
            .unwrap_or_else(|| "create_invoice".into()),
        trial_will_end_sent: false,
        discounts: Vec::new(),
        automatic_tax: new.automatic_tax,
    };
    save_sub(store, sub.clone());
    let mut sub = sub;
    for r in &new.redemptions {
        let d = redeem(
            store,
            r,
            Some(customer),
            Some(&id),
            new.checkout_session.as_deref(),
        );
        sub.discounts.push(d);
    }
    save_sub(store, sub.clone());
    let created = sub_json(store, &id);
    store.emit("customer.subscription.created", created.clone(), None);
    let lines = if trial_end.is_some() {
        trial_lines(store, &sub.items, now, end)
    } else {
        cycle_lines(store, &sub.items, now, end)
    };
    create_invoice_with_id(
        store,
        inv.clone(),
        &sub,
        "subscription_create",
        lines,
        (now, now),
    );
    finalize_invoice(store, &inv);
    let pm = new.pm.or_else(|| payment_method_for(store, &sub));
    let outcome = pay_invoice(store, &inv, pm, new.checkout, Collection::Automatic)?;
    if trial_end.is_some() {
        warn_trial_ending(store, &id);
    } else if matches!(outcome, PayOutcome::Paid) && !new.checkout {
        if let Some(s) = store.subscriptions.get_mut(&id) {
            s.status = "active".into();
        }
        let after = sub_json(store, &id);
        store.emit_updated("customer.subscription.updated", &created, after);
    }
    Ok(id)
}

/// Refuses a payment that could not complete (for `error_if_incomplete`), before anything changes.
pub fn precheck_payment(store: &Store, pm: Option<&str>) -> ApiResult<()> {
    let Some(pm) = pm else {
        return Err(no_payment_method());
    };
    match payments::behaviour_of(store, pm) {
        Some(CardBehaviour::DeclineAlways { decline_code }) => Err(payments::decline_error(decline_code)),
        Some(CardBehaviour::DeclineCharges) => Err(payments::decline_error("generic_decline")),
        Some(CardBehaviour::RequireAuthentication) => Err(ApiError::card(
            "invoice_payment_intent_requires_action",
            None,
            "Payment for this subscription requires additional user action before it can be completed successfully.",
        )),
        _ => Ok(()),
    }
}

pub(super) fn no_payment_method() -> ApiError {
    ApiError::invalid_code(
        "resource_missing",
        "This customer has no attached payment source or default payment method. Please consider adding a default payment method.".into(),
        None,
    )
}

/// A subscription update request, already parsed.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// Item changes.
    pub items: Vec<ItemChange>,
    /// `proration_behavior`.
    pub proration_behavior: ProrationBehavior,
    /// `proration_date` (defaults to now).
    pub proration_date: Option<i64>,
    /// `payment_behavior`.
    pub payment_behavior: PaymentBehavior,
    /// `billing_cycle_anchor=now`.
    pub reset_anchor: bool,
    /// `cancel_at_period_end`.
    pub cancel_at_period_end: Option<bool>,
    /// `metadata`.
    pub metadata: Option<crate::form::MetadataUpdate>,
    /// `default_payment_method` (`Some(None)` clears it).
    pub default_payment_method: Option<Option<String>>,
    /// `trial_settings[end_behavior][missing_payment_method]`.
    pub trial_end_behavior: Option<String>,
    /// `discounts`: the subscription's discounts from now on (`Some(vec![])` removes all).
    pub discounts: Option<Vec<DiscountRequest>>,
    /// `automatic_tax[enabled]`.
    pub automatic_tax: Option<bool>,
}

/// Validates `proration_date` against the current period.
pub fn proration_time(sub: &Subscription, requested: Option<i64>, now: i64) -> ApiResult<i64> {
    let t = requested.unwrap_or(now);
    if t < sub.current_period_start || t > sub.current_period_end {
        return Err(ApiError::invalid(
            "proration_date must be within the subscription's current billing period.".into(),
            Some("proration_date"),
        ));
    }
    Ok(t)
}

pub(super) fn apply_items(
    sub: &mut Subscription,
    items: Vec<SubItem>,
    new_period: Option<(i64, i64)>,
) {
    sub.items = items;
    if let Some((start, end)) = new_period {
        sub.billing_cycle_anchor = start;
        sub.current_period_start = start;
        sub.current_period_end = end;
        if sub.cancel_at_period_end {
            sub.cancel_at = Some(end);
        }
    }
}

/// Updates a subscription as `POST /v1/subscriptions/{id}` does.
pub fn update_subscription(store: &mut Store, id: &str, req: &UpdateRequest) -> ApiResult<()> {
    let now = store.now();
    let mut sub = store
        .subscriptions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription", id))?;
    let only_metadata = req.items.is_empty()
        && req.discounts.is_none()
        && req.automatic_tax.is_none()
        && req.cancel_at_period_end.is_none()
        && req.default_payment_method.is_none()
        && !req.reset_anchor;
    if sub.status == "canceled" && !only_metadata {
        return Err(ApiError::invalid(
            "A canceled subscription can only update its cancellation_details and metadata.".into(),
            None,
        ));
    }
    if let Some(sched) = &sub.schedule {
        if !req.items.is_empty() || req.cancel_at_period_end.is_some() {
            return Err(ApiError::invalid(
                format!("The subscription is managed by the subscription schedule `{sched}`, and updating any cancelation behavior or items directly is not allowed. Please update the schedule instead."),
                None,
            ));
        }
    }
    let before = sub_json(store, id);
    if let Some(m) = &req.metadata {
        m.apply(&mut sub.metadata);
    }
    if let Some(b) = &req.trial_end_behavior {
        sub.trial_end_behavior = b.clone();
    }
    if let Some(pm) = &req.default_payment_method {
        match pm {
            None => sub.default_payment_method = None,
            Some(pm) => {
                let owner = store.payment_methods.get(pm).map(|p| p.customer.clone());
                match owner {
                    Some(Some(c)) if c == sub.customer => sub.default_payment_method = Some(pm.clone()),
                    Some(_) => {
                        return Err(ApiError::invalid(
                            format!("The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."),
                            Some("default_payment_method"),
                        ))
                    }
                    None => return Err(ApiError::no_such_param("PaymentMethod", pm, "default_payment_method")),
                }
            }
        }
    }
    if req.automatic_tax == Some(true) {
        require_tax_location(store, &sub.customer, "automatic_tax[enabled]")?;
    }
    let redemptions = match &req.discounts {
        Some(reqs) => Some(check_subscription_discounts(
            store,
            &sub.customer,
            &sub.currency,
            &item_pairs(&sub.items),
            reqs,
        )?),
        None => None,
    };
    if let Some(on) = req.automatic_tax {
        sub.automatic_tax = on;
    }
    if let (Some(reqs), Some(redemptions)) = (&req.discounts, redemptions) {
        let mut ids = Vec::new();
        for (r, redemption) in reqs.iter().zip(redemptions) {
            match &r.source {
                DiscountSource::Existing(d) if sub.discounts.contains(d) => ids.push(d.clone()),
                DiscountSource::Existing(d) => {
                    return Err(ApiError::invalid(
                        format!("The discount {d} is not one of this subscription's discounts."),
                        Some(&r.param),
                    ))
                }
                _ => ids.push(redeem(
                    store,
                    &redemption,
                    Some(&sub.customer),
                    Some(id),
                    None,
                )),
            }
        }
        let removed: Vec<String> = sub
            .discounts
            .iter()
            .filter(|d| !ids.contains(d))
            .cloned()
            .collect();
        for d in removed {
            let json = store.render(&d).unwrap_or(Value::Null);
            store.emit("customer.discount.deleted", json, None);
        }
        sub.discounts = ids;
    }
    if let Some(flag) = req.cancel_at_period_end {
        sub.cancel_at_period_end = flag;
        sub.cancel_at = flag.then_some(sub.current_period_end);
        sub.canceled_at = flag.then_some(now);
        sub.cancellation_reason = flag.then(|| "cancellation_requested".to_string());
    }
    if req.items.is_empty() && !req.reset_anchor {
        save_sub(store, sub);
        let after = sub_json(store, id);
        store.emit_updated("customer.subscription.updated", &before, after);
        return Ok(());
    }
    let t = proration_time(&sub, req.proration_date, now)?;
    let mut plan = plan_change(
        store,
        &sub,
        &req.items,
        req.proration_behavior,
        t,
        req.reset_anchor,
    )?;
    if sub.status == "trialing" {
        // Trial time is free: a change of items during a trial bills nothing until it ends.
        plan.proration_lines.clear();
        plan.new_period = None;
        plan.immediate = false;
    }
    if !plan.immediate {
        if req.proration_behavior == ProrationBehavior::CreateProrations {
            add_pending_items(store, &sub, plan.proration_lines.clone());
        }
        apply_items(&mut sub, plan.new_items, plan.new_period);
        save_sub(store, sub);
        let after = sub_json(store, id);
        store.emit_updated("customer.subscription.updated", &before, after);
        return Ok(());
    }
    let pm = payment_method_for(store, &sub);
    let mut lines = pending_lines(store, id);
    lines.extend(plan.proration_lines.iter().cloned());
    lines.extend(plan.cycle_lines.iter().cloned());
    match req.payment_behavior {
        PaymentBehavior::PendingIfIncomplete => {
            if pm.is_none() {
                return Err(no_payment_method());
            }
            save_sub(store, sub.clone());
            let inv = create_invoice(store, &sub, "subscription_update", lines, (t, t));
            finalize_invoice(store, &inv);
            let outcome = pay_invoice(store, &inv, pm, false, Collection::Automatic)?;
            let Some(s) = store.subscriptions.get_mut(id) else {
                return Ok(());
            };
            s.latest_invoice = Some(inv.clone());
            if matches!(outcome, PayOutcome::Paid) {
                apply_items(s, plan.new_items, plan.new_period);
            } else {
                s.pending_update = Some(PendingUpdate {
                    expires_at: (now + 23 * 3600).min(s.current_period_end),
                    items: plan.new_items,
                    invoice: inv,
                    new_period: plan.new_period,
                });
            }
            let after = sub_json(store, id);
            store.emit_updated("customer.subscription.updated", &before, after);
            Ok(())
        }
        PaymentBehavior::ErrorIfIncomplete | PaymentBehavior::AllowIncomplete => {
            if req.payment_behavior == PaymentBehavior::ErrorIfIncomplete {
                precheck_payment(store, pm.as_deref())?;
            }
            apply_items(&mut sub, plan.new_items, plan.new_period);
            save_sub(store, sub.clone());
            let inv = create_invoice(store, &sub, "subscription_update", lines, (t, t));
            if let Some(s) = store.subscriptions.get_mut(id) {
                s.latest_invoice = Some(inv.clone());
            }
            let applied = sub_json(store, id);
            store.emit_updated("customer.subscription.updated", &before, applied.clone());
            finalize_invoice(store, &inv);
            let outcome = pay_invoice(store, &inv, pm, false, Collection::Automatic)?;
            if !matches!(outcome, PayOutcome::Paid) {
                if let Some(s) = store.subscriptions.get_mut(id) {
                    s.status = "past_due".into();
                }
                let after = sub_json(store, id);
                store.emit_updated("customer.subscription.updated", &applied, after);
            }
            Ok(())
        }
    }
}

/// Cancels a subscription now; optionally credits unused time and invoices pending items.
pub fn cancel_now(
    store: &mut Store,
    id: &str,
    prorate: bool,
    invoice_now: bool,
    reason: &str,
) -> ApiResult<()> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription", id))?;
    if sub.status == "canceled" {
        return Err(ApiError::invalid(
            format!("This subscription has already been canceled ({id})."),
            None,
        ));
    }
    if prorate {
        let t = now.clamp(sub.current_period_start, sub.current_period_end);
        let credits: Vec<Line> = sub
            .items
            .iter()
            .filter_map(|i| credit_line(store, &sub, i, t))
            .filter(|l| l.amount != 0)
            .collect();
        add_pending_items(store, &sub, credits);
    }
    if invoice_now {
        let lines = pending_lines(store, id);
        if !lines.is_empty() {
            let inv = create_invoice(
                store,
                &sub,
                "subscription_cycle",
                lines,
                (sub.current_period_start, now),
            );
            finalize_invoice(store, &inv);
            let pm = payment_method_for(store, &sub);
            pay_invoice(store, &inv, pm, false, Collection::Automatic)?;
            if let Some(s) = store.subscriptions.get_mut(id) {
                s.latest_invoice = Some(inv);
            }
        }
    }
    end_subscription(store, id, now, reason);
    Ok(())
}

pub(super) fn end_subscription(store: &mut Store, id: &str, at: i64, reason: &str) {
    let mut schedule = None;
    if let Some(s) = store.subscriptions.get_mut(id) {
        s.status = "canceled".into();
        s.ended_at = Some(at);
        s.canceled_at = s.canceled_at.or(Some(at));
        s.cancellation_reason = s.cancellation_reason.clone().or(Some(reason.to_string()));
        s.pending_update = None;
        schedule = s.schedule.take();
    }
    // Canceling stops automatic collection of the subscription's open invoices.
    stop_retries(store, id);
    if let Some(sched) = schedule.and_then(|sid| store.schedules.get_mut(&sid)) {
        if sched.status == "active" || sched.status == "not_started" {
            sched.status = "canceled".into();
            sched.canceled_at = Some(at);
        }
    }
    let json = sub_json(store, id);
    store.emit("customer.subscription.deleted", json, None);
}

/// Switches a subscription to new items without proration (schedule phase changes).
pub fn switch_items(
    store: &mut Store,
    sub_id: &str,
    items: &[(String, i64)],
    prorate: bool,
    at: i64,
) -> ApiResult<()> {
    let Some(sub) = store.subscriptions.get(sub_id).cloned() else {
        return Ok(());
    };
    let before = sub_json(store, sub_id);
    let now = store.now();
    let mut new_items = Vec::new();
    for (n, (price, qty)) in items.iter().enumerate() {
        let id = match sub.items.get(n) {
            Some(old) => old.id.clone(),
            None => store.new_id("si_"),
        };
        new_items.push(SubItem {
            id,
            created: sub.items.get(n).map(|o| o.created).unwrap_or(now),
            price: price.clone(),
            quantity: *qty,
        });
    }
    if new_items == sub.items {
        return Ok(());
    }
    if prorate && at < sub.current_period_end {
        let changes: Vec<ItemChange> = new_items
            .iter()
            .map(|i| ItemChange {
                id: sub.items.iter().any(|o| o.id == i.id).then(|| i.id.clone()),
                price: Some(i.price.clone()),
                quantity: Some(i.quantity),
                deleted: false,
            })
            .collect();
        let plan = plan_change(
            store,
            &sub,
            &changes,
            ProrationBehavior::CreateProrations,
            at,
            false,
        )?;
        add_pending_items(store, &sub, plan.proration_lines);
    }
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        s.items = new_items;
    }
    let after = sub_json(store, sub_id);
    store.emit_updated("customer.subscription.updated", &before, after);
    Ok(())
}

/// Ends a subscription at `at` (schedule `end_behavior=cancel`).
pub fn end_subscription_at(store: &mut Store, id: &str, at: i64) {
    end_subscription(store, id, at, "cancellation_requested");
}
