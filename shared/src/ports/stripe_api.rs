//! The Stripe port: the calls Tierflow's functions make, in Stripe's own vocabulary
//! ([`crate::stripe`]).

use crate::domain::time::UnixTime;
use crate::stripe::{
    CheckoutSession, Customer, CustomerUpdate, Event, EventQuery, IdempotencyScope, Invoice,
    InvoicePayment, NewCheckoutSession, NewCustomer, NewPaymentIntent, NewPortalSession,
    NewTrialSubscription, PaymentIntent, PaymentMethod, PortalConfiguration, PortalSession, Price,
    PriceChangePreview, PromotionCode, ScheduledPriceChange, StripeError, Subscription,
    SubscriptionPriceChange, SubscriptionSchedule,
};
use async_trait::async_trait;

/// The Stripe calls Tierflow's functions make. [`crate::adapters::stripe::StripeClient`]
/// implements it against the real API; handler tests implement it in memory.
///
/// Calls that create something or move money take an [`IdempotencyScope`]: the same scope and
/// parameters within 24 hours replay the first result instead of acting twice.
#[async_trait]
pub trait StripeApi: Send + Sync {
    /// `local` (our clock) as Stripe's clock reads it, learnt from the `Date` of its answers:
    /// what Tierflow observes through its own calls is stamped in the clock Stripe stamps its
    /// events with, so the version guard compares the two on one timeline (a skewed host, or
    /// a test clock that runs ahead, would otherwise let an older event look newer).
    fn stripe_time(&self, local: UnixTime) -> UnixTime {
        local
    }

    /// `POST /v1/customers`.
    async fn create_customer(
        &self,
        params: &NewCustomer,
        scope: &IdempotencyScope,
    ) -> Result<Customer, StripeError>;

    /// `GET /v1/customers/{id}`; a deleted customer comes back with `deleted: true`.
    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError>;

    /// `POST /v1/customers/{id}`.
    async fn update_customer(
        &self,
        id: &str,
        params: &CustomerUpdate,
    ) -> Result<Customer, StripeError>;

    /// `GET /v1/customers/search` on `metadata['user_id']`: the user's live customer, the
    /// oldest if there are several.
    async fn find_customer_by_user_id(
        &self,
        user_id: &str,
    ) -> Result<Option<Customer>, StripeError>;

    /// `GET /v1/prices?lookup_keys[]=..&expand[]=data.product`.
    async fn list_prices_by_lookup_keys(
        &self,
        lookup_keys: &[&str],
        active_only: bool,
    ) -> Result<Vec<Price>, StripeError>;

    /// `POST /v1/checkout/sessions`.
    async fn create_checkout_session(
        &self,
        params: &NewCheckoutSession,
        scope: &IdempotencyScope,
    ) -> Result<CheckoutSession, StripeError>;

    /// `GET /v1/checkout/sessions/{id}?expand[]=subscription`.
    async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError>;

    /// `POST /v1/billing_portal/sessions`.
    async fn create_portal_session(
        &self,
        params: &NewPortalSession,
    ) -> Result<PortalSession, StripeError>;

    /// `GET /v1/billing_portal/configurations?active=true`: every active portal configuration.
    async fn list_portal_configurations(&self) -> Result<Vec<PortalConfiguration>, StripeError>;

    /// `GET /v1/payment_methods?customer=..&type=card`: the customer's saved cards.
    async fn list_card_payment_methods(
        &self,
        customer: &str,
    ) -> Result<Vec<PaymentMethod>, StripeError>;

    /// `POST /v1/subscriptions` for a trial started without Checkout.
    async fn create_trial_subscription(
        &self,
        params: &NewTrialSubscription,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError>;

    /// `GET /v1/promotion_codes?code=..&active=true`: the active promotion code customers type
    /// as `code`, if there is one.
    async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, StripeError>;

    /// `GET /v1/subscriptions/{id}`.
    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError>;

    /// `GET /v1/subscriptions?customer=..&status=all`: every subscription, canceled included.
    async fn list_customer_subscriptions(
        &self,
        customer: &str,
    ) -> Result<Vec<Subscription>, StripeError>;

    /// `GET /v1/subscriptions?status=…` for every customer: the subscriptions that still bill
    /// (active, past_due, unpaid, trialing), for reconciliation's drift check.
    async fn list_live_subscriptions(&self, max: usize) -> Result<Vec<Subscription>, StripeError>;

    /// `POST /v1/subscriptions/{id}` moving the item to another price, with the latest invoice
    /// and its payments expanded.
    async fn change_subscription_price(
        &self,
        id: &str,
        params: &SubscriptionPriceChange,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError>;

    /// `POST /v1/subscriptions/{id}` with `cancel_at_period_end` (cancel at period end, or resume).
    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<Subscription, StripeError>;

    /// [`StripeApi::set_cancel_at_period_end`] as one operation of `scope`: the key is derived
    /// from it, so a retried or replayed job replays Stripe's first answer.
    async fn set_cancel_at_period_end_once(
        &self,
        id: &str,
        cancel: bool,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError>;

    /// `POST /v1/subscriptions/{id}/resume`: a paused subscription starts a new period now,
    /// invoiced and charged to the card on file (one operation of `scope`).
    async fn resume_paused_subscription(
        &self,
        id: &str,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError>;

    /// `DELETE /v1/subscriptions/{id}`: cancel now.
    async fn cancel_subscription(&self, id: &str) -> Result<Subscription, StripeError>;

    /// `POST /v1/subscription_schedules` with `from_subscription`.
    async fn create_schedule_from_subscription(
        &self,
        subscription: &str,
        scope: &IdempotencyScope,
    ) -> Result<SubscriptionSchedule, StripeError>;

    /// `POST /v1/subscription_schedules/{id}` with the two phases of a change at period end.
    async fn schedule_price_change(
        &self,
        schedule: &str,
        params: &ScheduledPriceChange,
    ) -> Result<SubscriptionSchedule, StripeError>;

    /// `POST /v1/subscription_schedules/{id}/release`: drop the schedule, keep the subscription.
    async fn release_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError>;

    /// `GET /v1/subscription_schedules/{id}`.
    async fn retrieve_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError>;

    /// `POST /v1/invoices/create_preview` for a price change: the exact proration.
    async fn preview_price_change(
        &self,
        params: &PriceChangePreview,
    ) -> Result<Invoice, StripeError>;

    /// `GET /v1/invoices/{id}` with its payments (`expand[]=payments`: basil includes them
    /// only when asked).
    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError>;

    /// `GET /v1/invoice_payments` by PaymentIntent, with the invoice expanded: which invoice a
    /// PaymentIntent pays, since basil's PaymentIntents and charges no longer name it. `None`
    /// when it pays none (a one-time payment).
    async fn find_invoice_payment(
        &self,
        payment_intent: &str,
    ) -> Result<Option<InvoicePayment>, StripeError>;

    /// `POST /v1/payment_intents`.
    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        scope: &IdempotencyScope,
    ) -> Result<PaymentIntent, StripeError>;

    /// `GET /v1/payment_intents/{id}`.
    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError>;

    /// `GET /v1/events`, following pages: newest first, as Stripe lists them.
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>, StripeError>;

    /// `GET /v1/events/{id}`.
    async fn retrieve_event(&self, id: &str) -> Result<Event, StripeError>;
}
