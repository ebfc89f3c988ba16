//! What a Stripe event does to a user's billing, decided without I/O. The processor resolves
//! the user, reads their profile (and the payment an event refers to), asks [`decide`], and
//! commits the answer atomically.

use crate::domain::access::grace_end;
use crate::domain::ordering::{order, IncomingVersion, Order};
use crate::domain::profile::{Revocation, RevocationAction, RevocationPolicy};
use crate::domain::{BillingProfile, Catalog, SubscriptionStatus, Tier, UserId};
use crate::effects::{describe_change, Effects};
use crate::ports::{PaymentRecord, PaymentStatus, StripeAction, SubscriptionChange};
use crate::stripe::{
    Charge, CheckoutSession, Customer, Dispute, Event, EventObject, Invoice, PaymentIntent,
    Subscription,
};
use crate::subscription_state::{schedule_missing, Observation, Seen};
use crate::time::{rfc3339, UnixTime};
use serde_json::{json, Map};

/// The event types Tierflow acts on; every other type is acknowledged and ignored.
pub const HANDLED_EVENT_TYPES: [&str; 15] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "charge.dispute.created",
    "charge.dispute.closed",
    "charge.refunded",
    "charge.succeeded",
    "customer.deleted",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
];

/// Settings the decisions depend on.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub catalog: &'a Catalog,
    pub grace_days: u32,
    /// What a dispute or a full refund does to the Stripe subscription.
    pub revocation: RevocationPolicy,
}

/// Who an event is about, as far as the event itself says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub customer_id: Option<String>,
    /// A user id Tierflow put on the object (`client_reference_id`, `metadata.user_id`).
    pub user_hint: Option<String>,
    /// Stripe ids that may name a payment already in the history.
    pub payment_refs: Vec<String>,
    /// The PaymentIntent of a charge or dispute: when the history knows none of the refs, the
    /// processor asks Stripe which invoice it pays (basil's PaymentIntents and charges do not
    /// name their invoice) and passes it as [`Input::linked_invoice`].
    pub invoice_of_payment_intent: Option<String>,
}

/// Reads the subject of an event's object.
pub fn subject_of(object: &EventObject) -> Subject {
    let meta_user = |m: &crate::stripe::Metadata| m.get("user_id").cloned();
    match object {
        EventObject::CheckoutSession(s) => Subject {
            customer_id: s.customer_id().map(str::to_owned),
            user_hint: s
                .client_reference_id
                .clone()
                .or_else(|| meta_user(&s.metadata)),
            payment_refs: s
                .payment_intent
                .as_ref()
                .map(|p| vec![p.id().to_owned()])
                .unwrap_or_default(),
            ..Subject::default()
        },
        EventObject::Subscription(s) => Subject {
            customer_id: Some(s.customer_id().to_owned()).filter(|c| !c.is_empty()),
            user_hint: meta_user(&s.metadata),
            ..Subject::default()
        },
        EventObject::Invoice(i) => Subject {
            customer_id: i.customer_id().map(str::to_owned),
            // A subscription invoice carries the subscription's metadata, Tierflow's user id in it.
            user_hint: i.subscription_metadata().and_then(meta_user),
            payment_refs: invoice_refs(i),
            ..Subject::default()
        },
        EventObject::Charge(c) => Subject {
            customer_id: c.customer_id().map(str::to_owned),
            user_hint: meta_user(&c.metadata),
            payment_refs: charge_refs(c),
            invoice_of_payment_intent: c.payment_intent_id().map(str::to_owned),
        },
        EventObject::Dispute(d) => Subject {
            payment_refs: [d.charge_id(), d.payment_intent.as_ref().map(|p| p.id())]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect(),
            invoice_of_payment_intent: d.payment_intent.as_ref().map(|p| p.id().to_owned()),
            ..Subject::default()
        },
        EventObject::Customer(c) => Subject {
            customer_id: Some(c.id.clone()),
            user_hint: meta_user(&c.metadata),
            ..Subject::default()
        },
        EventObject::PaymentIntent(p) => Subject {
            customer_id: p.customer_id().map(str::to_owned),
            user_hint: meta_user(&p.metadata),
            payment_refs: vec![p.id.clone()],
            ..Subject::default()
        },
        _ => Subject::default(),
    }
}

