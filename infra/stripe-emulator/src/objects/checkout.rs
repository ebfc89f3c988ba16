//! Checkout sessions.

use serde_json::{json, Map, Value};

use crate::store::Store;

/// A Checkout session.
#[derive(Debug, Clone)]
pub struct CheckoutSession {
    /// `cs_test_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Expiry (24 h after creation).
    pub expires_at: i64,
    /// `subscription` or `payment`.
    pub mode: String,
    /// Customer (set on completion when created from the email).
    pub customer: Option<String>,
    /// Prefilled email.
    pub customer_email: Option<String>,
    /// Caller's reference.
    pub client_reference_id: Option<String>,
    /// `(price, quantity)` pairs.
    pub line_items: Vec<(String, i64)>,
    /// Redirect after payment.
    pub success_url: String,
    /// Redirect on cancel.
    pub cancel_url: Option<String>,
    /// Session metadata.
    pub metadata: Map<String, Value>,
    /// `subscription_data[metadata]`.
    pub subscription_metadata: Map<String, Value>,
    /// `payment_intent_data[metadata]`.
    pub payment_intent_metadata: Map<String, Value>,
    /// `payment_intent_data[description]`.
    pub payment_intent_description: Option<String>,
    /// `open`, `complete`, `expired`.
    pub status: String,
    /// `unpaid`, `paid`.
    pub payment_status: String,
    /// Subscription created on completion.
    pub subscription: Option<String>,
    /// First invoice.
    pub invoice: Option<String>,
    /// Payment intent (payment mode).
    pub payment_intent: Option<String>,
    /// Total.
    pub amount_total: i64,
    /// Currency.
    pub currency: String,
    /// `subscription_data[trial_end]`.
    pub trial_end: Option<i64>,
    /// `subscription_data[trial_period_days]` (the trial starts when the session completes).
    pub trial_period_days: Option<i64>,
    /// `subscription_data[trial_settings][end_behavior][missing_payment_method]`.
    pub trial_end_behavior: Option<String>,
    /// `payment_method_collection`: `always` or `if_required` (subscription mode).
    pub payment_method_collection: String,
    /// `discounts[0]`, checked at creation, redeemed at completion.
    pub redemptions: Vec<crate::billing::Redemption>,
    /// `allow_promotion_codes`: the customer may enter a code on the page.
    pub allow_promotion_codes: bool,
    /// Discounts redeemed at completion (`di_...`).
    pub discounts: Vec<String>,
    /// `automatic_tax[enabled]`.
    pub automatic_tax: bool,
    /// `billing_address_collection`: `auto` or `required`.
    pub billing_address_collection: Option<String>,
    /// `customer_update[address]`: `auto` saves the collected address on an existing customer.
    pub customer_update_address: Option<String>,
    /// `customer_update[name]`: `auto` saves the collected name on an existing customer.
    pub customer_update_name: Option<String>,
    /// `tax_id_collection[enabled]`.
    pub tax_id_collection: bool,
    /// Tax IDs the customer entered (`txi_...`).
    pub tax_ids: Vec<String>,
}

impl CheckoutSession {
    /// Whether the subscription it creates starts with a trial.
    pub fn has_trial(&self) -> bool {
        self.trial_end.is_some() || self.trial_period_days.is_some()
    }

    /// What the customer pays at completion before discounts and tax: nothing during a trial.
    pub fn amount_due_now(&self) -> i64 {
        if self.has_trial() {
            0
        } else {
            self.amount_total
        }
    }

    /// `(subtotal, discount, tax, total)` of what it charges at completion: the first
    /// invoice's once complete in subscription mode, else computed from its line items.
    pub fn totals(&self, store: &Store) -> (i64, i64, i64, i64) {
        if let Some(inv) = self.invoice.as_ref().and_then(|i| store.invoices.get(i)) {
            let discount = inv.subtotal() - inv.total_excluding_tax();
            return (
                inv.subtotal(),
                discount,
                inv.total() - inv.total_excluding_tax(),
                inv.total(),
            );
        }
        let lines = crate::billing::checkout_lines(store, self);
        let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
        let net: i64 = lines.iter().map(|l| l.net()).sum();
        let total: i64 = lines.iter().map(|l| l.total()).sum();
        (subtotal, subtotal - net, total - net, total)
    }
}

