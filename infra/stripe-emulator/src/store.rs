//! The emulator's in-memory state: one table per object type, the event log and the clock.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::clock::Clock;
use crate::dunning::Dunning;
use crate::ids::IdGen;
use crate::objects::{
    billing::{Invoice, InvoiceItem, Schedule, Subscription},
    catalog::{Price, Product},
    checkout::CheckoutSession,
    customer::{Customer, TaxId},
    discount::{Coupon, Discount, PromotionCode},
    event::Event,
    payment::{Charge, Dispute, PaymentIntent, PaymentMethod, Refund},
};
use crate::webhooks::Webhooks;

/// An insertion-ordered table of objects keyed by id.
#[derive(Debug)]
pub struct Table<T> {
    order: Vec<String>,
    map: HashMap<String, T>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            order: Vec::new(),
            map: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    /// Adds an object; ids are never reused.
    pub fn insert(&mut self, id: String, value: T) {
        if self.map.insert(id.clone(), value).is_none() {
            self.order.push(id);
        }
    }

    /// Forgets an object (previews' transient discounts, deleted tax IDs).
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let gone = self.map.remove(id)?;
        self.order.retain(|o| o != id);
        Some(gone)
    }

    /// The object with this id.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.map.get(id)
    }

    /// The object with this id, mutably.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.map.get_mut(id)
    }

    /// Objects newest first, the order of Stripe's list endpoints.
    pub fn newest_first(&self) -> impl Iterator<Item = &T> {
        self.order.iter().rev().filter_map(|id| self.map.get(id))
    }

    /// Objects oldest first.
    pub fn oldest_first(&self) -> impl Iterator<Item = &T> {
        self.order.iter().filter_map(|id| self.map.get(id))
    }

    /// Ids oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.order.clone()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The API request that caused the current changes, recorded on events.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `req_...`.
    pub id: String,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
}

/// Everything the emulator knows. Guarded by one mutex; operations are synchronous.
#[derive(Debug)]
pub struct Store {
    /// Id generator.
    pub ids: IdGen,
    /// Emulator clock.
    pub clock: Clock,
    /// Base URL for Checkout, Portal and 3-D Secure pages.
    pub public_url: String,
    /// Retry schedule of failed subscription invoices.
    pub dunning: Dunning,
    /// Customers (deleted ones stay, flagged).
    pub customers: Table<Customer>,
    /// Products.
    pub products: Table<Product>,
    /// Prices.
    pub prices: Table<Price>,
    /// Payment methods created from test tokens.
    pub payment_methods: Table<PaymentMethod>,
    /// Checkout sessions.
    pub checkout_sessions: Table<CheckoutSession>,
    /// Customer Portal sessions by their URL's token.
    pub portal_sessions: Table<crate::objects::checkout::PortalSession>,
    /// Customer Portal configurations.
    pub portal_configurations: Table<crate::objects::checkout::PortalConfiguration>,
    /// Subscriptions.
    pub subscriptions: Table<Subscription>,
    /// Invoice items (pending prorations and swept ones).
    pub invoice_items: Table<InvoiceItem>,
    /// Invoices.
    pub invoices: Table<Invoice>,
    /// Payment intents.
    pub payment_intents: Table<PaymentIntent>,
    /// Charges.
    pub charges: Table<Charge>,
    /// Refunds.
    pub refunds: Table<Refund>,
    /// Disputes.
    pub disputes: Table<Dispute>,
    /// Subscription schedules.
    pub schedules: Table<Schedule>,
    /// Coupons.
    pub coupons: Table<Coupon>,
    /// Promotion codes.
    pub promotion_codes: Table<PromotionCode>,
    /// Discounts (redeemed coupons).
    pub discounts: Table<Discount>,
    /// Customers' tax IDs.
    pub tax_ids: Table<TaxId>,
    /// Event log, oldest first.
    pub events: Table<Event>,
    /// Webhook endpoints, queues and delivery log.
    pub webhooks: Webhooks,
    /// The request being served, for `event.request`.
    pub request: Option<RequestInfo>,
}

impl Store {
    /// Fresh state.
    pub fn new(public_url: String, webhooks: Webhooks) -> Self {
        Store {
            ids: IdGen::new(),
            clock: Clock::default(),
            public_url,
            dunning: Dunning::default(),
            customers: Table::default(),
            products: Table::default(),
            prices: Table::default(),
            payment_methods: Table::default(),
            checkout_sessions: Table::default(),
            portal_sessions: Table::default(),
            portal_configurations: Table::default(),
            subscriptions: Table::default(),
            invoice_items: Table::default(),
            invoices: Table::default(),
            payment_intents: Table::default(),
            charges: Table::default(),
            refunds: Table::default(),
            disputes: Table::default(),
            schedules: Table::default(),
            coupons: Table::default(),
            promotion_codes: Table::default(),
            discounts: Table::default(),
            tax_ids: Table::default(),
            events: Table::default(),
            webhooks,
            request: None,
        }
    }

