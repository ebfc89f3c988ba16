//! Subscription billing: invoices, payment of invoices, updates with proration, renewals,
//! cancellations, schedules, and processing everything due when the clock moves.

use serde_json::{Map, Value};

use crate::calendar::{add_interval, next_period_end};
use crate::dunning::FinalAction;
use crate::error::{ApiError, ApiResult};
use crate::objects::billing::{Invoice, InvoiceItem, Line, PendingUpdate, SubItem, Subscription};
use crate::objects::catalog::{Price, Recurring};
use crate::objects::payment::CardBehaviour;
use crate::payments::{self, Attempt};
use crate::proration;
use crate::store::Store;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentBehavior {
    /// Apply the change even if payment fails (Stripe's default).
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

fn price(store: &Store, id: &str) -> ApiResult<Price> {
    store
        .prices
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("price", id, "price"))
}

fn product_name(store: &Store, price: &Price) -> String {
    store
        .products
        .get(&price.product)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| price.product.clone())
}

fn recurring(price: &Price, param: &str) -> ApiResult<Recurring> {
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

fn cycle_lines(store: &Store, items: &[SubItem], start: i64, end: i64) -> Vec<Line> {
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
            })
        })
        .collect()
}

fn credit_line(store: &Store, sub: &Subscription, item: &SubItem, t: i64) -> Option<Line> {
    let p = store.prices.get(&item.price)?;
    let amount = -proration::remaining_share(
        p.unit_amount * item.quantity,
        t,
        sub.current_period_start,
        sub.current_period_end,
    );
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
    })
}

fn charge_line(store: &Store, sub: &Subscription, item: &SubItem, t: i64) -> Option<Line> {
    let p = store.prices.get(&item.price)?;
    let amount = proration::remaining_share(
        p.unit_amount * item.quantity,
        t,
        sub.current_period_start,
        sub.current_period_end,
    );
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
    })
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
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|mut l| {
            l.id = store.new_id("il_");
            l
        })
        .collect();
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
    };
    store.invoices.insert(id.clone(), invoice);
    emit_invoice(store, "invoice.created", &id);
    id
}

fn emit_invoice(store: &mut Store, kind: &str, id: &str) {
    let json = store.render(id).unwrap_or(Value::Null);
    store.emit(kind, json, None);
}

/// Finalizes a draft: number, customer balance applied; emits `invoice.finalized`.
pub fn finalize_invoice(store: &mut Store, id: &str) {
    let now = store.now();
    let Some(customer_id) = store.invoices.get(id).map(|i| i.customer.clone()) else {
        return;
    };
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

fn mark_paid(store: &mut Store, id: &str) {
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

fn intent_description(reason: &str) -> &'static str {
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
fn schedule_retry(store: &mut Store, id: &str) {
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

fn sub_json(store: &Store, id: &str) -> Value {
    store.render(id).unwrap_or(Value::Null)
}

fn save_sub(store: &mut Store, sub: Subscription) {
    store.subscriptions.insert(sub.id.clone(), sub);
}

/// Creates a subscription and pays its first invoice. With `checkout` the customer is present
/// (3-D Secure passes) and the subscription is created already active, as Checkout does.
#[allow(clippy::too_many_arguments)]
pub fn create_subscription(
    store: &mut Store,
    customer: &str,
    items: &[(String, i64)],
    pm: Option<String>,
    metadata: Map<String, Value>,
    behavior: PaymentBehavior,
    checkout: bool,
) -> ApiResult<String> {
    let (currency, recurring) = validate_items(store, items, "items")?;
    if behavior == PaymentBehavior::ErrorIfIncomplete {
        precheck_payment(store, pm.as_deref())?;
    }
    let now = store.now();
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
    let end = add_interval(now, recurring.interval, recurring.interval_count);
    let sub = Subscription {
        id: id.clone(),
        created: now,
        customer: customer.to_string(),
        status: if checkout { "active" } else { "incomplete" }.into(),
        items: sub_items,
        currency,
        billing_cycle_anchor: now,
        current_period_start: now,
        current_period_end: end,
        cancel_at_period_end: false,
        cancel_at: None,
        canceled_at: None,
        ended_at: None,
        cancellation_reason: None,
        latest_invoice: None,
        default_payment_method: pm.clone(),
        metadata,
        schedule: None,
        pending_update: None,
        start_date: now,
    };
    let mut sub = sub;
    let inv = store.new_id("in_");
    sub.latest_invoice = Some(inv.clone());
    save_sub(store, sub.clone());
    let created = sub_json(store, &id);
    store.emit("customer.subscription.created", created.clone(), None);
    let lines = cycle_lines(store, &sub.items, now, end);
    create_invoice_with_id(
        store,
        inv.clone(),
        &sub,
        "subscription_create",
        lines,
        (now, now),
    );
    finalize_invoice(store, &inv);
    let pm = pm.or_else(|| payment_method_for(store, &sub));
    let outcome = pay_invoice(store, &inv, pm, checkout, Collection::Automatic)?;
    if matches!(outcome, PayOutcome::Paid) && !checkout {
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

fn no_payment_method() -> ApiError {
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

fn apply_items(sub: &mut Subscription, items: Vec<SubItem>, new_period: Option<(i64, i64)>) {
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
    let plan = plan_change(
        store,
        &sub,
        &req.items,
        req.proration_behavior,
        t,
        req.reset_anchor,
    )?;
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

/// The invoice `POST /v1/invoices/create_preview` shows for a subscription change.
pub fn preview_invoice(
    store: &mut Store,
    sub_id: &str,
    changes: &[ItemChange],
    behavior: ProrationBehavior,
    proration_date: Option<i64>,
    reset_anchor: bool,
) -> ApiResult<Value> {
    let now = store.now();
    let sub = store
        .subscriptions
        .get(sub_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("subscription", sub_id, "subscription"))?;
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
    let lines = lines
        .into_iter()
        .map(|mut l| {
            l.id = format!("il_tmp_{}", store.ids.token(24));
            l
        })
        .collect();
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
    };
    let mut json = invoice.to_json(store);
    json["id"] = Value::Null;
    Ok(json)
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

fn end_subscription(store: &mut Store, id: &str, at: i64, reason: &str) {
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
fn settle_paid(store: &mut Store, sub_id: &str, inv_id: &str) {
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
fn stop_retries(store: &mut Store, sub_id: &str) {
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
fn retry_invoice(store: &mut Store, inv_id: &str, at: i64) -> ApiResult<()> {
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

fn void_invoice(store: &mut Store, id: &str) {
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

/// Something the clock can make due.
#[derive(Debug, Clone)]
enum Due {
    ExpirePending(String),
    PhaseEnd(String),
    CancelAt(String),
    Retry(String),
    Renew(String),
}

fn next_due(store: &Store, target: i64) -> Option<(i64, Due)> {
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
        if !matches!(s.status.as_str(), "active" | "past_due" | "unpaid") {
            continue;
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
            Due::Renew(id) => renew(store, &id, t)?,
        }
    }
    store.clock.set(target);
    Ok(())
}

fn expire_pending(store: &mut Store, id: &str) {
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

fn renew(store: &mut Store, id: &str, at: i64) -> ApiResult<()> {
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
        if let Some(s) = store.subscriptions.get_mut(id) {
            s.status = match outcome {
                PayOutcome::Paid => "active",
                _ => "past_due",
            }
            .into();
        }
    }
    let after = sub_json(store, id);
    store.emit_updated("customer.subscription.updated", &before, after);
    Ok(())
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
    }
}
