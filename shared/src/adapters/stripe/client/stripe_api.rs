//! [`StripeApi`] over HTTP: each port call as its request.

use super::{segment, Idempotency, StripeClient};
use crate::domain::time::UnixTime;
use crate::ports::StripeApi;
use crate::stripe::{
    CheckoutSession, Customer, CustomerUpdate, Event, EventQuery, Form, IdempotencyScope, Invoice,
    InvoicePayment, List, NewCheckoutSession, NewCustomer, NewPaymentIntent, NewPortalSession,
    NewTrialSubscription, PaymentIntent, PaymentMethod, PortalConfiguration, PortalSession, Price,
    PriceChangePreview, PromotionCode, ScheduledPriceChange, StripeError, Subscription,
    SubscriptionPriceChange, SubscriptionSchedule,
};
use async_trait::async_trait;

#[async_trait]
impl StripeApi for StripeClient {
    fn stripe_time(&self, local: UnixTime) -> UnixTime {
        local + self.clock_offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn create_customer(
        &self,
        params: &NewCustomer,
        scope: &IdempotencyScope,
    ) -> Result<Customer, StripeError> {
        let idempotency = Idempotency::Derived("customer_create", scope);
        self.post("/v1/customers", &params.form(), idempotency)
            .await
    }

    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError> {
        let path = format!("/v1/customers/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }

    async fn update_customer(
        &self,
        id: &str,
        params: &CustomerUpdate,
    ) -> Result<Customer, StripeError> {
        let path = format!("/v1/customers/{}", segment(id)?);
        self.post(
            &path,
            &params.form(),
            Idempotency::Unique("customer_update"),
        )
        .await
    }

    async fn find_customer_by_user_id(
        &self,
        user_id: &str,
    ) -> Result<Option<Customer>, StripeError> {
        // Search syntax quotes values with single quotes; a quote in the id would break it.
        let escaped = user_id.replace('\\', "\\\\").replace('\'', "\\'");
        let query = Form::new()
            .field("query", format!("metadata['user_id']:'{escaped}'"))
            .field("limit", 10u32);
        let page: List<Customer> = self.get("/v1/customers/search", &query).await?;
        // Oldest first, so that the same customer wins every time if a race made two.
        Ok(page
            .data
            .into_iter()
            .filter(|c| !c.deleted)
            .min_by_key(|c| (c.created, c.id.clone())))
    }

    async fn list_prices_by_lookup_keys(
        &self,
        lookup_keys: &[&str],
        active_only: bool,
    ) -> Result<Vec<Price>, StripeError> {
        let query = Form::new()
            .list("lookup_keys", lookup_keys)
            .opt("active", active_only.then_some(true))
            .list("expand", ["data.product"])
            .field("limit", 100u32);
        self.list_all("/v1/prices", &query, 1000).await
    }

    async fn create_checkout_session(
        &self,
        params: &NewCheckoutSession,
        scope: &IdempotencyScope,
    ) -> Result<CheckoutSession, StripeError> {
        let idempotency = Idempotency::Derived("checkout_session_create", scope);
        self.post("/v1/checkout/sessions", &params.form(), idempotency)
            .await
    }

    async fn create_trial_subscription(
        &self,
        params: &NewTrialSubscription,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let idempotency = Idempotency::Derived("trial_subscription_create", scope);
        self.post("/v1/subscriptions", &params.form(), idempotency)
            .await
    }

    async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        let path = format!("/v1/checkout/sessions/{}", segment(id)?);
        let expand = ["subscription", "subscription.discounts"];
        self.get(&path, &Form::new().list("expand", expand)).await
    }

    async fn create_portal_session(
        &self,
        params: &NewPortalSession,
    ) -> Result<PortalSession, StripeError> {
        // A portal session is a short-lived link; a fresh one per request is what callers want.
        let idempotency = Idempotency::Unique("portal_session_create");
        self.post("/v1/billing_portal/sessions", &params.form(), idempotency)
            .await
    }

    async fn list_portal_configurations(&self) -> Result<Vec<PortalConfiguration>, StripeError> {
        let query = Form::new().field("active", true).field("limit", 100u32);
        self.list_all("/v1/billing_portal/configurations", &query, 1000)
            .await
    }

    async fn list_card_payment_methods(
        &self,
        customer: &str,
    ) -> Result<Vec<PaymentMethod>, StripeError> {
        let query = Form::new()
            .field("customer", customer)
            .field("type", "card")
            .field("limit", 100u32);
        self.list_all("/v1/payment_methods", &query, 1000).await
    }

    async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, StripeError> {
        let query = Form::new()
            .field("code", code)
            .field("active", true)
            .field("limit", 1u32);
        let page: List<PromotionCode> = self.get("/v1/promotion_codes", &query).await?;
        Ok(page.data.into_iter().next())
    }

    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        // Its discounts with their coupons: what `/subscriptions/current` shows of them.
        self.get(&path, &Form::new().list("expand", ["discounts"]))
            .await
    }

    async fn list_customer_subscriptions(
        &self,
        customer: &str,
    ) -> Result<Vec<Subscription>, StripeError> {
        let query = Form::new()
            .field("customer", customer)
            .field("status", "all")
            .field("limit", 100u32);
        self.list_all("/v1/subscriptions", &query, 1000).await
    }

    async fn list_live_subscriptions(&self, max: usize) -> Result<Vec<Subscription>, StripeError> {
        let mut live = Vec::new();
        for status in ["active", "past_due", "unpaid", "trialing"] {
            let query = Form::new().field("status", status).field("limit", 100u32);
            live.extend(self.list_all("/v1/subscriptions", &query, max).await?);
        }
        Ok(live)
    }

    async fn change_subscription_price(
        &self,
        id: &str,
        params: &SubscriptionPriceChange,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let idempotency = Idempotency::Derived("subscription_price_change", scope);
        self.post(&path, &params.form(), idempotency).await
    }

    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let form = Form::new().field("cancel_at_period_end", cancel);
        self.post(
            &path,
            &form,
            Idempotency::Unique("subscription_cancel_at_period_end"),
        )
        .await
    }

