//! Typed Stripe objects: exactly the fields Tierflow reads, everything else ignored, and
//! optional wherever API versions differ (2020-03-02 through 2025-04-30.basil).

mod checkout;
mod customer;
mod discount;
mod event;
mod invoice;
mod payment;
mod price;
mod subscription;

pub use checkout::{CheckoutSession, PortalConfiguration, PortalSession};
pub use customer::{Customer, CustomerInvoiceSettings, DeletedCustomer};
pub use discount::{Coupon, Discount, PromotionCode};
pub use event::{Event, EventData, EventObject, EventRequest, RawObject, WebhookEndpoint};
pub use invoice::{
    DiscountAmount, Invoice, InvoiceLine, InvoiceLineParent, InvoiceParent, InvoicePayment,
    InvoicePaymentRef, InvoiceSubscriptionDetails, LineItemDetails, LinePriceDetails, LinePricing,
    Period, StatusTransitions, TaxAmount,
};
pub use payment::{
    Card, Charge, ChargeCard, ChargePaymentMethodDetails, Dispute, NextAction, PaymentError,
    PaymentIntent, PaymentMethod, RedirectToUrl, Refund,
};
pub use price::{Price, Product, Recurring, CYCLE_METADATA_KEY, TIER_METADATA_KEY};
pub use subscription::{
    PendingUpdate, SchedulePhase, SchedulePhaseItem, Subscription, SubscriptionItem,
    SubscriptionSchedule,
};

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Stripe metadata: string keys and string values.
pub type Metadata = BTreeMap<String, String>;

/// A field Stripe returns as an id unless the request expanded it into the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    /// Not expanded: the object's id.
    Id(String),
    /// Expanded: the whole object.
    Object(Box<T>),
}

/// Objects that have an id, so an [`Expandable`] can name its target either way.
pub trait HasId {
    /// The object's Stripe id.
    fn id(&self) -> &str;
}

impl<T: HasId> Expandable<T> {
    /// The id, whether or not the object was expanded.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    /// The expanded object, when the request asked for it.
    pub fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

impl<T> Default for Expandable<T> {
    fn default() -> Self {
        Expandable::Id(String::new())
    }
}

/// One page of a Stripe list (or search result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    /// The page's items, in Stripe's order (newest first for most lists).
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    /// Whether another page follows (ask with `starting_after` the last id).
    #[serde(default)]
    pub has_more: bool,
    /// The list's path (`/v1/customers`).
    #[serde(default)]
    pub url: Option<String>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
            url: None,
        }
    }
}

/// Reads `null` as the type's default: older versions send `null` where newer ones send `{}`
/// or `[]`, and Tierflow treats both the same.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Implements [`HasId`] for objects with a `pub id: String`.
macro_rules! has_id {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::stripe::objects::HasId for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    )*};
}
pub(crate) use has_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expandable_reads_an_id_or_an_object() {
        let id: Expandable<Customer> = serde_json::from_str(r#""cus_1""#).unwrap();
        assert_eq!(id.id(), "cus_1");
        assert!(id.as_object().is_none());
        let object: Expandable<Customer> =
            serde_json::from_str(r#"{"id":"cus_2","object":"customer","email":"a@b.c"}"#).unwrap();
        assert_eq!(object.id(), "cus_2");
        assert_eq!(
            object.as_object().and_then(|c| c.email.as_deref()),
            Some("a@b.c")
        );
    }

    #[test]
    fn lists_tolerate_missing_and_null_members() {
        let list: List<Customer> =
            serde_json::from_str(r#"{"object":"list","data":null}"#).unwrap();
        assert!(list.data.is_empty());
        assert!(!list.has_more);
        let page: List<Customer> = serde_json::from_str(
            r#"{"object":"search_result","data":[{"id":"cus_1"}],"has_more":true,"url":"/v1/customers/search","next_page":"x"}"#,
        )
        .unwrap();
        assert_eq!(page.data.len(), 1);
        assert!(page.has_more);
    }

    #[test]
    fn invoice_previews_without_an_id_parse() {
        let preview: Invoice = serde_json::from_str(
            r#"{"id":null,"object":"invoice","total":4500,"lines":{"data":[{"id":null,"amount":4500,"parent":{"subscription_item_details":{"proration":true}}}]}}"#,
        )
        .unwrap();
        assert_eq!(preview.id, "");
        assert_eq!(preview.proration_amount(), 4500);
    }

    #[test]
    fn basil_invoices_reach_their_payment_intent_through_payments() {
        let invoice: Invoice = serde_json::from_str(
            r#"{"id":"in_1","status":"open","payments":{"object":"list","has_more":false,"data":[
                {"id":"inpay_1","status":"open","payment":{"type":"payment_intent","payment_intent":
                    {"id":"pi_1","status":"requires_action","next_action":{"type":"redirect_to_url",
                     "redirect_to_url":{"url":"https://hooks.stripe.com/3ds","return_url":"https://app"}}}}}]}}"#,
        )
        .unwrap();
        assert_eq!(invoice.payment_intent_id(), Some("pi_1"));
        let pi = invoice.expanded_payment_intent().unwrap();
        assert!(pi.requires_action());
        assert_eq!(pi.action_url(), Some("https://hooks.stripe.com/3ds"));
        assert_eq!(invoice.charge_id(), None);
    }

    #[test]
    fn the_earliest_item_period_is_the_subscriptions_on_basil() {
        let sub: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","customer":"cus_1","status":"active","items":{"data":[
                {"id":"si_1","price":{"id":"p1"},"current_period_start":50,"current_period_end":300},
                {"id":"si_2","price":{"id":"p2"},"current_period_start":100,"current_period_end":200}]}}"#,
        )
        .unwrap();
        assert_eq!(sub.current_period_end(), Some(200));
        assert_eq!(sub.current_period_start(), Some(100));
        assert_eq!(sub.price().map(|p| p.id.as_str()), Some("p1"));
    }
}