fn invoice_refs(i: &Invoice) -> Vec<String> {
    [Some(i.id.as_str()), i.payment_intent_id(), i.charge_id()]
        .into_iter()
        .flatten()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect()
}

fn charge_refs(c: &Charge) -> Vec<String> {
    [Some(c.id.as_str()), c.payment_intent_id()]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect()
}

/// Events that change nothing whoever they are about, decided before looking up the user
/// (so, for example, a setup-mode checkout of a stranger is ignored rather than failed).
pub fn ignore_regardless_of_user(event: &Event, object: &EventObject) -> Option<String> {
    match (event.kind.as_str(), object) {
        ("checkout.session.completed", EventObject::CheckoutSession(s)) => {
            if !matches!(s.mode.as_deref(), Some("subscription" | "payment")) {
                Some(format!(
                    "checkout mode {:?} changes no billing state",
                    s.mode
                ))
            } else if !s.is_paid() {
                Some("the checkout session is not paid yet".into())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// What the processor knows when it asks.
pub struct Input<'a> {
    pub user_id: &'a UserId,
    pub profile: &'a BillingProfile,
    /// The history item one of the subject's payment refs (or its linked invoice) points at.
    pub existing_payment: Option<&'a PaymentRecord>,
    /// The invoice a charge's or dispute's PaymentIntent pays, as Stripe named it (see
    /// [`Subject::invoice_of_payment_intent`]); `None` for a one-time payment or when the
    /// history already knew the payment.
    pub linked_invoice: Option<&'a Invoice>,
    /// The subscription as Stripe has it now, when the decision asked for it.
    pub fetched_subscription: Option<&'a Subscription>,
    /// When that copy was fetched, in Stripe's clock (0 when nothing was fetched). The copy is
    /// versioned at this time, not at the event's `created`: it may be newer than deliveries
    /// created after the event, which must not look newer than it.
    pub fetched_at: UnixTime,
    pub now: UnixTime,
}

/// Everything one event writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub profile: BillingProfile,
    pub customer_links: Vec<(String, UserId)>,
    pub payments: Vec<PaymentRecord>,
    pub effects: Effects,
    /// A short account of what was done, kept on the event record.
    pub detail: String,
}

/// The answer for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Apply(Box<Application>),
    /// Acknowledged on purpose (unknown type, older than the state, nothing to change).
    Ignore(String),
    /// Can never apply: recorded as failed for a person to look at.
    Fail(String),
    /// The version guard could not decide, or the event does not carry the object: apply the
    /// subscription as Stripe has it now.
    FetchSubscription(String),
}

/// Decides what `event` does.
pub fn decide(
    event: &Event,
    object: &EventObject,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    match (event.kind.as_str(), object) {
        ("checkout.session.completed", EventObject::CheckoutSession(s)) => {
            checkout_completed(event, s, input, policy)
        }
        (
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted",
            EventObject::Subscription(s),
        ) => subscription_changed(event, s, input, policy),
        ("invoice.paid" | "invoice.payment_succeeded", EventObject::Invoice(i)) => {
            invoice_paid(event, i, input)
        }
        ("invoice.payment_failed", EventObject::Invoice(i)) => {
            invoice_failed(event, i, input, policy)
        }
        ("invoice.payment_action_required", EventObject::Invoice(i)) => {
            invoice_action_required(event, i, input)
        }
        ("charge.dispute.created", EventObject::Dispute(d)) => {
            dispute_created(event, d, input, policy)
        }
        ("charge.dispute.closed", EventObject::Dispute(d)) => {
            dispute_closed(event, d, input, policy)
        }
        ("charge.refunded", EventObject::Charge(c)) => charge_refunded(event, c, input, policy),
        ("charge.succeeded", EventObject::Charge(c)) => charge_succeeded(event, c, input),
        ("customer.deleted", EventObject::Customer(c)) => customer_deleted(event, c, input),
        (
            "payment_intent.succeeded" | "payment_intent.payment_failed",
            EventObject::PaymentIntent(p),
        ) => payment_intent_settled(event, p, input),
        (kind, _) if HANDLED_EVENT_TYPES.contains(&kind) => Decision::Fail(format!(
            "{kind} carries a {} object, not the expected one",
            event.object_type().unwrap_or("missing")
        )),
        (kind, _) => Decision::Ignore(format!("{kind} is not an event Tierflow acts on")),
    }
}

/// Builds the application from a new profile and the payments, describing the change.
fn application(
    event: &Event,
    input: &Input<'_>,
    profile: BillingProfile,
    payments: Vec<PaymentRecord>,
    customer_links: Vec<(String, UserId)>,
    detail: String,
) -> Application {
    let effects = describe_change(input.profile, &profile, input.now, &event.id);
    Application {
        profile,
        customer_links,
        payments,
        effects,
        detail,
    }
}

fn checkout_completed(
    event: &Event,
    session: &CheckoutSession,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let Some(customer) = session.customer_id() else {
        return Decision::Fail("the checkout session has no customer".into());
    };
    let links = vec![(customer.to_owned(), input.user_id.clone())];
    if !session.is_paid() {
        return Decision::Ignore("the checkout session is not paid yet".into());
    }
    match session.mode.as_deref() {
        Some("subscription") => {
            let Some(sub_id) = session.subscription_id() else {
                return Decision::Fail("a subscription checkout without a subscription".into());
            };
            let subscription = session
                .subscription
                .as_ref()
                .and_then(|s| s.as_object())
                .or(input.fetched_subscription.filter(|s| s.id == sub_id));
            let Some(subscription) = subscription else {
                return Decision::FetchSubscription(sub_id.to_owned());
            };
            let mut profile = input.profile.clone();
            profile.customer_id = Some(customer.to_owned());
            // The fetched subscription is Stripe's current truth: version it at this event.
            let version = IncomingVersion {
                object_id: &subscription.id,
                event_id: &event.id,
                created: event.created,
                status: &subscription.status,
                previous_status: None,
            };
            if order(profile.subscription_version.as_ref(), &version) != Order::Stale {
                if let Err(reason) =
                    apply_subscription(&mut profile, subscription, event, None, input, policy)
                {
                    return Decision::Fail(reason);
                }
            }
            Decision::Apply(Box::new(application(
                event,
                input,
                profile,
                vec![],
                links,
                format!("checkout completed: {sub_id}"),
            )))
        }
        Some("payment") => {
            let payment_id = session
                .payment_intent
                .as_ref()
                .map(|p| p.id().to_owned())
                .unwrap_or_else(|| session.id.clone());
            let mut payment = input
                .existing_payment
                .cloned()
                .unwrap_or_else(|| PaymentRecord {
                    user_id: input.user_id.clone(),
                    payment_id: payment_id.clone(),
                    stripe_refs: vec![payment_id.clone()],
                    created: session.created.unwrap_or(event.created),
                    amount: session.amount_total.unwrap_or(0),
                    currency: session.currency.clone().unwrap_or_default(),
                    status: PaymentStatus::Succeeded,
                    description: session.metadata.get("description").cloned(),
                    card_brand: None,
                    card_last4: None,
                    invoice_url: None,
                    invoice_pdf: None,
                    receipt_url: None,
                    paid_at: Some(event.created),
                    amount_refunded: 0,
                    refunded_at: None,
                    failure_reason: None,
                    subscription_id: None,
                });
            add_ref(&mut payment, &session.id);
            let mut profile = input.profile.clone();
            profile
                .customer_id
                .get_or_insert_with(|| customer.to_owned());
            Decision::Apply(Box::new(application(
                event,
                input,
                profile,
                vec![payment],
                links,
                format!("one-time checkout paid: {payment_id}"),
            )))
        }
        other => Decision::Ignore(format!("checkout mode {other:?} changes no billing state")),
    }
}

fn previous_status(event: &Event) -> Option<&str> {
    event
        .data
        .previous_attributes
        .as_ref()?
        .get("status")?
        .as_str()
}

fn subscription_changed(
    event: &Event,
    incoming: &Subscription,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let profile = input.profile;
    let fetched = input.fetched_subscription.filter(|s| s.id == incoming.id);
    let sub = fetched.unwrap_or(incoming);
    let ended = matches!(sub.status.as_str(), "canceled" | "incomplete_expired");
    if let Some(current) = &profile.subscription_id {
        if current != &sub.id && (ended || sub.status == "incomplete") {
            return Decision::Ignore(format!("{} is not the user's current subscription", sub.id));
        }
    }
    if fetched.is_none() {
        let version = IncomingVersion {
            object_id: &sub.id,
            event_id: &event.id,
            created: event.created,
            status: &sub.status,
            previous_status: previous_status(event),
        };
        match order(profile.subscription_version.as_ref(), &version) {
            Order::Stale => return Decision::Ignore("older than the state already applied".into()),
            Order::Undecidable => return Decision::FetchSubscription(sub.id.clone()),
            Order::Newer => {}
        }
        if schedule_missing(profile, sub) {
            // Released, or a late delivery from before the scheduling: Stripe's copy says.
            return Decision::FetchSubscription(sub.id.clone());
        }
    }
    let mut next = profile.clone();
    let prev = if fetched.is_some() {
        None
    } else {
        previous_status(event)
    };
    if let Err(reason) = apply_subscription(&mut next, sub, event, prev, input, policy) {
        return Decision::Fail(reason);
    }
    let links = vec![(sub.customer_id().to_owned(), input.user_id.clone())];
    Decision::Apply(Box::new(application(
        event,
        input,
        next,
        vec![],
        links,
        format!("{} is {}", sub.id, sub.status),
    )))
}

/// Copies a subscription's state onto the profile (see [`crate::subscription_state`]).
fn apply_subscription(
    profile: &mut BillingProfile,
    sub: &Subscription,
    event: &Event,
    previous_status: Option<&str>,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Result<(), String> {
    let fetched = input.fetched_subscription.is_some_and(|f| f.id == sub.id);
    let seen = Observation {
        source: &event.id,
        at: if fetched {
            input.fetched_at.max(event.created)
        } else {
            event.created
        },
        previous_status,
        kind: if fetched {
            Seen::Fetched
        } else {
            Seen::Delivered
        },
    };
    crate::subscription_state::apply_subscription(
        profile,
        sub,
        &seen,
        input.now,
        policy.catalog,
        policy.grace_days,
    )
}

fn add_ref(payment: &mut PaymentRecord, id: &str) {
    if !id.is_empty() && !payment.stripe_refs.iter().any(|r| r == id) {
        payment.stripe_refs.push(id.to_owned());
    }
}

/// Records the charge's receipt unless the payment has one: the first successful charge's
/// receipt stays (a declined attempt's `receipt_url` is no receipt).
fn add_receipt(payment: &mut PaymentRecord, charge: &Charge) {
    if payment.receipt_url.is_none() && charge.status.as_deref() != Some("failed") {
        payment.receipt_url = charge.receipt_url.clone();
    }
}

fn invoice_description(invoice: &Invoice) -> String {
    invoice
        .lines
        .data
        .iter()
        .filter_map(|l| l.description.clone())
        .next()
        .unwrap_or_else(|| "Subscription".to_owned())
}

/// The history item for an invoice, merged into the one already recorded under any of its ids.
fn invoice_payment(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
    status: PaymentStatus,
    amount: i64,
) -> PaymentRecord {
    let refs = invoice_refs(invoice);
    let mut payment = input
        .existing_payment
        .cloned()
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: invoice.id.clone(),
            stripe_refs: vec![],
            created: invoice.created.unwrap_or(event.created),
            amount,
            currency: invoice.currency.clone().unwrap_or_default(),
            status,
            description: None,
            card_brand: None,
            card_last4: None,
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: None,
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
        });
    for r in &refs {
        add_ref(&mut payment, r);
    }
    // A refund or dispute recorded earlier outranks a late payment event.
    if !payment.status.is_after_payment() {
        payment.status = status;
    }
    payment.amount = amount;
    payment.description = Some(invoice_description(invoice));
    payment.invoice_url = invoice.hosted_invoice_url.clone().or(payment.invoice_url);
    payment.invoice_pdf = payment.invoice_pdf.or_else(|| invoice.invoice_pdf.clone());
    payment.subscription_id = invoice
        .subscription_id()
        .map(str::to_owned)
        .or(payment.subscription_id);
    payment
}

