//! Changing a subscription: its price now, a preview of that, or at the period end through a schedule.

use crate::stripe::form::Form;
use crate::stripe::objects::Metadata;

/// How Stripe accounts for a mid-period price change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProrationBehavior {
    /// Credit and charge the difference on the next invoice.
    CreateProrations,
    /// Invoice (and charge) the difference now: immediate upgrades.
    AlwaysInvoice,
    /// No proration: scheduled downgrades.
    None,
}

impl ProrationBehavior {
    /// Stripe's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProrationBehavior::CreateProrations => "create_prorations",
            ProrationBehavior::AlwaysInvoice => "always_invoice",
            ProrationBehavior::None => "none",
        }
    }
}

/// How an upgrade's price difference is charged: invoiced and paid now. The upgrade route and
/// the Customer Portal's plan switches (catalog-sync configures it) share it.
pub const UPGRADE_PRORATION: ProrationBehavior = ProrationBehavior::AlwaysInvoice;

/// What Stripe does when the payment a subscription change needs does not succeed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentBehavior {
    /// Apply the change; a failed payment leaves the subscription `past_due`.
    AllowIncomplete,
    /// Apply the change and leave the payment for the client to confirm.
    DefaultIncomplete,
    /// Refuse the change (HTTP 402) if the payment fails.
    ErrorIfIncomplete,
    /// Keep the old price until the invoice is paid (`pending_update`): an upgrade is only
    /// applied once paid.
    PendingIfIncomplete,
}

impl PaymentBehavior {
    /// Stripe's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentBehavior::AllowIncomplete => "allow_incomplete",
            PaymentBehavior::DefaultIncomplete => "default_incomplete",
            PaymentBehavior::ErrorIfIncomplete => "error_if_incomplete",
            PaymentBehavior::PendingIfIncomplete => "pending_if_incomplete",
        }
    }
}

/// Expansions for a subscription change, so one answer says whether the invoice was paid and,
/// if not, which PaymentIntent needs 3-D Secure. Basil removed `invoice.payment_intent`; the
/// PaymentIntent is reached through the invoice's `payments`.
pub const SUBSCRIPTION_CHANGE_EXPAND: [&str; 2] = ["latest_invoice.payments", "discounts"];

/// `POST /v1/subscriptions/{id}` moving its one item to another price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionPriceChange {
    /// The subscription item (`si_...`) being repriced.
    pub item_id: String,
    /// The new price's id.
    pub price: String,
    /// How the rest of the period is accounted for.
    pub proration_behavior: ProrationBehavior,
    /// The instant the proration is computed for: pass the preview's, so the charge matches
    /// the amount the user was shown to the cent.
    pub proration_date: Option<i64>,
    /// What happens when the proration invoice is not paid at once; Stripe's default
    /// (`allow_incomplete`) when absent.
    pub payment_behavior: Option<PaymentBehavior>,
    /// Keys to set on the subscription.
    pub metadata: Metadata,
    /// A promotion code (`promo_...`) to redeem on the subscription with the change
    /// (`discounts[0][promotion_code]`); the proration invoice is discounted too.
    pub promotion_code: Option<String>,
}

impl SubscriptionPriceChange {
    /// The encoded parameters, with [`SUBSCRIPTION_CHANGE_EXPAND`].
    pub fn form(&self) -> Form {
        Form::new()
            .field("items[0][id]", &self.item_id)
            .field("items[0][price]", &self.price)
            .field("proration_behavior", self.proration_behavior.as_str())
            .opt("proration_date", self.proration_date)
            .opt(
                "payment_behavior",
                self.payment_behavior.map(PaymentBehavior::as_str),
            )
            .map("metadata", &self.metadata)
            .opt(
                "discounts[0][promotion_code]",
                self.promotion_code.as_deref(),
            )
            .list("expand", SUBSCRIPTION_CHANGE_EXPAND)
    }
}

