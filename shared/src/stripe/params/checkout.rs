//! Checkout sessions, and the Customer Portal with its configuration.

use super::subscription::{ProrationBehavior, TrialParams};
use crate::stripe::form::Form;
use crate::stripe::objects::Metadata;

/// What a Checkout session sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutMode {
    /// A subscription to a recurring price; `metadata` lands on the subscription.
    Subscription {
        /// The recurring price's id (`price_...`).
        price: String,
        /// Units of the price (Tierflow's checkout sells one).
        quantity: u32,
        /// Becomes `subscription_data[metadata]`.
        metadata: Metadata,
        /// A trial before the first charge; a card-less one collects a payment method only if
        /// required (`payment_method_collection=if_required`).
        trial: Option<TrialParams>,
    },
    /// A one-time payment of an ad-hoc amount; `metadata` lands on the PaymentIntent, and
    /// `save_card` keeps the card for later off-session charges.
    Payment {
        /// In the currency's minor unit (cents).
        amount: i64,
        /// Three-letter ISO code, lowercase (`usd`).
        currency: String,
        /// The line item's name on the payment page and receipt.
        product_name: String,
        /// Sets `setup_future_usage=off_session`.
        save_card: bool,
        /// Becomes `payment_intent_data[metadata]`.
        metadata: Metadata,
    },
    /// Collects a card without charging it.
    Setup {
        /// The currency the card is set up for (`usd`).
        currency: String,
    },
}

/// `POST /v1/checkout/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    /// What it sells, with that mode's parameters.
    pub mode: CheckoutMode,
    /// The customer to charge; when absent, a subscription-mode session creates one.
    pub customer: Option<String>,
    /// Prefills the email when there is no customer yet.
    pub customer_email: Option<String>,
    /// Tierflow puts the user id here, to find the user again on completion.
    pub client_reference_id: Option<String>,
    /// May contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in.
    pub success_url: String,
    /// Where the payment page's back link goes.
    pub cancel_url: String,
    /// The session's own metadata.
    pub metadata: Metadata,
    /// A promotion code (`promo_...`) applied up front (`discounts[0][promotion_code]`).
    pub promotion_code: Option<String>,
    /// Let the customer type a promotion code on the Checkout page (Stripe refuses it together
    /// with a code applied up front, so it is sent only without one).
    pub allow_promotion_codes: bool,
    /// Stripe Tax: automatic tax, with the billing address required and tax IDs collected
    /// (saved on the customer, whose address later invoices are taxed by).
    pub automatic_tax: bool,
}

impl NewCheckoutSession {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let mode = match &self.mode {
            CheckoutMode::Subscription {
                price,
                quantity,
                metadata,
                trial,
            } => {
                let form = Form::new()
                    .field("mode", "subscription")
                    .field("line_items[0][price]", price)
                    .field("line_items[0][quantity]", *quantity)
                    .map("subscription_data[metadata]", metadata);
                match trial {
                    Some(trial) => trial.fields(form, Some("subscription_data")).opt(
                        "payment_method_collection",
                        trial
                            .missing_payment_method
                            .is_some()
                            .then_some("if_required"),
                    ),
                    None => form,
                }
            }
            CheckoutMode::Payment {
                amount,
                currency,
                product_name,
                save_card,
                metadata,
            } => Form::new()
                .field("mode", "payment")
                .field("line_items[0][price_data][currency]", currency)
                .field("line_items[0][price_data][unit_amount]", *amount)
                .field(
                    "line_items[0][price_data][product_data][name]",
                    product_name,
                )
                .field("line_items[0][quantity]", 1u32)
                .opt(
                    "payment_intent_data[setup_future_usage]",
                    save_card.then_some("off_session"),
                )
                .map("payment_intent_data[metadata]", metadata),
            CheckoutMode::Setup { currency } => Form::new()
                .field("mode", "setup")
                .field("currency", currency),
        };
        let form = mode
            .opt("customer", self.customer.as_deref())
            .opt(
                "customer_email",
                self.customer_email
                    .as_deref()
                    .filter(|_| self.customer.is_none()),
            )
            .opt("client_reference_id", self.client_reference_id.as_deref())
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .map("metadata", &self.metadata)
            .opt(
                "discounts[0][promotion_code]",
                self.promotion_code.as_deref(),
            )
            .opt(
                "allow_promotion_codes",
                (self.allow_promotion_codes && self.promotion_code.is_none()).then_some(true),
            );
        if !self.automatic_tax {
            return form;
        }
        let form = form
            .field("automatic_tax[enabled]", true)
            .field("billing_address_collection", "required")
            .field("tax_id_collection[enabled]", true);
        match self.customer {
            // An existing customer keeps what Checkout collects, as later invoices need it.
            Some(_) => form
                .field("customer_update[address]", "auto")
                .field("customer_update[name]", "auto"),
            None => form,
        }
    }
}

/// `POST /v1/billing_portal/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortalSession {
    /// The customer whose portal opens.
    pub customer: String,
    /// Where the portal's back link goes.
    pub return_url: String,
    /// The portal configuration to open (Tierflow's own, so the portal keeps the catalog's rules).
    pub configuration: Option<String>,
    /// A flow to open directly (`flow_data[type]`, e.g. `payment_method_update`) instead of the
    /// portal's home page.
    pub flow: Option<String>,
}

impl NewPortalSession {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("customer", &self.customer)
            .field("return_url", &self.return_url)
            .opt("configuration", self.configuration.as_deref())
            .opt("flow_data[type]", self.flow.as_deref())
    }
}

/// `POST /v1/billing_portal/configurations[/{id}]`: what the Customer Portal lets a customer
/// do. Plan switches are limited to `products`; a switch that lowers the price waits for the
/// period end; cancellation waits for the period end; cards can be updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfigurationParams {
    /// `(product id, price ids)` a subscription may switch between.
    pub products: Vec<(String, Vec<String>)>,
    /// How an immediate switch (one that raises the price) is prorated.
    pub proration_behavior: ProrationBehavior,
    /// Catalog-sync's mark, to find the configuration again.
    pub metadata: Metadata,
}

impl PortalConfigurationParams {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let update = "features[subscription_update]";
        let mut form = Form::new()
            .field("features[customer_update][enabled]", false)
            .field("features[invoice_history][enabled]", true)
            .field("features[payment_method_update][enabled]", true)
            .field("features[subscription_cancel][enabled]", true)
            .field("features[subscription_cancel][mode]", "at_period_end")
            .field("features[subscription_cancel][proration_behavior]", "none")
            .field(format!("{update}[enabled]"), true)
            .list(&format!("{update}[default_allowed_updates]"), ["price"])
            .field(
                format!("{update}[proration_behavior]"),
                self.proration_behavior.as_str(),
            )
            .field(
                format!("{update}[schedule_at_period_end][conditions][0][type]"),
                "decreasing_item_amount",
            );
        for (i, (product, prices)) in self.products.iter().enumerate() {
            form = form.field(format!("{update}[products][{i}][product]"), product);
            form = form.list(&format!("{update}[products][{i}][prices]"), prices);
        }
        form.map("metadata", &self.metadata)
    }
}
