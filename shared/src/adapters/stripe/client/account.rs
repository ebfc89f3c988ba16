//! The calls beyond the port: the catalog, the Customer Portal's configuration, refunds and
//! webhook endpoints, which catalog-sync, the operator tools and the tests make.

use super::{segment, Idempotency, StripeClient};
use crate::stripe::{
    Customer, Form, IdempotencyScope, NewPrice, NewProduct, NewRefund, NewWebhookEndpoint,
    PortalConfiguration, PortalConfigurationParams, Price, Product, ProductUpdate, Refund,
    StripeError, WebhookEndpoint,
};

impl StripeClient {
    /// `GET /v1/customers?email=`: customers with that email (there may be several).
    pub async fn list_customers_by_email(&self, email: &str) -> Result<Vec<Customer>, StripeError> {
        let query = Form::new().field("email", email).field("limit", 100u32);
        self.list_all("/v1/customers", &query, 1000).await
    }

    /// `GET /v1/products`: every product, active or not.
    pub async fn list_products(&self) -> Result<Vec<Product>, StripeError> {
        let query = Form::new().field("limit", 100u32);
        self.list_all("/v1/products", &query, 10_000).await
    }

    /// `POST /v1/billing_portal/configurations` (idempotent on its parameters).
    pub async fn create_portal_configuration(
        &self,
        params: &PortalConfigurationParams,
    ) -> Result<PortalConfiguration, StripeError> {
        let scope = IdempotencyScope::none();
        let idempotency = Idempotency::Derived("portal_configuration_create", &scope);
        self.post(
            "/v1/billing_portal/configurations",
            &params.form(),
            idempotency,
        )
        .await
    }

    /// `POST /v1/billing_portal/configurations/{id}`: replaces its features and metadata.
    pub async fn update_portal_configuration(
        &self,
        id: &str,
        params: &PortalConfigurationParams,
    ) -> Result<PortalConfiguration, StripeError> {
        let path = format!("/v1/billing_portal/configurations/{}", segment(id)?);
        let idempotency = Idempotency::Unique("portal_configuration_update");
        self.post(&path, &params.form(), idempotency).await
    }

    /// `POST /v1/products`.
    pub async fn create_product(
        &self,
        params: &NewProduct,
        scope: &IdempotencyScope,
    ) -> Result<Product, StripeError> {
        let idempotency = Idempotency::Derived("product_create", scope);
        self.post("/v1/products", &params.form(), idempotency).await
    }

    /// `POST /v1/products/{id}`.
    pub async fn update_product(
        &self,
        id: &str,
        params: &ProductUpdate,
    ) -> Result<Product, StripeError> {
        let path = format!("/v1/products/{}", segment(id)?);
        self.post(&path, &params.form(), Idempotency::Unique("product_update"))
            .await
    }

    /// `POST /v1/prices`.
    pub async fn create_price(
        &self,
        params: &NewPrice,
        scope: &IdempotencyScope,
    ) -> Result<Price, StripeError> {
        let idempotency = Idempotency::Derived("price_create", scope);
        self.post("/v1/prices", &params.form(), idempotency).await
    }

    /// `POST /v1/prices/{id}` with `active`: retire a price (or bring it back).
    pub async fn set_price_active(&self, id: &str, active: bool) -> Result<Price, StripeError> {
        let path = format!("/v1/prices/{}", segment(id)?);
        let form = Form::new().field("active", active);
        self.post(&path, &form, Idempotency::Unique("price_update"))
            .await
    }

    /// `POST /v1/refunds`.
    pub async fn create_refund(
        &self,
        params: &NewRefund,
        scope: &IdempotencyScope,
    ) -> Result<Refund, StripeError> {
        let idempotency = Idempotency::Derived("refund_create", scope);
        self.post("/v1/refunds", &params.form(), idempotency).await
    }

    /// `POST /v1/webhook_endpoints`; the answer carries the signing secret, once.
    pub async fn create_webhook_endpoint(
        &self,
        params: &NewWebhookEndpoint,
        scope: &IdempotencyScope,
    ) -> Result<WebhookEndpoint, StripeError> {
        let idempotency = Idempotency::Derived("webhook_endpoint_create", scope);
        self.post("/v1/webhook_endpoints", &params.form(), idempotency)
            .await
    }
}
