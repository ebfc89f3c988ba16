//! Events (from webhooks, EventBridge or the Events API) and webhook endpoints.

use super::{
    has_id, null_as_default, Charge, CheckoutSession, Customer, Dispute, Invoice, PaymentIntent,
    PaymentMethod, Price, Product, Refund, Subscription, SubscriptionSchedule,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Stripe event. `data.object` stays raw JSON until [`Event::object`] types it, so an event
/// about an object Tierflow does not model still parses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// `event` for the snapshot events Tierflow handles (`v2.core.event` for thin ones).
    #[serde(default)]
    pub object: Option<String>,
    /// `customer.subscription.updated`, `invoice.paid`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    /// The version `data.object` is rendered in; `null` on some very old events.
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub livemode: bool,
    pub data: EventData,
    #[serde(default)]
    pub request: Option<EventRequest>,
}

/// The object as it was when the event happened, and what changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub object: Value,
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// The API request that caused the event (`id` is null for automatic changes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `data.object`, typed by its `object` field.
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    CheckoutSession(Box<CheckoutSession>),
    Subscription(Box<Subscription>),
    SubscriptionSchedule(Box<SubscriptionSchedule>),
    Invoice(Box<Invoice>),
    Customer(Box<Customer>),
    PaymentIntent(Box<PaymentIntent>),
    PaymentMethod(Box<PaymentMethod>),
    Charge(Box<Charge>),
    Refund(Box<Refund>),
    Dispute(Box<Dispute>),
    Price(Box<Price>),
    Product(Box<Product>),
    /// An object Tierflow does not model; its `object` word.
    Other(String),
}

impl Event {
    /// The `object` word of `data.object` (`subscription`, `invoice`, ...).
    pub fn object_type(&self) -> Option<&str> {
        self.data.object.get("object")?.as_str()
    }

    /// The id of `data.object`.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id")?.as_str()
    }

    /// `data.object` read as `T`.
    pub fn object_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data.object)
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
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled_events: Vec<String>,
    #[serde(default)]
    pub status: Option<String>,
}

has_id!(Event, WebhookEndpoint);
