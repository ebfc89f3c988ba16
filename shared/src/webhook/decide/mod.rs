//! What a Stripe event does to a user's billing, decided without I/O. The processor resolves
//! the user, reads their profile (and the payment an event refers to), asks [`decide`], and
//! commits the answer atomically.

use crate::domain::access::grace_end;
use crate::domain::ordering::{order, IncomingVersion, Order};
use crate::domain::profile::{Revocation, RevocationAction, RevocationPolicy};
use crate::domain::time::{rfc3339, UnixTime};
use crate::domain::{BillingProfile, Catalog, SubscriptionStatus, UserId};
use crate::effects::{describe_change, Effects};
use crate::ports::{PaymentRecord, PaymentStatus, StripeAction, SubscriptionChange};
use crate::stripe::{
    Charge, CheckoutSession, Customer, Dispute, Event, EventObject, Invoice, PaymentIntent,
    Subscription,
};
use crate::subscription_state::{schedule_missing, Observation, Seen};
use serde_json::{json, Map};

mod charges;
mod checkout;
mod invoices;
mod payment_intents;
mod subscriptions;

use charges::{charge_refunded, charge_succeeded, dispute_closed, dispute_created};
use checkout::checkout_completed;
use invoices::{invoice_action_required, invoice_failed, invoice_paid, linked_invoice_payment};
use payment_intents::payment_intent_settled;
use subscriptions::{
    apply_subscription, customer_deleted, customer_updated, subscription_changed, trial_will_end,
};

/// The event types Tierflow acts on; every other type is acknowledged and ignored.
pub const HANDLED_EVENT_TYPES: [&str; 19] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "customer.updated",
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
pub struct Policy {
    /// Days a past-due subscription keeps its tier (`GRACE_DAYS`).
    pub grace_days: u32,
    /// What a dispute or a full refund does to the Stripe subscription.
    pub revocation: RevocationPolicy,
}

/// Who an event is about, as far as the event itself says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The `cus_…` the object belongs to, when it names one.
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
    /// Maps Stripe prices to tiers and cycles, and says which tier is free and how tiers rank.
    pub catalog: &'a Catalog,
    /// The user the processor resolved: the customer's link, else the payment's, else the hint.
    pub user_id: &'a UserId,
    /// The user's stored profile, or a fresh free one for a user not seen before.
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
    /// The processor's clock at decision time, for grace periods and access.
    pub now: UnixTime,
}

/// Everything one event writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The profile after the event; written only if it differs from the input's.
    pub profile: BillingProfile,
    /// Stripe customer → user links to create (or confirm).
    pub customer_links: Vec<(String, UserId)>,
    /// History items to write, whole (new ones, or existing ones updated).
    pub payments: Vec<PaymentRecord>,
    /// Audit items and outbox, committed with the profile.
    pub effects: Effects,
    /// A short account of what was done, kept on the event record.
    pub detail: String,
}

/// The answer for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the application (boxed: it dwarfs the other variants).
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
pub fn decide(event: &Event, object: &EventObject, input: &Input<'_>, policy: Policy) -> Decision {
    match (event.kind.as_str(), object) {
        ("checkout.session.completed", EventObject::CheckoutSession(s)) => {
            checkout_completed(event, s, input, policy)
        }
        (
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted"
            | "customer.subscription.paused"
            | "customer.subscription.resumed",
            EventObject::Subscription(s),
        ) => subscription_changed(event, s, input, policy),
        ("customer.subscription.trial_will_end", EventObject::Subscription(s)) => {
            trial_will_end(event, s, input)
        }
        ("customer.updated", EventObject::Customer(c)) => customer_updated(event, c, input),
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
    let effects = describe_change(input.catalog, input.profile, &profile, input.now, &event.id);
    Application {
        profile,
        customer_links,
        payments,
        effects,
        detail,
    }
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
