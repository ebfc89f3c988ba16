//! Payment methods, payment intents, charges, refunds and disputes.

use serde_json::{json, Map, Value};

use super::list_of;
use crate::store::Store;

/// How a test card behaves, after Stripe's test payment methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardBehaviour {
    /// Every charge succeeds.
    Succeed,
    /// Declines when attached to a customer and when charged.
    DeclineAlways {
        /// `generic_decline`, `insufficient_funds`, ...
        decline_code: &'static str,
    },
    /// Attaches fine; every later charge declines (`pm_card_chargeCustomerFail`).
    DeclineCharges,
    /// Every charge needs 3-D Secure authentication.
    RequireAuthentication,
}

/// Card details shown on payment methods and charges.
#[derive(Debug, Clone)]
pub struct CardInfo {
    /// `visa`, `mastercard`, `amex`.
    pub brand: &'static str,
    /// Last four digits.
    pub last4: &'static str,
    /// `credit` or `debit`.
    pub funding: &'static str,
    /// Expiry month.
    pub exp_month: i64,
    /// Expiry year.
    pub exp_year: i64,
}

/// Test tokens (`pm_card_*`) the emulator knows, as Stripe documents them.
pub fn test_card(token: &str, now_year: i64) -> Option<(CardInfo, CardBehaviour)> {
    let card = |brand, last4, funding| CardInfo {
        brand,
        last4,
        funding,
        exp_month: 12,
        exp_year: now_year + 3,
    };
    Some(match token {
        "pm_card_visa" => (card("visa", "4242", "credit"), CardBehaviour::Succeed),
        "pm_card_visa_debit" => (card("visa", "5556", "debit"), CardBehaviour::Succeed),
        "pm_card_mastercard" => (card("mastercard", "4444", "credit"), CardBehaviour::Succeed),
        "pm_card_amex" => (card("amex", "8431", "credit"), CardBehaviour::Succeed),
        "pm_card_chargeDeclined" => (
            card("visa", "0002", "credit"),
            CardBehaviour::DeclineAlways {
                decline_code: "generic_decline",
            },
        ),
        "pm_card_chargeDeclinedInsufficientFunds" => (
            card("visa", "9995", "credit"),
            CardBehaviour::DeclineAlways {
                decline_code: "insufficient_funds",
            },
        ),
        "pm_card_chargeCustomerFail" => (
            card("visa", "0341", "credit"),
            CardBehaviour::DeclineCharges,
        ),
        "pm_card_authenticationRequired" => (
            card("visa", "3184", "credit"),
            CardBehaviour::RequireAuthentication,
        ),
        "pm_card_threeDSecure2Required" => (
            card("visa", "3220", "credit"),
            CardBehaviour::RequireAuthentication,
        ),
        _ => return None,
    })
}

/// A card payment method created from a test token.
#[derive(Debug, Clone)]
pub struct PaymentMethod {
    /// `pm_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Customer it is attached to.
    pub customer: Option<String>,
    /// Card details.
    pub card: CardInfo,
    /// Test behaviour remembered from the token.
    pub behaviour: CardBehaviour,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl PaymentMethod {
    /// The payment method object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
                "email": null,
                "name": null,
                "phone": null
            },
            "card": card_json(&self.card),
            "created": self.created,
            "customer": self.customer,
            "livemode": false,
            "metadata": self.metadata,
            "type": "card"
        })
    }
}

fn card_json(c: &CardInfo) -> Value {
    json!({
        "brand": c.brand,
        "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
        "country": "US",
        "display_brand": c.brand,
        "exp_month": c.exp_month,
        "exp_year": c.exp_year,
        "fingerprint": format!("emu{}{}", c.brand, c.last4),
        "funding": c.funding,
        "generated_from": null,
        "last4": c.last4,
        "networks": {"available": [c.brand], "preferred": null},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": true},
        "wallet": null
    })
}

/// A payment intent.
#[derive(Debug, Clone)]
pub struct PaymentIntent {
    /// `pi_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Customer.
    pub customer: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `succeeded`, `canceled`.
    pub status: String,
    /// Payment method used or to use.
    pub payment_method: Option<String>,
    /// Latest charge.
    pub latest_charge: Option<String>,
    /// `pi_..._secret_...`.
    pub client_secret: String,
    /// Last decline, as an error object.
    pub last_payment_error: Option<Value>,
    /// 3-D Secure redirect.
    pub next_action: Option<Value>,
    /// Invoice this intent pays.
    pub invoice: Option<String>,
    /// Whether automatic payment methods were enabled.
    pub automatic_payment_methods: bool,
    /// Cancellation time.
    pub canceled_at: Option<i64>,
}