fn invoice_paid(event: &Event, invoice: &Invoice, input: &Input<'_>) -> Decision {
    let mut payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::Succeeded,
        invoice.amount_paid,
    );
    payment.paid_at = invoice.paid_at().or(Some(event.created));
    payment.failure_reason = None;

    let mut profile = input.profile.clone();
    let pays_current = invoice.subscription_id().is_some()
        && invoice.subscription_id() == profile.subscription_id.as_deref();
    if pays_current
        && matches!(
            profile.status,
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
        )
    {
        // Paying the open invoice makes Stripe's subscription active again; record it at this
        // event's time so an older past_due update cannot undo it.
        profile.status = SubscriptionStatus::Active;
        profile.grace_until = None;
        if let Some(v) = profile.subscription_version.as_mut() {
            if event.created >= v.created {
                v.created = event.created;
                v.event_id = event.id.clone();
                v.previous_status = Some(v.status.clone());
                v.status = "active".into();
            }
        }
    }
    let mut app = application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!("invoice {} paid", invoice.id),
    );
    // `invoice.paid` and `invoice.payment_succeeded` both arrive for one payment: one receipt.
    if event.kind == "invoice.paid" && invoice.amount_paid > 0 {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(invoice.amount_paid));
        fields.insert("currency".into(), json!(payment.currency));
        fields.insert("description".into(), json!(payment.description));
        fields.insert("invoice_url".into(), json!(payment.invoice_url));
        app.effects
            .add_email(&app.profile, "payment_receipt", fields, &event.id);
        app.effects.add_event(&app.profile, "payment.succeeded", json!({"payment_id": payment.payment_id, "amount": invoice.amount_paid, "currency": payment.currency}), &event.id);
    }
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

