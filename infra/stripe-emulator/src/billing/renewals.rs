//! What the clock makes due: renewals (a trial's end among them), trial warnings, phase ends,
//! scheduled cancellations, retries and expiring pending updates.

use super::*;

/// Something the clock can make due.
#[derive(Debug, Clone)]
pub(super) enum Due {
    ExpirePending(String),
    PhaseEnd(String),
    CancelAt(String),
    Retry(String),
    Renew(String),
    TrialWillEnd(String),
}

pub(super) fn next_due(store: &Store, target: i64) -> Option<(i64, Due)> {
    let mut best: Option<(i64, u8, String, Due)> = None;
    let mut consider = |t: i64, rank: u8, id: &str, due: Due| {
        if t > target {
            return;
        }
        let better = match &best {
            None => true,
            Some((bt, br, bid, _)) => (t, rank, id) < (*bt, *br, bid.as_str()),
        };
        if better {
            best = Some((t, rank, id.to_string(), due));
        }
    };
    for s in store.subscriptions.oldest_first() {
        if !matches!(
            s.status.as_str(),
            "active" | "past_due" | "unpaid" | "trialing"
        ) {
            continue;
        }
        if let Some(end) = s
            .trial_end
            .filter(|_| s.status == "trialing" && !s.trial_will_end_sent)
        {
            consider(
                end - TRIAL_WARNING_SECS,
                0,
                &s.id,
                Due::TrialWillEnd(s.id.clone()),
            );
        }
        if let Some(pu) = &s.pending_update {
            consider(pu.expires_at, 0, &s.id, Due::ExpirePending(s.id.clone()));
        }
        if let Some(at) = s.cancel_at.filter(|at| *at < s.current_period_end) {
            consider(at, 2, &s.id, Due::CancelAt(s.id.clone()));
        }
        consider(s.current_period_end, 4, &s.id, Due::Renew(s.id.clone()));
    }
    for inv in store.invoices.oldest_first() {
        if inv.status != "open" {
            continue;
        }
        if let Some(at) = inv.next_payment_attempt {
            consider(at, 3, &inv.id, Due::Retry(inv.id.clone()));
        }
    }
    for sc in store.schedules.oldest_first() {
        if sc.status != "active" {
            continue;
        }
        if let Some(p) = sc.phases.get(sc.current_phase) {
            consider(p.end_date, 1, &sc.id, Due::PhaseEnd(sc.id.clone()));
        }
    }
    best.map(|(t, _, _, d)| (t, d))
}

/// Moves the clock to `target`, processing renewals, cancellations, schedule phases,
/// pending-update expiries and invoice payment retries in time order.
pub fn advance_to(store: &mut Store, target: i64) -> ApiResult<()> {
    for _ in 0..100_000 {
        let Some((t, due)) = next_due(store, target) else {
            break;
        };
        store.clock.set(t);
        match due {
            Due::ExpirePending(id) => expire_pending(store, &id),
            Due::PhaseEnd(id) => crate::schedules::end_phase(store, &id, t)?,
            Due::CancelAt(id) => end_subscription(store, &id, t, "cancellation_requested"),
            Due::Retry(id) => retry_invoice(store, &id, t)?,
            Due::Renew(id) => {
                if end_trial_without_payment_method(store, &id, t).is_none() {
                    renew(store, &id, t)?;
                }
            }
            Due::TrialWillEnd(id) => warn_trial_ending(store, &id),
        }
    }
    store.clock.set(target);
    Ok(())
}

pub(super) fn expire_pending(store: &mut Store, id: &str) {
    let before = sub_json(store, id);
    let Some(pu) = store
        .subscriptions
        .get_mut(id)
        .and_then(|s| s.pending_update.take())
    else {
        return;
    };
    void_invoice(store, &pu.invoice);
    let after = sub_json(store, id);
    store.emit_updated("customer.subscription.updated", &before, after);
}

pub(super) fn renew(store: &mut Store, id: &str, at: i64) -> ApiResult<()> {
    let Some(sub) = store.subscriptions.get(id).cloned() else {
        return Ok(());
    };
    if sub.cancel_at_period_end || sub.cancel_at.is_some_and(|c| c <= at) {
        end_subscription(store, id, at, "cancellation_requested");
        return Ok(());
    }
    let before = sub_json(store, id);
    let recurring = sub
        .items
        .first()
        .and_then(|i| store.prices.get(&i.price))
        .and_then(|p| p.recurring)
        .ok_or_else(|| ApiError::invalid("Subscription has no recurring price.".into(), None))?;
    let end = next_period_end(
        sub.billing_cycle_anchor,
        recurring.interval,
        recurring.interval_count,
        at,
    );
    let mut renewed = sub.clone();
    renewed.current_period_start = at;
    renewed.current_period_end = end;
    save_sub(store, renewed.clone());
    let mut lines = pending_lines(store, id);
    lines.extend(cycle_lines(store, &renewed.items, at, end));
    let inv = create_invoice(
        store,
        &renewed,
        "subscription_cycle",
        lines,
        (sub.current_period_start, sub.current_period_end),
    );
    finalize_invoice(store, &inv);
    if let Some(s) = store.subscriptions.get_mut(id) {
        s.latest_invoice = Some(inv.clone());
    }
    if renewed.status != "unpaid" {
        // An unpaid subscription keeps invoicing, but Stripe no longer attempts payments.
        let pm = payment_method_for(store, &renewed);
        let outcome = pay_invoice(store, &inv, pm, false, Collection::Automatic)?;
        // A trial's end converts the subscription: `active` once paid, else `past_due`.
        if let Some(s) = store.subscriptions.get_mut(id) {
            s.status = match outcome {
                PayOutcome::Paid => "active",
                // A draft was not due: the subscription's status stays.
                PayOutcome::NotFinalized if s.status != "trialing" => s.status.as_str(),
                PayOutcome::NotFinalized => "active",
                _ => "past_due",
            }
            .to_string();
        }
    }
    let after = sub_json(store, id);
    store.emit_updated("customer.subscription.updated", &before, after);
    Ok(())
}