impl PaymentIntent {
    /// The payment intent object.
    pub fn to_json(&self, _store: &Store) -> Value {
        let received = if self.status == "succeeded" {
            self.amount
        } else {
            0
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": received,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": if self.automatic_payment_methods {
                json!({"allow_redirects": "always", "enabled": true})
            } else { Value::Null },
            "canceled_at": self.canceled_at,
            "cancellation_reason": null,
            "capture_method": "automatic",
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": self.next_action,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": {"card": {"installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "processing": null,
            "receipt_email": null,
            "review": null,
            "setup_future_usage": null,
            "shipping": null,
            "source": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": self.status,
            "transfer_data": null,
            "transfer_group": null
        })
    }
}

/// A charge (one payment attempt).
#[derive(Debug, Clone)]
pub struct Charge {
    /// `ch_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Amount.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Customer.
    pub customer: Option<String>,
    /// Payment intent.
    pub payment_intent: String,
    /// Payment method.
    pub payment_method: String,
    /// Card used.
    pub card: CardInfo,
    /// Invoice paid by this charge.
    pub invoice: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata (copied from the payment intent).
    pub metadata: Map<String, Value>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Decline code for failed charges.
    pub failure_code: Option<String>,
    /// Decline message.
    pub failure_message: Option<String>,
    /// Issuer decline reason.
    pub decline_code: Option<String>,
    /// Amount refunded so far.
    pub amount_refunded: i64,
    /// Refund ids, newest last.
    pub refunds: Vec<String>,
    /// Whether a dispute was opened.
    pub disputed: bool,
}

impl Charge {
    /// The charge object.
    pub fn to_json(&self, store: &Store) -> Value {
        let ok = self.status == "succeeded";
        let refunds: Vec<Value> = self
            .refunds
            .iter()
            .rev()
            .filter_map(|id| store.refunds.get(id).map(Refund::to_json))
            .collect();
        let outcome = if ok {
            json!({"advice_code": null, "network_advice_code": null, "network_decline_code": null,
                   "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
                   "risk_score": 32, "seller_message": "Payment complete.", "type": "authorized"})
        } else {
            json!({"advice_code": "try_again_later", "network_advice_code": null, "network_decline_code": null,
                   "network_status": "declined_by_network", "reason": self.decline_code, "risk_level": "normal",
                   "risk_score": 32, "seller_message": "The bank did not return any further details with this decline.",
                   "type": "issuer_declined"})
        };
        let mut card = card_json(&self.card);
        if let Some(m) = card.as_object_mut() {
            // A charge's card details are not a PaymentMethod's: no display brand, wallet
            // networks or 3-D Secure support flags (the SDK's `Charge.PaymentMethodDetails.Card`).
            for payment_method_only in [
                "display_brand",
                "generated_from",
                "networks",
                "three_d_secure_usage",
            ] {
                m.remove(payment_method_only);
            }
            m.insert(
                "amount_authorized".into(),
                json!(if ok { Some(self.amount) } else { None }),
            );
            m.insert("network".into(), json!(self.card.brand));
            m.insert("three_d_secure".into(), Value::Null);
        }
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": if ok { self.amount } else { 0 },
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": if ok { Value::String(format!("txn_{}", &self.id[3..])) } else { Value::Null },
            "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
                "email": null, "name": null, "phone": null
            },
            "calculated_statement_descriptor": "TIERFLOW",
            "captured": ok,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "disputed": self.disputed,
            "failure_balance_transaction": null,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "fraud_details": {},
            "livemode": false,
            "metadata": self.metadata,
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": ok,
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "payment_method_details": {"card": card, "type": "card"},
            "receipt_email": null,
            "receipt_number": null,
            // Stripe gives a receipt to charges that went through, not to declined ones.
            "receipt_url": ok.then(|| format!("{}/receipts/{}", store.public_url, self.id)),
            "refunded": self.amount_refunded >= self.amount && self.amount > 0 && ok,
            // Includable: `crate::expand` drops it unless `expand[]` asked for it.
            "refunds": list_of(refunds, &format!("/v1/charges/{}/refunds", self.id)),
            "review": null,
            "shipping": null,
            "source": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": self.status,
            "transfer_data": null,
            "transfer_group": null
        })
    }
}

/// A refund.
#[derive(Debug, Clone)]
pub struct Refund {
    /// `re_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Amount refunded.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Charge refunded.
    pub charge: String,
    /// Its payment intent.
    pub payment_intent: String,
    /// `duplicate`, `fraudulent`, `requested_by_customer`.
    pub reason: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

impl Refund {
    /// The refund object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": format!("txn_{}", &self.id[3..]),
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "destination_details": {"card": {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null
        })
    }
}

/// A dispute opened on a charge.
#[derive(Debug, Clone)]
pub struct Dispute {
    /// `dp_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Disputed amount.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Charge.
    pub charge: String,
    /// Payment intent.
    pub payment_intent: String,
    /// `fraudulent`, `product_not_received`, ...
    pub reason: String,
    /// `needs_response`, then `under_review`, `won` or `lost`.
    pub status: String,
    /// Evidence submissions so far.
    pub submission_count: u32,
}

impl Dispute {
    /// The dispute object.
    pub fn to_json(&self, store: &Store) -> Value {
        let brand = store
            .charges
            .get(&self.charge)
            .map(|c| c.card.brand)
            .unwrap_or("visa");
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "enhanced_eligibility_types": [],
            "evidence": {},
            "evidence_details": {"due_by": self.created + 7 * 86_400, "enhanced_eligibility": {}, "has_evidence": self.submission_count > 0, "past_due": false, "submission_count": self.submission_count},
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "payment_intent": self.payment_intent,
            "payment_method_details": {"card": {"brand": brand, "case_type": "chargeback", "network_reason_code": null}, "type": "card"},
            "reason": self.reason,
            "status": self.status
        })
    }
}