fn invoice_failed(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let mut payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::Failed,
        invoice.amount_due,
    );
    payment.failure_reason = Some("the payment was declined".into());
    let grace_until = input
        .profile
        .grace_until
        .unwrap_or_else(|| grace_end(event.created, policy.grace_days));
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!("invoice {} failed", invoice.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(invoice.amount_due));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("grace_until".into(), json!(rfc3339(grace_until)));
    fields.insert("invoice_url".into(), json!(invoice.hosted_invoice_url));
    app.effects
        .add_email(&app.profile, "payment_failed", fields, &event.id);
    app.effects.add_event(&app.profile, "payment.failed", json!({"payment_id": payment.payment_id, "amount": invoice.amount_due, "grace_until": rfc3339(grace_until)}), &event.id);
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

fn invoice_action_required(event: &Event, invoice: &Invoice, input: &Input<'_>) -> Decision {
    let payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::RequiresAction,
        invoice.amount_due,
    );
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!("invoice {} needs authentication", invoice.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(invoice.amount_due));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("action_url".into(), json!(invoice.hosted_invoice_url));
    app.effects
        .add_email(&app.profile, "action_required", fields, &event.id);
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

/// The history item of the invoice a charge or dispute pays (Stripe named it), merged into the
/// one already recorded under the invoice's id: a subscription payment is one item.
fn linked_invoice_payment(event: &Event, invoice: &Invoice, input: &Input<'_>) -> PaymentRecord {
    let amount = if invoice.amount_paid > 0 {
        invoice.amount_paid
    } else {
        invoice.amount_due
    };
    invoice_payment(event, invoice, input, PaymentStatus::Succeeded, amount)
}

