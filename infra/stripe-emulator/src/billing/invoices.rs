//! Invoices: creation, finalization, payment, retries and voiding.

use super::*;

/// What happened to an invoice payment.
#[derive(Debug, Clone)]
pub enum PayOutcome {
    /// Paid (or nothing was due).
    Paid,
    /// Declined.
    Failed(ApiError),
    /// Needs 3-D Secure.
    ActionRequired,
    /// No payment method to charge.
    NoPaymentMethod,
    /// The invoice could not be finalized (automatic tax without a customer location).
    NotFinalized,
}

/// Who started a payment attempt. Stripe counts the first attempt of any kind, then only
/// automatic retries: manual attempts do not move `attempt_count` or the retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Stripe's automatic collection: creation, renewal, updates and scheduled retries.
    Automatic,
    /// `POST /v1/invoices/{id}/pay`.
    Manual,
}

/// Creates a draft invoice with these lines (sweeping the invoice items they came from);
/// emits `invoice.created`.
pub fn create_invoice(
    store: &mut Store,
    sub: &Subscription,
    reason: &str,
    lines: Vec<Line>,
    period: (i64, i64),
) -> String {
    let id = store.new_id("in_");
    create_invoice_with_id(store, id, sub, reason, lines, period)
}

/// [`create_invoice`] with an id chosen beforehand (so a subscription can name it first).
pub fn create_invoice_with_id(
    store: &mut Store,
    id: String,
    sub: &Subscription,
    reason: &str,
    lines: Vec<Line>,
    period: (i64, i64),
) -> String {
    let now = store.now();
    let mut lines: Vec<Line> = lines
        .into_iter()
        .map(|mut l| {
            l.id = store.new_id("il_");
            l
        })
        .collect();
    let discounts = discounts_of(store, sub, now);
    let (on_invoice, took) = apply_discounts(store, &discounts, &mut lines, &sub.currency, now);
    let (tax_status, customer_address) =
        apply_tax(store, sub.automatic_tax, &sub.customer, &mut lines);
    for l in &lines {
        if let Some(ii) = l
            .invoice_item
            .as_ref()
            .and_then(|ii| store.invoice_items.get_mut(ii))
        {
            ii.invoice = Some(id.clone());
        }
    }
    let balance = store
        .customers
        .get(&sub.customer)
        .map(|c| c.balance)
        .unwrap_or(0);
    let invoice = Invoice {
        id: id.clone(),
        created: store.now(),
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
        next_payment_attempt: None,
        first_failed_at: None,
        subscription_metadata: sub.metadata.clone(),
        discounts: on_invoice,
        tax_status,
        customer_address,
        finalization_error: None,
    };
    store.invoices.insert(id.clone(), invoice);
    settle_discounts(store, &sub.id, &took, now);
    emit_invoice(store, "invoice.created", &id);
    id
}

pub(super) fn emit_invoice(store: &mut Store, kind: &str, id: &str) {
    let json = store.render(id).unwrap_or(Value::Null);
    store.emit(kind, json, None);
}

/// Finalizes a draft: number, customer balance applied; emits `invoice.finalized`.
///
/// With automatic tax and no customer location Stripe cannot finalize: the invoice stays a
/// draft with `last_finalization_error` (`customer_tax_location_invalid`) and
/// `invoice.finalization_failed` is emitted; nothing is charged.
pub fn finalize_invoice(store: &mut Store, id: &str) {
    let now = store.now();
    let Some(customer_id) = store.invoices.get(id).map(|i| i.customer.clone()) else {
        return;
    };
    let unlocated = store
        .invoices
        .get(id)
        .is_some_and(|i| i.tax_status.as_deref() == Some("requires_location_inputs"));
    if unlocated {
        if let Some(inv) = store.invoices.get_mut(id) {
            inv.finalization_error = Some(
                "The customer's location isn't recognized. Set a valid customer address to calculate tax.".into(),
            );
        }
        emit_invoice(store, "invoice.finalization_failed", id);
        return;
    }
    let (balance, number) = match store.customers.get_mut(&customer_id) {
        Some(c) => {
            let number = format!("{}-{:04}", c.invoice_prefix, c.next_invoice_sequence);
            c.next_invoice_sequence += 1;
            (c.balance, number)
        }
        None => (0, format!("EMU-{now}")),
    };
    let mut ending = 0;
    if let Some(inv) = store.invoices.get_mut(id) {
        inv.starting_balance = balance;
        inv.status = "open".into();
        inv.number = Some(number);
        inv.finalized_at = Some(now);
        ending = inv.ending_balance();
    }
    if let Some(c) = store.customers.get_mut(&customer_id) {
        c.balance = ending;
    }
    emit_invoice(store, "invoice.finalized", id);
}

