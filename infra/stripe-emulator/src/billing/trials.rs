//! Trials: the $0 trial invoice, `trial_will_end`, what happens at the trial's end (convert,
//! cancel, pause or an unpaid invoice), changing `trial_end`, and resuming a paused subscription.

use super::*;

/// Stripe sends `customer.subscription.trial_will_end` this long before `trial_end` (or at
/// once when the trial is shorter).
pub const TRIAL_WARNING_SECS: i64 = 3 * 86_400;

/// Longest trial Stripe accepts: `trial_end` at most 730 days ahead.
pub const MAX_TRIAL_DAYS: i64 = 730;

/// `trial_end` of a request: `now` (end the trial at once) or a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialEnd {
    /// `trial_end=now`.
    Now,
    /// `trial_end=<unix seconds>`.
    At(i64),
}

impl TrialEnd {
    /// Parses `trial_end` (`now` or a future timestamp within 730 days), with Stripe's errors.
    pub fn parse(raw: Option<&str>, now: i64, param: &str) -> ApiResult<Option<TrialEnd>> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        if raw == "now" {
            return Ok(Some(TrialEnd::Now));
        }
        let t: i64 = raw.trim().parse().map_err(|_| {
            ApiError::invalid(
                format!("Invalid {param}: must be `now` or an integer Unix timestamp (got {raw})."),
                Some(param),
            )
        })?;
        if t <= now {
            return Err(ApiError::invalid(
                format!(
                    "Invalid timestamp: must be an integer Unix timestamp in the future ({param})."
                ),
                Some(param),
            ));
        }
        if t > now + MAX_TRIAL_DAYS * 86_400 {
            return Err(ApiError::invalid(
                format!("Invalid timestamp: can be no more than {MAX_TRIAL_DAYS} days in the future ({param})."),
                Some(param),
            ));
        }
        Ok(Some(TrialEnd::At(t)))
    }
}

/// The trial's end from `trial_end` and `trial_period_days` (Stripe refuses both at once);
/// `params` names the two parameters in errors.
pub fn trial_end_from(
    trial_end: Option<TrialEnd>,
    trial_period_days: Option<i64>,
    now: i64,
    params: (&str, &str),
) -> ApiResult<Option<i64>> {
    let (end_param, days_param) = params;
    match (trial_end, trial_period_days) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            format!("You may only specify one of these parameters: {end_param}, {days_param}."),
            Some(days_param),
        )),
        (Some(TrialEnd::Now), None) | (None, None) | (None, Some(0)) => Ok(None),
        (Some(TrialEnd::At(t)), None) => Ok(Some(t)),
        (None, Some(d)) if (1..=MAX_TRIAL_DAYS).contains(&d) => Ok(Some(now + d * 86_400)),
        (None, Some(_)) => Err(ApiError::invalid(
            format!("{days_param} must be between 1 and {MAX_TRIAL_DAYS}."),
            Some(days_param),
        )),
    }
}

/// Checks `trial_settings[end_behavior][missing_payment_method]`.
pub fn trial_end_behavior(value: Option<String>, param: &str) -> ApiResult<Option<String>> {
    match value.as_deref() {
        None => Ok(None),
        Some("cancel" | "pause" | "create_invoice") => Ok(value),
        Some(other) => Err(ApiError::invalid(
            format!(
                "Invalid {param}: must be one of cancel, create_invoice, or pause (got {other})"
            ),
            Some(param),
        )),
    }
}

/// The $0 lines of a trial invoice: `Trial period for Professional`.
pub(super) fn trial_lines(store: &Store, items: &[SubItem], start: i64, end: i64) -> Vec<Line> {
    cycle_lines(store, items, start, end)
        .into_iter()
        .map(|mut l| {
            let product = store
                .prices
                .get(&l.price)
                .map(|p| product_name(store, p))
                .unwrap_or_default();
            l.amount = 0;
            l.description = format!("Trial period for {product}");
            l
        })
        .collect()
}

/// Emits `customer.subscription.trial_will_end` once per trial end, when it is due (3 days
/// before `trial_end`, or now for a shorter trial).
pub(super) fn warn_trial_ending(store: &mut Store, id: &str) {
    let now = store.now();
    let due = store.subscriptions.get(id).is_some_and(|s| {
        s.status == "trialing"
            && !s.trial_will_end_sent
            && s.trial_end.is_some_and(|t| t - TRIAL_WARNING_SECS <= now)
    });
    if !due {
        return;
    }
    if let Some(s) = store.subscriptions.get_mut(id) {
        s.trial_will_end_sent = true;
    }
    let json = sub_json(store, id);
    store.emit("customer.subscription.trial_will_end", json, None);
}

