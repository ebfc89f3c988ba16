//! Events (from webhooks, EventBridge or the Events API) and webhook endpoints.

use super::{
    has_id, null_as_default, Charge, CheckoutSession, Customer, Dispute, Invoice, PaymentIntent,
    PaymentMethod, Price, Product, Refund, Subscription, SubscriptionSchedule,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// A Stripe event. `data.object` stays raw JSON until [`Event::object`] types it, so an event
/// about an object Tierflow does not model still parses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_...`.
    pub id: String,
    /// `event` for the snapshot events Tierflow handles (`v2.core.event` for thin ones).
    #[serde(default)]
    pub object: Option<String>,
    /// `customer.subscription.updated`, `invoice.paid`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened, Unix seconds by Stripe's clock.
    pub created: i64,
    /// The version `data.object` is rendered in; `null` on some very old events.
    #[serde(default)]
    pub api_version: Option<String>,
    /// False in test mode.
    #[serde(default, deserialize_with = "null_as_default")]
    pub livemode: bool,
    /// The object and what changed.
    pub data: EventData,
    /// The API request behind the event.
    #[serde(default)]
    pub request: Option<EventRequest>,
}

/// The object as it was when the event happened, and what changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The object after the change, in the event's `api_version`.
    pub object: RawObject,
    /// On `*.updated` events, the changed fields' old values.
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// `data.object` exactly as Stripe sent it. Reading a delivery only splits it out of the
/// envelope: it is parsed once, into the one type the event's handler needs, and never for
/// the many event types Tierflow ignores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawObject(Box<RawValue>);

impl RawObject {
    /// Wraps a JSON value (events Tierflow builds itself, such as reconciliation's).
    pub fn from_value(value: &Value) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawObject)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl Default for RawObject {
    fn default() -> Self {
        let empty: Box<RawValue> =
            serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("`{{}}` is JSON"));
        RawObject(empty)
    }
}

impl PartialEq for RawObject {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// The two words of `data.object` every event needs, borrowed from the raw text (Stripe's
/// object words and ids never hold escapes; one that did would read as absent).
#[derive(Deserialize)]
struct ObjectHead<'a> {
    #[serde(default, borrow)]
    object: Option<&'a str>,
    #[serde(default, borrow)]
    id: Option<&'a str>,
}

/// The API request that caused the event (`id` is null for automatic changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRequest {
    /// `req_...`, null when Stripe made the change itself (a renewal, a retry).
    #[serde(default)]
    pub id: Option<String>,
    /// The key the request was sent with, when it had one.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `data.object`, typed by its `object` field.
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    /// `checkout.session`.
    CheckoutSession(Box<CheckoutSession>),
    /// `subscription`.
    Subscription(Box<Subscription>),
    /// `subscription_schedule`.
    SubscriptionSchedule(Box<SubscriptionSchedule>),
    /// `invoice`.
    Invoice(Box<Invoice>),
    /// `customer`.
    Customer(Box<Customer>),
    /// `payment_intent`.
    PaymentIntent(Box<PaymentIntent>),
    /// `payment_method`.
    PaymentMethod(Box<PaymentMethod>),
    /// `charge`.
    Charge(Box<Charge>),
    /// `refund`.
    Refund(Box<Refund>),
    /// `dispute`.
    Dispute(Box<Dispute>),
    /// `price`.
    Price(Box<Price>),
    /// `product`.
    Product(Box<Product>),
    /// An object Tierflow does not model; its `object` word.
    Other(String),
}

impl Event {
    /// The `object` word of `data.object` (`subscription`, `invoice`, ...).
    pub fn object_type(&self) -> Option<&str> {
        self.object_head()?.object
    }

    /// The id of `data.object`.
    pub fn object_id(&self) -> Option<&str> {
        self.object_head()?.id
    }

    fn object_head(&self) -> Option<ObjectHead<'_>> {
        serde_json::from_str(self.data.object.get()).ok()
    }

    /// `data.object` read as `T`.
    pub fn object_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.object.get())
    }

    /// `data.object` typed by its `object` field; a malformed object is an error, an unknown
    /// kind is [`EventObject::Other`].
    pub fn object(&self) -> Result<EventObject, serde_json::Error> {
        let kind = self.object_type().unwrap_or_default();
        Ok(match kind {
            "checkout.session" => EventObject::CheckoutSession(self.object_as()?),
            "subscription" => EventObject::Subscription(self.object_as()?),
            "subscription_schedule" => EventObject::SubscriptionSchedule(self.object_as()?),
            "invoice" => EventObject::Invoice(self.object_as()?),
            "customer" => EventObject::Customer(self.object_as()?),
            "payment_intent" => EventObject::PaymentIntent(self.object_as()?),
            "payment_method" => EventObject::PaymentMethod(self.object_as()?),
            "charge" => EventObject::Charge(self.object_as()?),
            "refund" => EventObject::Refund(self.object_as()?),
            "dispute" => EventObject::Dispute(self.object_as()?),
            "price" => EventObject::Price(self.object_as()?),
            "product" => EventObject::Product(self.object_as()?),
            other => EventObject::Other(other.to_owned()),
        })
    }

    /// Whether `field` is among the attributes this event changed.
    pub fn changed(&self, field: &str) -> bool {
        self.data
            .previous_attributes
            .as_ref()
            .and_then(Value::as_object)
            .is_some_and(|prev| prev.contains_key(field))
    }
}

/// A webhook endpoint; `secret` is only returned when it is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `we_...`.
    pub id: String,
    /// Where Stripe delivers the events.
    pub url: String,
    /// The `whsec_...` signing secret, in the creation answer only.
    #[serde(default)]
    pub secret: Option<String>,
    /// The event types delivered (`*` for all).
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled_events: Vec<String>,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
}

has_id!(Event, WebhookEndpoint);