pub(super) fn mark_paid(store: &mut Store, id: &str) {
    let now = store.now();
    let charge = store
        .invoices
        .get(id)
        .and_then(|i| i.payment_intent.clone())
        .and_then(|pi| store.payment_intents.get(&pi))
        .and_then(|pi| pi.latest_charge.clone());
    if let Some(inv) = store.invoices.get_mut(id) {
        inv.status = "paid".into();
        inv.paid_at = Some(now);
        inv.amount_paid = inv.amount_due();
        inv.charge = charge;
        inv.next_payment_attempt = None;
    }
    emit_invoice(store, "invoice.paid", id);
    emit_invoice(store, "invoice.payment_succeeded", id);
}

pub(super) fn intent_description(reason: &str) -> &'static str {
    match reason {
        "subscription_create" => "Subscription creation",
        "subscription_cycle" => "Subscription cycle",
        _ => "Subscription update",
    }
}

/// The payment method a subscription's invoices are charged to.
pub fn payment_method_for(store: &Store, sub: &Subscription) -> Option<String> {
    sub.default_payment_method.clone().or_else(|| {
        store
            .customers
            .get(&sub.customer)
            .and_then(|c| c.default_payment_method.clone())
    })
}

/// Attempts to pay an open invoice, emitting Stripe's invoice and payment events; a failed
/// attempt that counts schedules the next automatic retry.
pub fn pay_invoice(
    store: &mut Store,
    id: &str,
    pm: Option<String>,
    authenticated: bool,
    collection: Collection,
) -> ApiResult<PayOutcome> {
    let inv = store
        .invoices
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("invoice", id))?;
    if inv.status == "paid" {
        return Ok(PayOutcome::Paid);
    }
    if inv.status == "draft" {
        return Ok(PayOutcome::NotFinalized);
    }
    if inv.amount_due() == 0 {
        mark_paid(store, id);
        return Ok(PayOutcome::Paid);
    }
    let counts = inv.attempt_count == 0 || collection == Collection::Automatic;
    if counts {
        if let Some(inv) = store.invoices.get_mut(id) {
            inv.attempt_count += 1;
        }
    }
    let outcome = match pm {
        None => PayOutcome::NoPaymentMethod,
        Some(pm) => {
            let pi = match inv.payment_intent.clone() {
                Some(pi) => pi,
                None => {
                    let pi = payments::create_intent(
                        store,
                        inv.amount_due(),
                        &inv.currency,
                        Some(inv.customer.clone()),
                        Some(intent_description(&inv.billing_reason).into()),
                        Map::new(),
                        Some(id.to_string()),
                        false,
                    );
                    if let Some(inv) = store.invoices.get_mut(id) {
                        inv.payment_intent = Some(pi.clone());
                    }
                    pi
                }
            };
            match payments::confirm_intent(store, &pi, &pm, authenticated)? {
                Attempt::Succeeded => {
                    mark_paid(store, id);
                    return Ok(PayOutcome::Paid);
                }
                Attempt::Declined(e) => PayOutcome::Failed(e),
                Attempt::RequiresAction => PayOutcome::ActionRequired,
            }
        }
    };
    if counts {
        schedule_retry(store, id);
    }
    let kind = match outcome {
        PayOutcome::ActionRequired => "invoice.payment_action_required",
        _ => "invoice.payment_failed",
    };
    emit_invoice(store, kind, id);
    Ok(outcome)
}