    async fn set_cancel_at_period_end_once(
        &self,
        id: &str,
        cancel: bool,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let form = Form::new().field("cancel_at_period_end", cancel);
        let idempotency = Idempotency::Derived("subscription_cancel_at_period_end", scope);
        self.post(&path, &form, idempotency).await
    }

    async fn resume_paused_subscription(
        &self,
        id: &str,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}/resume", segment(id)?);
        let idempotency = Idempotency::Derived("subscription_resume", scope);
        self.post(&path, &Form::new(), idempotency).await
    }

    async fn cancel_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        self.delete(&path).await
    }

    async fn create_schedule_from_subscription(
        &self,
        subscription: &str,
        scope: &IdempotencyScope,
    ) -> Result<SubscriptionSchedule, StripeError> {
        let form = Form::new().field("from_subscription", subscription);
        let idempotency = Idempotency::Derived("subscription_schedule_create", scope);
        self.post("/v1/subscription_schedules", &form, idempotency)
            .await
    }

    async fn schedule_price_change(
        &self,
        schedule: &str,
        params: &ScheduledPriceChange,
    ) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}", segment(schedule)?);
        // Setting the phases is absolute, so repeating it is harmless; the key only has to
        // cover this call's own retries.
        self.post(
            &path,
            &params.form(),
            Idempotency::Unique("subscription_schedule_update"),
        )
        .await
    }

    async fn release_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}/release", segment(schedule)?);
        self.post(
            &path,
            &Form::new(),
            Idempotency::Unique("subscription_schedule_release"),
        )
        .await
    }

    async fn retrieve_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}", segment(schedule)?);
        self.get(&path, &Form::new()).await
    }

    async fn preview_price_change(
        &self,
        params: &PriceChangePreview,
    ) -> Result<Invoice, StripeError> {
        // A preview changes nothing; the key only covers this call's retries.
        let idempotency = Idempotency::Unique("invoice_preview");
        self.post("/v1/invoices/create_preview", &params.form(), idempotency)
            .await
    }

    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError> {
        let path = format!("/v1/invoices/{}", segment(id)?);
        self.get(&path, &Form::new().list("expand", ["payments"]))
            .await
    }

    async fn find_invoice_payment(
        &self,
        payment_intent: &str,
    ) -> Result<Option<InvoicePayment>, StripeError> {
        let query = Form::new()
            .field("payment[type]", "payment_intent")
            .field("payment[payment_intent]", payment_intent)
            .list("expand", ["data.invoice"])
            .field("limit", 1u32);
        let page: List<InvoicePayment> = self.get("/v1/invoice_payments", &query).await?;
        Ok(page.data.into_iter().next())
    }

    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        scope: &IdempotencyScope,
    ) -> Result<PaymentIntent, StripeError> {
        let idempotency = Idempotency::Derived("payment_intent_create", scope);
        self.post("/v1/payment_intents", &params.form(), idempotency)
            .await
    }

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>, StripeError> {
        let mut events: Vec<Event> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: List<Event> = self
                .get("/v1/events", &query.form(cursor.as_deref()))
                .await?;
            let more = page.has_more && !page.data.is_empty();
            cursor = page.data.last().map(|e| e.id.clone());
            events.extend(page.data);
            if !more || events.len() >= query.max_events {
                events.truncate(query.max_events);
                return Ok(events);
            }
        }
    }

    async fn retrieve_event(&self, id: &str) -> Result<Event, StripeError> {
        let path = format!("/v1/events/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }
}
