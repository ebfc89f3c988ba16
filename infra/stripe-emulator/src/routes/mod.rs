//! The route table: Stripe's paths and the emulator's `/_emulator/` test hooks.

mod catalog;
mod charges;
mod checkout;
mod checkout_complete;
mod coupons;
mod customers;
mod emulator;
mod events;
mod invoice_payments;
mod invoices;
mod payment_intents;
mod payment_methods;
mod portal;
mod schedules;
mod subscriptions;
mod tax_ids;
mod webhook_endpoints;

use std::sync::Arc;

use axum::http::Method;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::expand::{drop_unexpanded_includables, expand};
use crate::form::Params;
use crate::server::App;
use crate::store::Store;

/// Serves one request against the locked store; applies `expand[]` to the result.
pub(crate) fn route(
    app: &Arc<App>,
    store: &mut Store,
    method: &Method,
    path: &str,
    p: &Params,
) -> ApiResult<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    let mut value = match (m, segments.as_slice()) {
        ("GET", ["v1", "customers"]) => customers::list(store, p),
        ("POST", ["v1", "customers"]) => customers::create(store, p),
        ("GET", ["v1", "customers", "search"]) => customers::search(store, p),
        ("GET", ["v1", "customers", id]) => customers::retrieve(store, id),
        ("POST", ["v1", "customers", id]) => customers::update(store, id, p),
        ("DELETE", ["v1", "customers", id]) => customers::delete(store, id),
        ("POST", ["v1", "customers", id, "tax_ids"]) => tax_ids::create(store, id, p),
        ("GET", ["v1", "customers", id, "tax_ids"]) => tax_ids::list(store, id, p),
        ("GET", ["v1", "customers", id, "tax_ids", tid]) => tax_ids::retrieve(store, id, tid),
        ("DELETE", ["v1", "customers", id, "tax_ids", tid]) => tax_ids::delete(store, id, tid),
        ("GET", ["v1", "customers", id, "payment_methods"]) => {
            payment_methods::list_for(store, id, p)
        }

        ("GET", ["v1", "products"]) => catalog::list_products(store, p),
        ("POST", ["v1", "products"]) => catalog::create_product(store, p),
        ("GET", ["v1", "products", id]) => catalog::retrieve_product(store, id),
        ("POST", ["v1", "products", id]) => catalog::update_product(store, id, p),
        ("GET", ["v1", "prices"]) => catalog::list_prices(store, p),
        ("POST", ["v1", "prices"]) => catalog::create_price(store, p),
        ("GET", ["v1", "prices", id]) => catalog::retrieve_price(store, id),
        ("POST", ["v1", "prices", id]) => catalog::update_price(store, id, p),

        ("POST", ["v1", "coupons"]) => coupons::create_coupon(store, p),
        ("GET", ["v1", "coupons"]) => coupons::list_coupons(store, p),
        ("GET", ["v1", "coupons", id]) => coupons::retrieve_coupon(store, id),
        ("POST", ["v1", "promotion_codes"]) => coupons::create_promotion_code(store, p),
        ("GET", ["v1", "promotion_codes"]) => coupons::list_promotion_codes(store, p),
        ("GET", ["v1", "promotion_codes", id]) => coupons::retrieve_promotion_code(store, id),
        ("POST", ["v1", "promotion_codes", id]) => coupons::update_promotion_code(store, id, p),
        ("GET", ["v1", "tax_rates", id]) => {
            crate::billing::tax_rate_json(id).ok_or_else(|| ApiError::no_such("tax_rate", id))
        }

        ("GET", ["v1", "payment_methods"]) => payment_methods::list(store, p),
        ("GET", ["v1", "payment_methods", id]) => payment_methods::retrieve(store, id),
        ("POST", ["v1", "payment_methods", id, "attach"]) => payment_methods::attach(store, id, p),
        ("POST", ["v1", "payment_methods", id, "detach"]) => payment_methods::detach(store, id),

        ("POST", ["v1", "checkout", "sessions"]) => checkout::create(store, p),
        ("GET", ["v1", "checkout", "sessions"]) => checkout::list(store, p),
        ("GET", ["v1", "checkout", "sessions", id]) => checkout::retrieve(store, id),
        ("POST", ["v1", "billing_portal", "sessions"]) => checkout::create_portal(store, p),
        ("POST", ["v1", "billing_portal", "configurations"]) => {
            portal::create_configuration(store, p)
        }
        ("GET", ["v1", "billing_portal", "configurations"]) => {
            portal::list_configurations(store, p)
        }
        ("GET", ["v1", "billing_portal", "configurations", id]) => {
            portal::retrieve_configuration(store, id)
        }
        ("POST", ["v1", "billing_portal", "configurations", id]) => {
            portal::update_configuration(store, id, p)
        }

        ("POST", ["v1", "subscriptions"]) => subscriptions::create(store, p),
        ("GET", ["v1", "subscriptions"]) => subscriptions::list(store, p),
        ("GET", ["v1", "subscriptions", id]) => subscriptions::retrieve(store, id),
        ("POST", ["v1", "subscriptions", id]) => subscriptions::update(store, id, p),
        ("DELETE", ["v1", "subscriptions", id]) => subscriptions::cancel(store, id, p),
        ("POST", ["v1", "subscriptions", id, "resume"]) => subscriptions::resume(store, id, p),

        ("POST", ["v1", "invoices", "create_preview"]) => invoices::create_preview(store, p),
        ("GET", ["v1", "invoices"]) => invoices::list(store, p),
        ("GET", ["v1", "invoices", id]) => invoices::retrieve(store, id),
        ("POST", ["v1", "invoices", id, "pay"]) => invoices::pay(store, id, p),
        ("GET", ["v1", "invoiceitems"]) => invoices::list_items(store, p),
        ("GET", ["v1", "invoice_payments"]) => invoice_payments::list(store, p),
        ("GET", ["v1", "invoice_payments", id]) => invoice_payments::retrieve(store, id),

        ("POST", ["v1", "subscription_schedules"]) => schedules::create(store, p),
        ("GET", ["v1", "subscription_schedules"]) => schedules::list(store, p),
        ("GET", ["v1", "subscription_schedules", id]) => schedules::retrieve(store, id),
        ("POST", ["v1", "subscription_schedules", id]) => schedules::update(store, id, p),
        ("POST", ["v1", "subscription_schedules", id, "release"]) => {
            schedules::release(store, id, p)
        }
        ("POST", ["v1", "subscription_schedules", id, "cancel"]) => schedules::cancel(store, id, p),

        ("POST", ["v1", "payment_intents"]) => payment_intents::create(store, p),
        ("GET", ["v1", "payment_intents"]) => payment_intents::list(store, p),
        ("GET", ["v1", "payment_intents", id]) => payment_intents::retrieve(store, id),
        ("POST", ["v1", "payment_intents", id, "confirm"]) => {
            payment_intents::confirm(store, id, p)
        }
        ("POST", ["v1", "payment_intents", id, "cancel"]) => payment_intents::cancel(store, id, p),

        ("GET", ["v1", "charges"]) => charges::list(store, p),
        ("GET", ["v1", "charges", id]) => charges::retrieve(store, id),
        ("POST", ["v1", "refunds"]) => charges::refund(store, p),
        ("GET", ["v1", "refunds"]) => charges::list_refunds(store, p),
        ("GET", ["v1", "refunds", id]) => charges::retrieve_refund(store, id),
        ("GET", ["v1", "disputes"]) => charges::list_disputes(store, p),
        ("GET", ["v1", "disputes", id]) => charges::retrieve_dispute(store, id),
        ("POST", ["v1", "disputes", id]) => charges::update_dispute(store, id, p),

        ("GET", ["v1", "events"]) => events::list(store, p),
        ("GET", ["v1", "events", id]) => events::retrieve(store, id),

        ("POST", ["v1", "webhook_endpoints"]) => webhook_endpoints::create(store, p),
        ("GET", ["v1", "webhook_endpoints"]) => webhook_endpoints::list(store, p),
        ("GET", ["v1", "webhook_endpoints", id]) => webhook_endpoints::retrieve(store, id),
        ("DELETE", ["v1", "webhook_endpoints", id]) => webhook_endpoints::delete(store, id),

        ("POST", ["_emulator", "reset"]) => emulator::reset(app, store),
        ("GET", ["_emulator", "clock"]) => emulator::clock(store),
        ("POST", ["_emulator", "clock", "advance"]) => emulator::advance(store, p),
        ("POST", ["_emulator", "checkout", "sessions", id, "complete"]) => {
            checkout_complete::complete_checkout(store, id, p)
        }
        ("POST", ["_emulator", "payment_intents", id, "authenticate"]) => {
            emulator::authenticate(store, id, p)
        }
        ("POST", ["_emulator", "billing_portal", "sessions", id, "subscription_update"]) => {
            portal::switch_plan(store, id, p)
        }
        ("POST", ["_emulator", "charges", id, "dispute"]) => emulator::dispute(store, id, p),
        ("POST", ["_emulator", "webhooks", "config"]) => emulator::webhook_config(store, p),
        ("POST", ["_emulator", "webhooks", "pause"]) => emulator::pause(store, true),
        ("POST", ["_emulator", "webhooks", "resume"]) => emulator::pause(store, false),
        ("GET", ["_emulator", "webhooks", "deliveries"]) => emulator::deliveries(store, p),
        ("GET", ["healthz"]) | ("GET", ["_emulator", "health"]) => {
            Ok(serde_json::json!({"ok": true}))
        }
        _ => Err(ApiError::unrecognized_url(m, path)),
    }?;
    let expanded = p.list("expand");
    expand(store, &mut value, &expanded);
    drop_unexpanded_includables(&mut value, &expanded);
    Ok(value)
}

/// Renders a stored object or answers Stripe's 404.
fn render_or_404(store: &Store, label: &str, id: &str) -> ApiResult<Value> {
    store.render(id).ok_or_else(|| ApiError::no_such(label, id))
}