/// Withdraws paid access for `reason` and says what Stripe must do so the customer is not billed
/// again: the change rides on the event's job, keyed by the event, so the worker makes it once.
fn revoke(
    profile: &mut BillingProfile,
    reason: &str,
    action: RevocationAction,
    event: &Event,
    now: UnixTime,
) -> Option<StripeAction> {
    let change = match action {
        RevocationAction::CancelNow => Some(SubscriptionChange::CancelNow),
        // A subscription already ending needs nothing, and must not be resumed if the
        // revocation is undone.
        RevocationAction::CancelAtPeriodEnd if !profile.cancel_at_period_end => {
            Some(SubscriptionChange::CancelAtPeriodEnd)
        }
        RevocationAction::CancelAtPeriodEnd | RevocationAction::RevokeOnly => None,
    };
    let stripe_action = match (&profile.subscription_id, change) {
        (Some(subscription_id), Some(change)) if profile.status.is_live() => Some(StripeAction {
            subscription_id: subscription_id.clone(),
            change,
            requested_by: event.id.clone(),
        }),
        _ => None,
    };
    profile.revocation = Some(Revocation {
        reason: reason.into(),
        at: event.created,
        stripe_action: stripe_action.as_ref().map(|_| action),
    });
    profile.tier = Tier::Free;
    profile.updated_at = now;
    stripe_action
}