/// Sets `next_payment_attempt` after a failed attempt that counts, from the emulator's retry
/// schedule (counted from the first failure). A subscription's first invoice is not retried
/// (the subscription stays `incomplete`), nor are invoices of an `unpaid` or ended subscription.
pub(super) fn schedule_retry(store: &mut Store, id: &str) {
    let now = store.now();
    let sub_status = store
        .invoices
        .get(id)
        .and_then(|i| i.subscription.as_ref())
        .and_then(|s| store.subscriptions.get(s))
        .map(|s| s.status.clone());
    let retried = !matches!(
        sub_status.as_deref(),
        Some("unpaid" | "canceled" | "incomplete" | "incomplete_expired")
    );
    let dunning = store.dunning.clone();
    if let Some(inv) = store.invoices.get_mut(id) {
        let first = *inv.first_failed_at.get_or_insert(now);
        inv.next_payment_attempt = (retried && inv.billing_reason != "subscription_create")
            .then(|| dunning.next_attempt(first, inv.attempt_count))
            .flatten();
    }
}

/// Settles an invoice whose payment intent just succeeded or failed outside an update
/// (payment intent confirm, 3-D Secure hook): applies or drops a pending update, fixes status.
pub fn after_intent(store: &mut Store, pi_id: &str, attempt: &Attempt) {
    let Some(inv_id) = store
        .payment_intents
        .get(pi_id)
        .and_then(|pi| pi.invoice.clone())
    else {
        return;
    };
    let Some(sub_id) = store
        .invoices
        .get(&inv_id)
        .and_then(|i| i.subscription.clone())
    else {
        return;
    };
    let before = sub_json(store, &sub_id);
    match attempt {
        Attempt::Succeeded => {
            mark_paid(store, &inv_id);
            settle_paid(store, &sub_id, &inv_id);
        }
        Attempt::Declined(_) => {
            emit_invoice(store, "invoice.payment_failed", &inv_id);
            let pending_on_this = store
                .subscriptions
                .get(&sub_id)
                .and_then(|s| s.pending_update.as_ref())
                .is_some_and(|pu| pu.invoice == inv_id);
            if pending_on_this {
                void_invoice(store, &inv_id);
                if let Some(s) = store.subscriptions.get_mut(&sub_id) {
                    s.pending_update = None;
                }
            }
        }
        Attempt::RequiresAction => {
            emit_invoice(store, "invoice.payment_action_required", &inv_id);
        }
    }
    let after = sub_json(store, &sub_id);
    store.emit_updated("customer.subscription.updated", &before, after);
}

/// After one of its invoices was paid: applies the update that invoice carried, and makes the
/// subscription `active` again once its latest invoice is paid.
pub(super) fn settle_paid(store: &mut Store, sub_id: &str, inv_id: &str) {
    let latest_paid = store
        .subscriptions
        .get(sub_id)
        .and_then(|s| s.latest_invoice.as_ref())
        .is_none_or(|latest| {
            latest == inv_id
                || store
                    .invoices
                    .get(latest)
                    .is_some_and(|i| i.status == "paid")
        });
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        if let Some(pu) = s.pending_update.take() {
            if pu.invoice == inv_id {
                apply_items(s, pu.items, pu.new_period);
            } else {
                s.pending_update = Some(pu);
            }
        }
        if latest_paid && matches!(s.status.as_str(), "past_due" | "incomplete" | "unpaid") {
            s.status = "active".into();
        }
    }
}

/// Clears the scheduled retries of a subscription's open invoices.
pub(super) fn stop_retries(store: &mut Store, sub_id: &str) {
    for id in store.invoices.ids() {
        if let Some(inv) = store.invoices.get_mut(&id) {
            if inv.status == "open" && inv.subscription.as_deref() == Some(sub_id) {
                inv.next_payment_attempt = None;
            }
        }
    }
}

