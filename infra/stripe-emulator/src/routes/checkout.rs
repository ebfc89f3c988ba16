//! `/v1/checkout/sessions` and `/v1/billing_portal/sessions`.

use serde_json::{json, Value};

use super::render_or_404;
use crate::billing::{self, TrialEnd};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::checkout::CheckoutSession;
use crate::store::Store;

/// `POST /v1/checkout/sessions`.
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "mode",
        "customer",
        "customer_email",
        "client_reference_id",
        "line_items",
        "success_url",
        "cancel_url",
        "metadata",
        "subscription_data",
        "payment_intent_data",
        "allow_promotion_codes",
        "discounts",
        "billing_address_collection",
        "customer_update",
        "customer_creation",
        "locale",
        "payment_method_types",
        "payment_method_collection",
        "automatic_tax",
        "tax_id_collection",
        "expires_at",
        "ui_mode",
        "saved_payment_method_options",
        "consent_collection",
        "submit_type",
        "currency",
    ])?;
    let mode = p.required("mode")?;
    if !matches!(mode.as_str(), "subscription" | "payment") {
        return Err(ApiError::invalid(
            format!(
                "Invalid mode: the emulator supports `subscription` and `payment` (got {mode})."
            ),
            Some("mode"),
        ));
    }
    let success_url = p.required("success_url")?;
    if !(success_url.starts_with("http://") || success_url.starts_with("https://")) {
        return Err(ApiError::invalid(
            "Not a valid URL".into(),
            Some("success_url"),
        ));
    }
    let customer = p.non_empty("customer");
    let customer_email = p.non_empty("customer_email");
    if customer.is_some() && customer_email.is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: customer, customer_email.".into(),
            Some("customer_email"),
        ));
    }
    if let Some(c) = &customer {
        match store.customers.get(c) {
            Some(x) if !x.deleted => {}
            _ => return Err(ApiError::no_such_param("customer", c, "customer")),
        }
    }
    let raw_items = p.array("line_items");
    if raw_items.is_empty() {
        return Err(ApiError::missing_param("line_items"));
    }
    let mut line_items = Vec::new();
    let mut total = 0;
    let mut currency = None;
    for (n, li) in raw_items.iter().enumerate() {
        let param = format!("line_items[{n}][price]");
        let price_id = li
            .non_empty("price")
            .ok_or_else(|| ApiError::missing_param(&param))?;
        let price = store
            .prices
            .get(&price_id)
            .ok_or_else(|| ApiError::no_such_param("price", &price_id, &param))?;
        if !price.active {
            return Err(ApiError::invalid(
                format!("The price `{price_id}` is not active."),
                Some(&param),
            ));
        }
        match (mode.as_str(), price.recurring.is_some()) {
            ("payment", true) => {
                return Err(ApiError::invalid(
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.".into(),
                    Some(&param),
                ))
            }
            ("subscription", false) if n == 0 => {
                return Err(ApiError::invalid(
                    "You must provide at least one recurring price in `subscription` mode when using prices.".into(),
                    Some(&param),
                ))
            }
            _ => {}
        }
        let qty = li.int("quantity")?.unwrap_or(1);
        if qty < 1 {
            return Err(ApiError::invalid(
                "Quantity must be at least 1.".into(),
                Some(&format!("line_items[{n}][quantity]")),
            ));
        }
        total += price.unit_amount * qty;
        currency.get_or_insert_with(|| price.currency.clone());
        line_items.push((price_id, qty));
    }
    let meta = |hash: &str| -> ApiResult<serde_json::Map<String, Value>> {
        Ok(p.sub(hash)
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default())
    };
    let now = store.now();
    let data = p.sub("subscription_data");
    let trial_end = match TrialEnd::parse(
        data.str("trial_end").as_deref(),
        now,
        "subscription_data[trial_end]",
    )? {
        Some(TrialEnd::Now) => {
            return Err(ApiError::invalid(
                "subscription_data[trial_end] must be a timestamp.".into(),
                Some("subscription_data[trial_end]"),
            ))
        }
        Some(TrialEnd::At(t)) if t < now + 2 * 86_400 => {
            // Checkout's own rule: a trial end at least 48 hours after the session is created.
            return Err(ApiError::invalid(
                "subscription_data[trial_end] must be at least 48 hours in the future.".into(),
                Some("subscription_data[trial_end]"),
            ));
        }
        other => other,
    };
    let trial_days = data.int("trial_period_days")?;
    billing::trial_end_from(
        trial_end,
        trial_days,
        now,
        (
            "subscription_data[trial_end]",
            "subscription_data[trial_period_days]",
        ),
    )?;
    let trial_end_behavior =
        super::subscriptions::trial_settings(&data, "subscription_data[trial_settings]")?;
    let has_trial = trial_end.is_some() || trial_days.is_some_and(|d| d > 0);
    let collection = p
        .non_empty("payment_method_collection")
        .unwrap_or_else(|| "always".into());
    if !matches!(collection.as_str(), "always" | "if_required") {
        return Err(ApiError::invalid(
            format!("Invalid payment_method_collection: must be one of always or if_required (got {collection})"),
            Some("payment_method_collection"),
        ));
    }
    if (has_trial || collection != "always") && mode != "subscription" {
        return Err(ApiError::invalid(
            "subscription_data and payment_method_collection=if_required can only be used in `subscription` mode.".into(),
            Some(if has_trial { "subscription_data" } else { "payment_method_collection" }),
        ));
    }
    let allow_promotion_codes = p.bool("allow_promotion_codes")?.unwrap_or(false);
    let discount_reqs = billing::parse_discounts(p, "discounts")?.unwrap_or_default();
    if allow_promotion_codes && !discount_reqs.is_empty() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: allow_promotion_codes, discounts."
                .into(),
            Some("discounts"),
        ));
    }
    if discount_reqs.len() > 1 {
        return Err(ApiError::invalid(
            "Checkout accepts only one discount.".into(),
            Some("discounts"),
        ));
    }
    if discount_reqs
        .iter()
        .any(|r| matches!(r.source, billing::DiscountSource::Existing(_)))
    {
        return Err(ApiError::unknown_param("discounts[0][discount]"));
    }
    let currency = currency.unwrap_or_else(|| "usd".into());
    let products: Vec<String> = line_items
        .iter()
        .filter_map(|(price, _)| store.prices.get(price).map(|p| p.product.clone()))
        .collect();
    let ctx = billing::RedemptionContext {
        customer: customer.as_deref(),
        currency: &currency,
        amount: total,
        products: &products,
    };
    let redemptions = discount_reqs
        .iter()
        .map(|r| billing::check_redemption(store, r, ctx))
        .collect::<ApiResult<Vec<_>>>()?;
    let automatic_tax = super::invoices::automatic_tax(p)?.unwrap_or(false);
    let address_collection = p.non_empty("billing_address_collection");
    if let Some(a) = address_collection
        .as_deref()
        .filter(|a| !matches!(*a, "auto" | "required"))
    {
        return Err(ApiError::invalid(
            format!(
                "Invalid billing_address_collection: must be one of auto or required (got {a})"
            ),
            Some("billing_address_collection"),
        ));
    }
    let update = p.sub("customer_update");
    for key in ["address", "name", "shipping"] {
        if let Some(v) = update
            .non_empty(key)
            .filter(|v| !matches!(v.as_str(), "auto" | "never"))
        {
            return Err(ApiError::invalid(
                format!("Invalid customer_update[{key}]: must be one of auto or never (got {v})"),
                Some(&format!("customer_update[{key}]")),
            ));
        }
    }
    if p.has("customer_update") && customer.is_none() {
        return Err(ApiError::invalid(
            "customer_update can only be used with customer.".into(),
            Some("customer_update"),
        ));
    }
    let update_address = update.non_empty("address");
    let update_name = update.non_empty("name");
    let tax_ids = p.sub("tax_id_collection");
    let tax_id_collection = if p.has("tax_id_collection") {
        tax_ids
            .bool("enabled")?
            .ok_or_else(|| ApiError::missing_param("tax_id_collection[enabled]"))?
    } else {
        false
    };
    if let Some(c) = &customer {
        let has_address = billing::customer_country(store, c).is_some();
        if automatic_tax && !has_address && update_address.as_deref() != Some("auto") {
            return Err(ApiError::invalid(
                "Automatic tax calculation in Checkout requires a valid address on the Customer. Add a valid address to the Customer or set `customer_update[address]` to 'auto' to save the address entered in Checkout to the Customer.".into(),
                Some("customer_update[address]"),
            ));
        }
        if tax_id_collection && update_name.as_deref() != Some("auto") {
            return Err(ApiError::invalid(
                "tax_id_collection requires updating business name on the customer. To enable tax ID collection for an existing customer, please set `customer_update[name]` to `auto`.".into(),
                Some("customer_update[name]"),
            ));
        }
    }
    let id = format!("cs_test_a1{}", store.ids.token(56));
    let session = CheckoutSession {
        id: id.clone(),
        created: now,
        expires_at: now + 24 * 3600,
        mode,
        customer,
        customer_email,
        client_reference_id: p.non_empty("client_reference_id"),
        line_items,
        success_url,
        cancel_url: p.non_empty("cancel_url"),
        metadata: p
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default(),
        subscription_metadata: meta("subscription_data")?,
        payment_intent_metadata: meta("payment_intent_data")?,
        payment_intent_description: p.sub("payment_intent_data").non_empty("description"),
        status: "open".into(),
        payment_status: "unpaid".into(),
        subscription: None,
        invoice: None,
        payment_intent: None,
        amount_total: total,
        currency,
        trial_end: trial_end.and_then(|t| match t {
            TrialEnd::At(t) => Some(t),
            TrialEnd::Now => None,
        }),
        trial_period_days: trial_days.filter(|d| *d > 0 && trial_end.is_none()),
        trial_end_behavior,
        payment_method_collection: collection,
        redemptions,
        allow_promotion_codes,
        discounts: Vec::new(),
        automatic_tax,
        billing_address_collection: address_collection,
        customer_update_address: update_address,
        customer_update_name: update_name,
        tax_id_collection,
        tax_ids: Vec::new(),
    };
    store.checkout_sessions.insert(id.clone(), session);
    render_or_404(store, "checkout.session", &id)
}