/// The history item a dispute is about, with the dispute's ids added.
fn disputed_payment(dispute: &Dispute, input: &Input<'_>, event: &Event) -> Option<PaymentRecord> {
    let mut payment = match input.linked_invoice {
        Some(invoice) => Some(linked_invoice_payment(event, invoice, input)),
        None => input.existing_payment.cloned(),
    }?;
    let intent = dispute.payment_intent.as_ref().map(|p| p.id());
    for r in [Some(dispute.id.as_str()), dispute.charge_id(), intent]
        .into_iter()
        .flatten()
    {
        add_ref(&mut payment, r);
    }
    Some(payment)
}

fn dispute_created(
    event: &Event,
    dispute: &Dispute,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let mut profile = input.profile.clone();
    let stripe_action = revoke(
        &mut profile,
        "dispute",
        policy.revocation.on_dispute,
        event,
        input.now,
    );
    let mut payments = vec![];
    if let Some(mut p) = disputed_payment(dispute, input, event) {
        p.status = PaymentStatus::Disputed;
        payments.push(p);
    }
    let mut app = application(
        event,
        input,
        profile,
        payments,
        vec![],
        format!("dispute {} opened", dispute.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(dispute.amount));
    fields.insert("currency".into(), json!(dispute.currency));
    fields.insert("reason".into(), json!(dispute.reason));
    app.effects
        .add_email(&app.profile, "dispute", fields, &event.id);
    if let Some(action) = stripe_action {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    Decision::Apply(Box::new(app))
}

/// A dispute decided: `won` (the payment stands) gives back the access the dispute took while
/// the subscription lives, resuming a subscription the revocation set to end; `lost` keeps the
/// revocation. The payment in the history shows the outcome either way.
fn dispute_closed(
    event: &Event,
    dispute: &Dispute,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let outcome = dispute.status.as_deref().unwrap_or("closed");
    let won = outcome == "won";
    let mut profile = input.profile.clone();
    let revoked_by_dispute = profile
        .revocation
        .as_ref()
        .is_some_and(|r| r.reason == "dispute");
    let mut resume = None;
    if won && revoked_by_dispute {
        let revocation = profile.revocation.take();
        if let Some(sub_id) = profile.subscription_id.clone() {
            let Some(sub) = input.fetched_subscription.filter(|s| s.id == sub_id) else {
                return Decision::FetchSubscription(sub_id);
            };
            if let Err(reason) = apply_subscription(&mut profile, sub, event, None, input, policy) {
                return Decision::Fail(reason);
            }
            let ended_by_revocation = revocation.and_then(|r| r.stripe_action)
                == Some(RevocationAction::CancelAtPeriodEnd);
            if ended_by_revocation
                && sub.cancel_at_period_end
                && SubscriptionStatus::from_stripe(&sub.status).is_live()
            {
                resume = Some(StripeAction {
                    subscription_id: sub.id.clone(),
                    change: SubscriptionChange::Resume,
                    requested_by: event.id.clone(),
                });
            }
        }
        profile.updated_at = input.now;
    }
    let mut payments = vec![];
    if let Some(mut p) = disputed_payment(dispute, input, event) {
        match outcome {
            "won" => p.status = PaymentStatus::DisputeWon,
            "lost" => p.status = PaymentStatus::DisputeLost,
            _ => {}
        }
        payments.push(p);
    }
    let restored = won && revoked_by_dispute;
    let mut app = application(
        event,
        input,
        profile,
        payments,
        vec![],
        format!("dispute {} closed: {outcome}", dispute.id),
    );
    if restored {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(dispute.amount));
        fields.insert("currency".into(), json!(dispute.currency));
        app.effects
            .replace_email(&app.profile, "dispute_won", fields, &event.id);
    }
    if let Some(action) = resume {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    Decision::Apply(Box::new(app))
}

fn charge_refunded(
    event: &Event,
    charge: &Charge,
    input: &Input<'_>,
    policy: Policy<'_>,
) -> Decision {
    let linked = input
        .linked_invoice
        .map(|invoice| linked_invoice_payment(event, invoice, input));
    let mut payment = linked
        .or_else(|| input.existing_payment.cloned())
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: charge.payment_intent_id().unwrap_or(&charge.id).to_owned(),
            stripe_refs: vec![],
            created: charge.created.unwrap_or(event.created),
            amount: charge.amount,
            currency: charge.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: charge.description.clone(),
            card_brand: charge.card().and_then(|c| c.brand.clone()),
            card_last4: charge.card().and_then(|c| c.last4.clone()),
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: charge.created,
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
        });
    for r in charge_refs(charge) {
        add_ref(&mut payment, &r);
    }
    add_receipt(&mut payment, charge);
    let full = charge.is_fully_refunded();
    payment.amount_refunded = charge.amount_refunded;
    payment.refunded_at = Some(event.created);
    if !payment.status.is_disputed() {
        payment.status = if full {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
    }
    let mut profile = input.profile.clone();
    let refunds_current_subscription = full
        && payment.subscription_id.is_some()
        && payment.subscription_id == profile.subscription_id;
    let stripe_action = refunds_current_subscription
        .then(|| {
            revoke(
                &mut profile,
                "refund",
                policy.revocation.on_full_refund,
                event,
                input.now,
            )
        })
        .flatten();
    let mut app = application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!(
            "charge {} refunded ({})",
            charge.id,
            if full { "full" } else { "partial" }
        ),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(charge.amount_refunded));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("full".into(), json!(full));
    app.effects
        .add_email(&app.profile, "refund", fields, &event.id);
    if let Some(action) = stripe_action {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

/// A successful charge carries the card: it fills brand and last4 into the payment it belongs
/// to, creating the history item when the charge arrives before its payment intent or invoice
/// event (which then merge into it: a subscription payment's item is keyed by its invoice, as
/// Stripe named it, so every order gives one item). Receipts and domain events come from
/// those events.
fn charge_succeeded(event: &Event, charge: &Charge, input: &Input<'_>) -> Decision {
    let linked = input.linked_invoice.map(|invoice| {
        let mut p = linked_invoice_payment(event, invoice, input);
        p.paid_at = p.paid_at.or(charge.created).or(Some(event.created));
        p
    });
    let mut payment = linked
        .or_else(|| input.existing_payment.cloned())
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: charge.payment_intent_id().unwrap_or(&charge.id).to_owned(),
            stripe_refs: vec![],
            created: charge.created.unwrap_or(event.created),
            amount: charge.amount,
            currency: charge.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: charge.description.clone(),
            card_brand: None,
            card_last4: None,
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: charge.created.or(Some(event.created)),
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
        });
    for r in charge_refs(charge) {
        add_ref(&mut payment, &r);
    }
    add_receipt(&mut payment, charge);
    if let Some(card) = charge.card() {
        payment.card_brand = card.brand.clone().or(payment.card_brand);
        payment.card_last4 = card.last4.clone().or(payment.card_last4);
    }
    Decision::Apply(Box::new(application(
        event,
        input,
        input.profile.clone(),
        vec![payment],
        vec![],
        format!("charge {} succeeded", charge.id),
    )))
}