/// A scheduled automatic retry of an open subscription invoice, charged to the payment method
/// the subscription would use now. When the last retry fails, the configured final action:
/// `unpaid`, or cancellation (`customer.subscription.deleted`).
pub(super) fn retry_invoice(store: &mut Store, inv_id: &str, at: i64) -> ApiResult<()> {
    let Some(sub) = store
        .invoices
        .get(inv_id)
        .and_then(|i| i.subscription.as_ref())
        .and_then(|s| store.subscriptions.get(s))
        .cloned()
    else {
        return Ok(());
    };
    let before = sub_json(store, &sub.id);
    let pm = payment_method_for(store, &sub);
    match pay_invoice(store, inv_id, pm, false, Collection::Automatic)? {
        PayOutcome::Paid => settle_paid(store, &sub.id, inv_id),
        _ => {
            let exhausted = store
                .invoices
                .get(inv_id)
                .is_some_and(|i| i.status == "open" && i.next_payment_attempt.is_none());
            if exhausted {
                match store.dunning.final_action {
                    FinalAction::Canceled => {
                        end_subscription(store, &sub.id, at, "payment_failed");
                        return Ok(());
                    }
                    FinalAction::Unpaid => {
                        // Unpaid subscriptions keep invoicing but no longer attempt payments.
                        stop_retries(store, &sub.id);
                        if let Some(s) = store.subscriptions.get_mut(&sub.id) {
                            s.status = "unpaid".into();
                        }
                    }
                }
            }
        }
    }
    let after = sub_json(store, &sub.id);
    store.emit_updated("customer.subscription.updated", &before, after);
    Ok(())
}

pub(super) fn void_invoice(store: &mut Store, id: &str) {
    let now = store.now();
    if let Some(inv) = store.invoices.get_mut(id) {
        if inv.status == "paid" || inv.status == "void" {
            return;
        }
        inv.status = "void".into();
        inv.voided_at = Some(now);
        inv.next_payment_attempt = None;
    }
    emit_invoice(store, "invoice.voided", id);
}

/// `POST /v1/invoices/{id}/pay`: retries an open invoice; a paid invoice settles its subscription.
pub fn pay_open_invoice(store: &mut Store, id: &str, pm: Option<String>) -> ApiResult<()> {
    let inv = store
        .invoices
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("invoice", id))?;
    if inv.status != "open" {
        return Err(ApiError::invalid_code(
            "invoice_not_open",
            format!("Invoice is already {}", inv.status),
            None,
        ));
    }
    let sub = inv
        .subscription
        .as_ref()
        .and_then(|s| store.subscriptions.get(s))
        .cloned();
    let pm = pm.or_else(|| sub.as_ref().and_then(|s| payment_method_for(store, s)));
    let before = sub.as_ref().map(|s| sub_json(store, &s.id));
    let outcome = pay_invoice(store, id, pm, false, Collection::Manual)?;
    if let (PayOutcome::Paid, Some(sub), Some(before)) = (&outcome, &sub, &before) {
        settle_paid(store, &sub.id, id);
        let after = sub_json(store, &sub.id);
        store.emit_updated("customer.subscription.updated", before, after);
    }
    match outcome {
        PayOutcome::Paid => Ok(()),
        PayOutcome::Failed(e) => Err(e),
        PayOutcome::ActionRequired => Err(ApiError::card(
            "invoice_payment_intent_requires_action",
            None,
            "This payment requires additional user action before it can be completed successfully.",
        )),
        PayOutcome::NoPaymentMethod => Err(no_payment_method()),
        PayOutcome::NotFinalized => Err(ApiError::invalid_code(
            "invoice_not_open",
            "Invoice is still a draft: it could not be finalized.".into(),
            None,
        )),
    }
}