impl CheckoutSession {
    /// The Checkout session object.
    pub fn to_json(&self, store: &Store) -> Value {
        let (subtotal, discount, tax, total) = self.totals(store);
        let customer = self.customer.as_ref().and_then(|c| store.customers.get(c));
        let tax_located = customer.is_some_and(|c| {
            c.address
                .as_ref()
                .is_some_and(|a| a["country"].as_str().is_some_and(|x| !x.is_empty()))
        });
        let email = self.customer_email.clone().or_else(|| {
            self.customer
                .as_ref()
                .and_then(|c| store.customers.get(c))
                .and_then(|c| c.email.clone())
        });
        let complete = self.status == "complete";
        let details = if complete {
            json!({
                "address": customer.and_then(|c| c.address.clone()).unwrap_or_else(|| json!({"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94103", "state": null})),
                "email": email,
                "name": customer.and_then(|c| c.name.clone()),
                "phone": null,
                "tax_exempt": "none",
                "tax_ids": self.tax_ids.iter().filter_map(|t| store.tax_ids.get(t)).map(|t| json!({"type": t.kind, "value": t.value})).collect::<Vec<_>>()
            })
        } else {
            Value::Null
        };
        let discounts: Vec<Value> = if self.discounts.is_empty() {
            self.redemptions
                .iter()
                .map(|r| json!({"coupon": r.coupon, "promotion_code": r.promotion_code}))
                .collect()
        } else {
            self.discounts
                .iter()
                .filter_map(|d| store.discounts.get(d))
                .map(|d| json!({"coupon": d.coupon, "promotion_code": d.promotion_code}))
                .collect()
        };
        json!({
            "id": self.id,
            "object": "checkout.session",
            "adaptive_pricing": null,
            "after_expiration": null,
            "allow_promotion_codes": self.allow_promotion_codes.then_some(true),
            "amount_subtotal": subtotal,
            "amount_total": total,
            "automatic_tax": {
                "enabled": self.automatic_tax,
                "liability": self.automatic_tax.then(|| json!({"account": null, "type": "self"})),
                "provider": self.automatic_tax.then_some("stripe"),
                "status": self.automatic_tax.then_some(if tax_located { "complete" } else { "requires_location_inputs" })
            },
            "billing_address_collection": self.billing_address_collection,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "client_secret": null,
            "collected_information": null,
            "consent": null,
            "consent_collection": null,
            "created": self.created,
            "currency": self.currency,
            "currency_conversion": null,
            "custom_fields": [],
            "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
            "customer": self.customer,
            "customer_creation": if self.mode == "payment" { Some("if_required") } else { None },
            "customer_details": details,
            "customer_email": self.customer_email,
            "discounts": discounts,
            "expires_at": self.expires_at,
            "invoice": self.invoice,
            "invoice_creation": null,
            "livemode": false,
            "locale": null,
            "metadata": self.metadata,
            "mode": self.mode,
            "optional_items": null,
            "payment_intent": self.payment_intent,
            "payment_link": null,
            "payment_method_collection": if self.mode == "subscription" { Some(self.payment_method_collection.as_str()) } else { None },
            "payment_method_configuration_details": null,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "payment_status": self.payment_status,
            "permissions": null,
            "phone_number_collection": {"enabled": false},
            "recovered_from": null,
            "redirect_on_completion": null,
            "return_url": null,
            "saved_payment_method_options": null,
            "setup_intent": null,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": self.status,
            "submit_type": null,
            "subscription": self.subscription,
            "success_url": self.success_url,
            "tax_id_collection": {"enabled": self.tax_id_collection, "required": "never"},
            "total_details": {"amount_discount": discount, "amount_shipping": 0, "amount_tax": tax},
            "ui_mode": "hosted",
            "url": if self.status == "open" { Some(format!("{}/checkout/{}", store.public_url, self.id)) } else { None },
            "wallet_options": null
        })
    }
}

/// A Customer Portal session: whose portal its URL opens, and where "back" goes.
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// `bps_...`.
    pub id: String,
    /// The configuration it opens.
    pub configuration: String,
    /// The customer.
    pub customer: String,
    /// `return_url`.
    pub return_url: Option<String>,
}

/// A Customer Portal configuration: the features the portal offers, kept as basil's
/// `features` hash (every member present, defaults filled).
#[derive(Debug, Clone)]
pub struct PortalConfiguration {
    /// `bpc_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Last update.
    pub updated: i64,
    /// Whether sessions may use it.
    pub active: bool,
    /// The account's default (used by sessions that name no configuration).
    pub is_default: bool,
    /// `default_return_url`.
    pub default_return_url: Option<String>,
    /// `business_profile` (headline and policy links).
    pub business_profile: Value,
    /// `features`.
    pub features: Value,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl PortalConfiguration {
    /// The `billing_portal.configuration` object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "billing_portal.configuration",
            "active": self.active,
            "application": null,
            "business_profile": self.business_profile,
            "created": self.created,
            "default_return_url": self.default_return_url,
            "features": self.features,
            "is_default": self.is_default,
            "livemode": false,
            "login_page": {"enabled": false, "url": null},
            "metadata": self.metadata,
            "updated": self.updated
        })
    }
}