/// `POST /v1/invoices/create_preview` for a price change of a subscription's one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChangePreview {
    /// The subscription's customer; Stripe infers it when absent.
    pub customer: Option<String>,
    /// The subscription being changed.
    pub subscription: String,
    /// The subscription item (`si_...`) being repriced.
    pub item_id: String,
    /// The new price's id.
    pub price: String,
    /// Keep it and pass it to the change itself so both compute the same proration.
    pub proration_date: i64,
    /// The same as the change will use.
    pub proration_behavior: ProrationBehavior,
    /// The promotion code (`promo_...`) the change will redeem, so the preview carries it.
    pub promotion_code: Option<String>,
}

impl PriceChangePreview {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("customer", self.customer.as_deref())
            .field("subscription", &self.subscription)
            .field("subscription_details[items][0][id]", &self.item_id)
            .field("subscription_details[items][0][price]", &self.price)
            .field("subscription_details[proration_date]", self.proration_date)
            .field(
                "subscription_details[proration_behavior]",
                self.proration_behavior.as_str(),
            )
            .opt(
                "discounts[0][promotion_code]",
                self.promotion_code.as_deref(),
            )
    }
}

/// `POST /v1/subscription_schedules/{id}` turning a schedule made `from_subscription` into
/// "current price until `change_at`, then `new_price`", released afterwards, no proration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledPriceChange {
    /// The price billed until `change_at`.
    pub current_price: String,
    /// The current phase's `start_date` (Stripe refuses to move it).
    pub phase_start: i64,
    /// When the new price takes over: the current period's end.
    pub change_at: i64,
    /// The price billed from `change_at`.
    pub new_price: String,
    /// Units billed in both phases.
    pub quantity: u32,
    /// Keys set on the schedule.
    pub metadata: Metadata,
}

impl ScheduledPriceChange {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let current = Form::new()
            .field("items[0][price]", &self.current_price)
            .field("items[0][quantity]", self.quantity)
            .field("start_date", self.phase_start)
            .field("end_date", self.change_at)
            .field("proration_behavior", "none");
        // The last phase has no end: it lasts one period, then the schedule releases the
        // subscription, which keeps renewing at the new price.
        let next = Form::new()
            .field("items[0][price]", &self.new_price)
            .field("items[0][quantity]", self.quantity)
            .field("proration_behavior", "none");
        Form::new()
            .field("end_behavior", "release")
            .field("proration_behavior", "none")
            .nest("phases[0]", current)
            .nest("phases[1]", next)
            .map("metadata", &self.metadata)
    }
}

/// A trial on a new subscription: `trial_period_days`, and for a card-less trial what Stripe does
/// at its end when no payment method was added (`missing_payment_method`: `cancel` or `pause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialParams {
    /// `trial_period_days`.
    pub days: u32,
    /// `trial_settings[end_behavior][missing_payment_method]`; `None` when a card is collected
    /// before the trial starts.
    pub missing_payment_method: Option<String>,
}

impl TrialParams {
    /// The trial's fields under `prefix` (`subscription_data` for Checkout, none for a
    /// subscription created directly).
    pub(crate) fn fields(&self, form: Form, prefix: Option<&str>) -> Form {
        let key = |name: &str| match prefix {
            Some(p) => format!("{p}[{name}]"),
            None => name.to_owned(),
        };
        form.field(key("trial_period_days"), self.days).opt(
            format!(
                "{}[end_behavior][missing_payment_method]",
                key("trial_settings")
            ),
            self.missing_payment_method.as_deref(),
        )
    }
}

/// `POST /v1/subscriptions` for a card-less trial started without Checkout: the one item, the
/// trial, and a payment method saved on the subscription once the customer adds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrialSubscription {
    /// The customer (`cus_...`).
    pub customer: String,
    /// The tier's price.
    pub price: String,
    /// The trial; its `missing_payment_method` says what its end does without a card.
    pub trial: TrialParams,
    /// Tierflow's user id, as on every subscription it makes.
    pub metadata: Metadata,
}

impl NewTrialSubscription {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let form = Form::new()
            .field("customer", &self.customer)
            .field("items[0][price]", &self.price)
            .field("items[0][quantity]", 1u32);
        self.trial
            .fields(form, None)
            .field(
                "payment_settings[save_default_payment_method]",
                "on_subscription",
            )
            .map("metadata", &self.metadata)
    }
}