fn customer_deleted(event: &Event, customer: &Customer, input: &Input<'_>) -> Decision {
    if input
        .profile
        .customer_id
        .as_deref()
        .is_some_and(|c| c != customer.id)
    {
        return Decision::Ignore(format!(
            "{} is not the user's current customer",
            customer.id
        ));
    }
    let mut profile = input.profile.clone();
    profile.clear_subscription();
    profile.customer_id = None;
    profile.updated_at = input.now;
    Decision::Apply(Box::new(application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!("customer {} deleted", customer.id),
    )))
}

fn payment_intent_settled(event: &Event, pi: &PaymentIntent, input: &Input<'_>) -> Decision {
    if input
        .existing_payment
        .is_some_and(|p| p.subscription_id.is_some())
    {
        return Decision::Ignore("an invoice payment: the invoice events record it".into());
    }
    // Since basil a PaymentIntent no longer names its invoice, so only intents Tierflow created
    // (they carry the user id) or already recorded are one-time payments; any other is an
    // invoice's or a Checkout's, recorded by those events (one receipt, not two).
    if input.existing_payment.is_none() && !pi.metadata.contains_key("user_id") {
        return Decision::Ignore(
            "not a one-time payment Tierflow created: its invoice or checkout records it".into(),
        );
    }
    let succeeded = event.kind == "payment_intent.succeeded";
    let charge = pi.latest_charge.as_ref().and_then(|c| c.as_object());
    let mut payment = input
        .existing_payment
        .cloned()
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: pi.id.clone(),
            stripe_refs: vec![],
            created: pi.created.unwrap_or(event.created),
            amount: pi.amount,
            currency: pi.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: pi.description.clone(),
            card_brand: None,
            card_last4: None,
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: None,
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
        });
    add_ref(&mut payment, &pi.id);
    if let Some(c) = pi.latest_charge.as_ref() {
        add_ref(&mut payment, c.id());
    }
    if let Some(c) = charge {
        add_ref(&mut payment, &c.id);
        add_receipt(&mut payment, c);
        payment.card_brand = c
            .card()
            .and_then(|k| k.brand.clone())
            .or(payment.card_brand);
        payment.card_last4 = c
            .card()
            .and_then(|k| k.last4.clone())
            .or(payment.card_last4);
    }
    if !payment.status.is_after_payment() {
        payment.status = if succeeded {
            PaymentStatus::Succeeded
        } else {
            PaymentStatus::Failed
        };
    }
    if succeeded {
        payment.paid_at = Some(event.created);
        payment.failure_reason = None;
    } else {
        payment.failure_reason = pi
            .last_payment_error
            .as_ref()
            .and_then(|e| e.message.clone())
            .or(Some("the payment failed".into()));
    }
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!(
            "payment {} {}",
            pi.id,
            if succeeded { "succeeded" } else { "failed" }
        ),
    );
    if succeeded {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(pi.amount));
        fields.insert("currency".into(), json!(payment.currency));
        fields.insert("description".into(), json!(payment.description));
        app.effects
            .add_email(&app.profile, "payment_receipt", fields, &event.id);
    }
    app.effects.add_event(
        &app.profile,
        if succeeded { "payment.succeeded" } else { "payment.failed" },
        json!({"payment_id": payment.payment_id, "amount": pi.amount, "currency": payment.currency}),
        &event.id,
    );
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}
