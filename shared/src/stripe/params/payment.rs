//! One-time payments and refunds.

use crate::stripe::form::Form;
use crate::stripe::objects::Metadata;

/// `POST /v1/payment_intents` for a one-time payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentIntent {
    /// In the currency's minor unit (cents).
    pub amount: i64,
    /// Three-letter ISO code, lowercase.
    pub currency: String,
    /// The customer to charge, whose saved cards it may use.
    pub customer: Option<String>,
    /// Shown in the Dashboard and on the receipt.
    pub description: Option<String>,
    /// Copied onto the PaymentIntent (and its events).
    pub metadata: Metadata,
}

impl NewPaymentIntent {
    /// The encoded parameters; payment methods come from the Dashboard settings.
    pub fn form(&self) -> Form {
        Form::new()
            .field("amount", self.amount)
            .field("currency", &self.currency)
            .opt("customer", self.customer.as_deref())
            .opt("description", self.description.as_deref())
            .map("metadata", &self.metadata)
            .field("automatic_payment_methods[enabled]", true)
    }
}

/// `POST /v1/refunds`: of a PaymentIntent or a charge, in full unless `amount` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRefund {
    /// Refund this PaymentIntent's charge.
    pub payment_intent: Option<String>,
    /// Or this charge, when there is no PaymentIntent.
    pub charge: Option<String>,
    /// In the minor unit; the whole remaining amount when absent.
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    pub reason: Option<String>,
    /// The refund's own metadata.
    pub metadata: Metadata,
}

impl NewRefund {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("payment_intent", self.payment_intent.as_deref())
            .opt("charge", self.charge.as_deref())
            .opt("amount", self.amount)
            .opt("reason", self.reason.as_deref())
            .map("metadata", &self.metadata)
    }
}