/// `GET /v1/checkout/sessions/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .checkout_sessions
        .get(id)
        .map(|s| s.to_json(store))
        .ok_or_else(|| ApiError::no_such("checkout.session", id))
}

/// `GET /v1/checkout/sessions?customer=&subscription=&payment_intent=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let subscription = p.non_empty("subscription");
    let pi = p.non_empty("payment_intent");
    let items: Vec<Value> = store
        .checkout_sessions
        .newest_first()
        .filter(|s| customer.is_none() || s.customer == customer)
        .filter(|s| subscription.is_none() || s.subscription == subscription)
        .filter(|s| pi.is_none() || s.payment_intent == pi)
        .map(|s| s.to_json(store))
        .collect();
    list::page(items, p, "/v1/checkout/sessions")
}

/// `POST /v1/billing_portal/sessions`.
/// `flow_data` of a portal session as basil renders its `flow`: the emulator opens the
/// `payment_method_update` flow; the subscription flows need objects it does not model.
fn portal_flow(p: &Params) -> ApiResult<Value> {
    if !p.has("flow_data") {
        return Ok(Value::Null);
    }
    let data = p.sub("flow_data");
    let kind = data
        .non_empty("type")
        .ok_or_else(|| ApiError::missing_param("flow_data[type]"))?;
    match kind.as_str() {
        "payment_method_update" => Ok(json!({
            "type": kind,
            "after_completion": {"type": "portal_homepage", "hosted_confirmation": null, "redirect": null},
            "subscription_cancel": null,
            "subscription_update": null,
            "subscription_update_confirm": null
        })),
        "subscription_cancel" | "subscription_update" | "subscription_update_confirm" => {
            Err(ApiError::invalid(
                format!("The emulator does not model the {kind} portal flow."),
                Some("flow_data[type]"),
            ))
        }
        other => Err(ApiError::invalid(
            format!("Invalid flow_data[type]: must be one of payment_method_update, subscription_cancel, subscription_update, or subscription_update_confirm (got {other})"),
            Some("flow_data[type]"),
        )),
    }
}

pub(crate) fn create_portal(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "customer",
        "return_url",
        "configuration",
        "flow_data",
        "locale",
        "on_behalf_of",
    ])?;
    let customer = p.required("customer")?;
    match store.customers.get(&customer) {
        Some(c) if !c.deleted => {}
        _ => return Err(ApiError::no_such_param("customer", &customer, "customer")),
    }
    let configuration = super::portal::session_configuration(store, p.non_empty("configuration"))?;
    let flow = portal_flow(p)?;
    let id = store.new_id("bps_");
    let token = store.ids.token(32);
    store.portal_sessions.insert(
        format!("test_{token}"),
        crate::objects::checkout::PortalSession {
            id: id.clone(),
            configuration: configuration.clone(),
            customer: customer.clone(),
            return_url: p.non_empty("return_url"),
        },
    );
    Ok(json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": configuration,
        "created": store.now(),
        "customer": customer,
        "flow": flow,
        "livemode": false,
        "locale": p.non_empty("locale"),
        "on_behalf_of": null,
        "return_url": p.non_empty("return_url"),
        "url": format!("{}/p/session/test_{token}", store.public_url)
    }))
}