    /// Clears all objects and events; keeps the clock offset, the URL, the retry schedule and
    /// the webhook configuration.
    pub fn reset(&mut self) {
        let mut webhooks = std::mem::take(&mut self.webhooks);
        webhooks.reset();
        let clock = self.clock.clone();
        let dunning = std::mem::take(&mut self.dunning);
        *self = Store::new(self.public_url.clone(), webhooks);
        self.clock = clock;
        self.dunning = dunning;
    }

    /// Emulator time (unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A new id with Stripe's prefix.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.ids.next(prefix)
    }

    /// Records an event with a snapshot of `object` and queues it for webhook delivery.
    pub fn emit(&mut self, kind: &str, mut object: Value, previous: Option<Value>) -> String {
        crate::expand::drop_unexpanded_includables(&mut object, &[]);
        let id = self.ids.next("evt_");
        let mut event = Event {
            id: id.clone(),
            created: self.now(),
            kind: kind.to_string(),
            object,
            previous_attributes: previous,
            request: self.request.clone(),
            pending_webhooks: 0,
        };
        event.pending_webhooks = self.webhooks.enqueue(&event.id, kind);
        self.events.insert(id.clone(), event);
        id
    }

    /// Records an `*.updated` event with `previous_attributes` = the changed top-level fields;
    /// nothing when nothing changed.
    pub fn emit_updated(&mut self, kind: &str, before: &Value, after: Value) -> Option<String> {
        // What webhooks carry: includable fields are not part of the change either.
        let mut before = before.clone();
        crate::expand::drop_unexpanded_includables(&mut before, &[]);
        let mut after = after;
        crate::expand::drop_unexpanded_includables(&mut after, &[]);
        let previous = diff(&before, &after)?;
        Some(self.emit(kind, after, Some(previous)))
    }

    /// Renders any stored object by id (used by `expand[]`).
    pub fn render(&self, id: &str) -> Option<Value> {
        let p = |pre: &str| id.starts_with(pre);
        if p("sub_sched_") {
            return self.schedules.get(id).map(|s| s.to_json(self));
        }
        if p("cus_") {
            return self.customers.get(id).map(|c| c.to_json(self));
        }
        if p("sub_") {
            return self.subscriptions.get(id).map(|s| s.to_json(self));
        }
        if p("in_") {
            return self.invoices.get(id).map(|i| i.to_json(self));
        }
        if let Some(intent) = id.strip_prefix("inpay_") {
            let invoice = self
                .payment_intents
                .get(&format!("pi_{intent}"))?
                .invoice
                .clone()?;
            return self.invoices.get(&invoice)?.payment_json(self);
        }
        if p("di_") {
            return self.discounts.get(id).map(|d| d.to_json(self));
        }
        if p("promo_") {
            return self.promotion_codes.get(id).map(|c| c.to_json(self));
        }
        if p("txi_") {
            return self.tax_ids.get(id).map(TaxId::to_json);
        }
        if p("ii_") {
            return self.invoice_items.get(id).map(|i| i.to_json(self));
        }
        if p("pi_") {
            return self.payment_intents.get(id).map(|i| i.to_json(self));
        }
        if p("ch_") {
            return self.charges.get(id).map(|c| c.to_json(self));
        }
        if p("re_") {
            return self.refunds.get(id).map(|r| r.to_json());
        }
        if p("dp_") {
            return self.disputes.get(id).map(|d| d.to_json(self));
        }
        if p("price_") {
            return self.prices.get(id).map(|x| x.to_json());
        }
        if p("prod_") {
            return self.products.get(id).map(|x| x.to_json());
        }
        if p("pm_") {
            return self.payment_methods.get(id).map(|x| x.to_json());
        }
        if p("cs_") {
            return self.checkout_sessions.get(id).map(|x| x.to_json(self));
        }
        if p("evt_") {
            return self.events.get(id).map(|x| x.to_json());
        }
        // Products may carry custom ids (`tierflow_pro`), without the `prod_` prefix.
        self.products.get(id).map(|x| x.to_json())
    }
}

/// The old values of the top-level fields that differ between two renderings.
pub fn diff(before: &Value, after: &Value) -> Option<Value> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return None;
    };
    let mut changed = Map::new();
    for (k, old) in b {
        if a.get(k) != Some(old) {
            changed.insert(k.clone(), old.clone());
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) {
            changed.insert(k.clone(), Value::Null);
        }
    }
    if changed.is_empty() {
        None
    } else {
        Some(json!(changed))
    }
}