/// At `trial_end` of a subscription that has no payment method: `Some(())` when the trial
/// end behavior handled it (canceled or paused); `None` to invoice it as a renewal.
pub(super) fn end_trial_without_payment_method(store: &mut Store, id: &str, at: i64) -> Option<()> {
    let sub = store.subscriptions.get(id)?;
    if sub.status != "trialing" || payment_method_for(store, sub).is_some() {
        return None;
    }
    match sub.trial_end_behavior.as_str() {
        "cancel" => {
            // Stripe's reasons are cancellation_requested, payment_disputed and payment_failed;
            // a trial canceled by its own settings is not a failed payment.
            end_subscription(store, id, at, "cancellation_requested");
            Some(())
        }
        "pause" => {
            let before = sub_json(store, id);
            if let Some(s) = store.subscriptions.get_mut(id) {
                s.status = "paused".into();
            }
            let after = sub_json(store, id);
            store.emit_updated("customer.subscription.updated", &before, after.clone());
            store.emit("customer.subscription.paused", after, None);
            Some(())
        }
        _ => None,
    }
}

/// Moves the trial's end of a `trialing` subscription (`trial_end` on an update): `now` ends
/// it at once (the subscription is invoiced as at a trial's end), a timestamp shortens or
/// extends it. Answers whether anything changed.
pub fn change_trial_end(store: &mut Store, id: &str, trial_end: TrialEnd) -> ApiResult<bool> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription", id))?;
    if sub.status != "trialing" {
        if trial_end == TrialEnd::Now {
            return Ok(false);
        }
        return Err(ApiError::invalid(
            "The emulator supports `trial_end` updates only on a trialing subscription.".into(),
            Some("trial_end"),
        ));
    }
    let t = match trial_end {
        TrialEnd::Now => now,
        TrialEnd::At(t) => t,
    };
    let before = sub_json(store, id);
    if let Some(s) = store.subscriptions.get_mut(id) {
        s.trial_end = Some(t);
        s.current_period_end = t;
        s.billing_cycle_anchor = t;
        s.trial_will_end_sent = s.trial_will_end_sent && t == sub.current_period_end;
    }
    if trial_end == TrialEnd::Now {
        if end_trial_without_payment_method(store, id, now).is_none() {
            renew(store, id, now)?;
        }
        return Ok(true);
    }
    let after = sub_json(store, id);
    store.emit_updated("customer.subscription.updated", &before, after);
    warn_trial_ending(store, id);
    Ok(true)
}

/// `POST /v1/subscriptions/{id}/resume`: a paused subscription starts a new period now
/// (`billing_cycle_anchor=now`, the default) with an invoice for it, or continues in the
/// period of its old anchor (`unchanged`), the time left prorated as `proration_behavior` says.
/// Paid: `active`; not paid: `past_due`. Emits `customer.subscription.resumed`.
pub fn resume_subscription(
    store: &mut Store,
    id: &str,
    reset_anchor: bool,
    behavior: ProrationBehavior,
) -> ApiResult<()> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription", id))?;
    if sub.status != "paused" {
        return Err(ApiError::invalid(
            format!(
                "Subscription {id} cannot be resumed because its status is {}; only a paused subscription can be resumed.",
                sub.status
            ),
            None,
        ));
    }
    let recurring = sub
        .items
        .first()
        .and_then(|i| store.prices.get(&i.price))
        .and_then(|p| p.recurring)
        .ok_or_else(|| ApiError::invalid("Subscription has no recurring price.".into(), None))?;
    let before = sub_json(store, id);
    let (anchor, end) = if reset_anchor {
        (
            now,
            add_interval(now, recurring.interval, recurring.interval_count),
        )
    } else {
        let anchor = sub.billing_cycle_anchor;
        (
            anchor,
            next_period_end(anchor, recurring.interval, recurring.interval_count, now),
        )
    };
    let start = if reset_anchor {
        now
    } else {
        add_interval(end, recurring.interval, -recurring.interval_count).min(now)
    };
    let mut resumed = sub;
    resumed.billing_cycle_anchor = anchor;
    resumed.current_period_start = start;
    resumed.current_period_end = end;
    save_sub(store, resumed.clone());
    let lines = if reset_anchor {
        let mut lines = pending_lines(store, id);
        lines.extend(cycle_lines(store, &resumed.items, now, end));
        lines
    } else if behavior == ProrationBehavior::None {
        Vec::new()
    } else {
        let charges: Vec<Line> = resumed
            .items
            .iter()
            .filter_map(|i| charge_line(store, &resumed, i, now))
            .filter(|l| l.amount != 0)
            .collect();
        if behavior == ProrationBehavior::CreateProrations {
            add_pending_items(store, &resumed, charges);
            Vec::new()
        } else {
            let mut lines = pending_lines(store, id);
            lines.extend(charges);
            lines
        }
    };
    let mut status = "active";
    if !lines.is_empty() {
        let inv = create_invoice(store, &resumed, "subscription_update", lines, (now, now));
        finalize_invoice(store, &inv);
        if let Some(s) = store.subscriptions.get_mut(id) {
            s.latest_invoice = Some(inv.clone());
        }
        let pm = payment_method_for(store, &resumed);
        if !matches!(
            pay_invoice(store, &inv, pm, false, Collection::Automatic)?,
            PayOutcome::Paid
        ) {
            status = "past_due";
        }
    }
    if let Some(s) = store.subscriptions.get_mut(id) {
        s.status = status.into();
    }
    let after = sub_json(store, id);
    store.emit_updated("customer.subscription.updated", &before, after.clone());
    store.emit("customer.subscription.resumed", after, None);
    Ok(())
}
