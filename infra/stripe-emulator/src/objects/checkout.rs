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
}

impl CheckoutSession {
    /// Whether the subscription it creates starts with a trial.
    pub fn has_trial(&self) -> bool {
        self.trial_end.is_some() || self.trial_period_days.is_some()
    }

    /// What the customer pays at completion: nothing during a trial.
    pub fn amount_due_now(&self) -> i64 {
        if self.has_trial() {
            0
        } else {
            self.amount_total
        }
    }
}

impl CheckoutSession {
    /// The Checkout session object.
    pub fn to_json(&self, store: &Store) -> Value {
        let email = self.customer_email.clone().or_else(|| {
            self.customer
                .as_ref()
                .and_then(|c| store.customers.get(c))
                .and_then(|c| c.email.clone())
        });
        let complete = self.status == "complete";
        let details = if complete {
            json!({
                "address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94103", "state": null},
                "email": email,
                "name": self.customer.as_ref().and_then(|c| store.customers.get(c)).and_then(|c| c.name.clone()),
                "phone": null,
                "tax_exempt": "none",
                "tax_ids": []
            })
        } else {
            Value::Null
        };
        json!({
            "id": self.id,
            "object": "checkout.session",
            "adaptive_pricing": null,
            "after_expiration": null,
            "allow_promotion_codes": null,
            "amount_subtotal": self.amount_due_now(),
            "amount_total": self.amount_due_now(),
            "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
            "billing_address_collection": null,
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
            "discounts": [],
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
            "tax_id_collection": {"enabled": false, "required": "never"},
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
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
