//! `/v1/subscriptions`.

use serde_json::Value;

use super::render_or_404;
use crate::billing::{
    self, ItemChange, NewSubscription, PaymentBehavior, ProrationBehavior, TrialEnd, UpdateRequest,
};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::payments;
use crate::store::Store;

/// Parses `items[n][id|price|quantity|deleted]`.
pub(crate) fn item_changes(p: &Params, key: &str) -> ApiResult<Vec<ItemChange>> {
    p.array(key)
        .iter()
        .enumerate()
        .map(|(n, it)| {
            let change = ItemChange {
                id: it.non_empty("id"),
                price: it.non_empty("price").or_else(|| it.non_empty("plan")),
                quantity: it.int("quantity")?,
                deleted: it.bool("deleted")?.unwrap_or(false),
            };
            if change.id.is_none() && change.price.is_none() {
                return Err(ApiError::missing_param(&format!("{key}[{n}][price]")));
            }
            Ok(change)
        })
        .collect()
}

/// `trial_settings[end_behavior][missing_payment_method]` of `p`, checked; `name` is how
/// errors call `trial_settings` (`subscription_data[trial_settings]` in Checkout).
pub(crate) fn trial_settings(p: &Params, name: &str) -> ApiResult<Option<String>> {
    let settings = p.sub("trial_settings");
    if p.has("trial_settings") && !settings.has("end_behavior") {
        return Err(ApiError::missing_param(&format!("{name}[end_behavior]")));
    }
    let end = settings.sub("end_behavior");
    let param = format!("{name}[end_behavior][missing_payment_method]");
    if settings.has("end_behavior") && !end.has("missing_payment_method") {
        return Err(ApiError::missing_param(&param));
    }
    billing::trial_end_behavior(end.non_empty("missing_payment_method"), &param)
}

/// `POST /v1/subscriptions` (customer, items, default_payment_method, metadata, payment_behavior,
/// trial_end or trial_period_days, trial_settings).
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "customer",
        "items",
        "default_payment_method",
        "metadata",
        "payment_behavior",
        "proration_behavior",
        "collection_method",
        "off_session",
        "payment_settings",
        "description",
        "trial_end",
        "trial_period_days",
        "trial_from_plan",
        "trial_settings",
        "discounts",
        "automatic_tax",
    ])?;
    let customer = p.required("customer")?;
    match store.customers.get(&customer) {
        Some(c) if !c.deleted => {}
        _ => return Err(ApiError::no_such_param("customer", &customer, "customer")),
    }
    let items: Vec<(String, i64)> = item_changes(p, "items")?
        .into_iter()
        .filter_map(|c| c.price.map(|price| (price, c.quantity.unwrap_or(1))))
        .collect();
    let pm = match p.non_empty("default_payment_method") {
        Some(pm) => {
            let owner = store.payment_methods.get(&pm).map(|x| x.customer.clone());
            match owner {
                Some(Some(c)) if c == customer => Some(pm),
                Some(_) => {
                    return Err(ApiError::invalid(
                        format!("The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."),
                        Some("default_payment_method"),
                    ))
                }
                None => {
                    payments::behaviour_of(store, &pm).ok_or_else(|| {
                        ApiError::no_such_param("PaymentMethod", &pm, "default_payment_method")
                    })?;
                    Some(payments::attach(store, &pm, &customer, "default_payment_method")?)
                }
            }
        }
        None => None,
    };
    let behavior = PaymentBehavior::parse(p.str("payment_behavior").as_deref())?;
    let metadata = p
        .metadata("metadata")?
        .map(|m| m.into_map())
        .unwrap_or_default();
    let now = store.now();
    let trial_end = billing::trial_end_from(
        TrialEnd::parse(p.str("trial_end").as_deref(), now, "trial_end")?,
        p.int("trial_period_days")?,
        now,
        ("trial_end", "trial_period_days"),
    )?;
    // Stripe's legacy plans could carry trial days; prices here never do, so
    // `trial_from_plan=true` adds no trial.
    p.bool("trial_from_plan")?;
    let automatic_tax = super::invoices::automatic_tax(p)?.unwrap_or(false);
    if automatic_tax {
        billing::require_tax_location(store, &customer, "automatic_tax[enabled]")?;
    }
    let redemptions = match billing::parse_discounts(p, "discounts")? {
        Some(reqs) => {
            let (currency, _) = billing::validate_items(store, &items, "items")?;
            let rs =
                billing::check_subscription_discounts(store, &customer, &currency, &items, &reqs)?;
            if reqs
                .iter()
                .any(|r| matches!(r.source, billing::DiscountSource::Existing(_)))
            {
                return Err(ApiError::invalid(
                    "A new subscription can only redeem coupons and promotion codes.".into(),
                    Some("discounts"),
                ));
            }
            rs
        }
        None => Vec::new(),
    };
    let new = NewSubscription {
        pm,
        metadata,
        behavior,
        trial_end,
        trial_end_behavior: trial_settings(p, "trial_settings")?,
        redemptions,
        automatic_tax,
        ..NewSubscription::default()
    };
    let id = billing::create_subscription(store, &customer, &items, new)?;
    render_or_404(store, "subscription", &id)
}

/// `GET /v1/subscriptions/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "subscription", id)
}

/// `GET /v1/subscriptions?customer=&price=&status=` (default: all but canceled).
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let price = p.non_empty("price");
    let status = p.non_empty("status");
    if let Some(s) = &status {
        let known = [
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ];
        if !known.contains(&s.as_str()) {
            return Err(ApiError::invalid(
                format!("Invalid status: {s}"),
                Some("status"),
            ));
        }
    }
    let items: Vec<Value> = store
        .subscriptions
        .newest_first()
        .filter(|s| customer.as_ref().is_none_or(|c| &s.customer == c))
        .filter(|s| {
            price
                .as_ref()
                .is_none_or(|pr| s.items.iter().any(|i| &i.price == pr))
        })
        .filter(|s| match status.as_deref() {
            None => s.status != "canceled" && s.status != "incomplete_expired",
            Some("all") => true,
            Some("ended") => s.status == "canceled",
            Some(st) => s.status == st,
        })
        .map(|s| s.to_json(store))
        .collect();
    list::page(items, p, "/v1/subscriptions")
}

const PENDING_UPDATE_PARAMS: &[&str] = &[
    "expand",
    "payment_behavior",
    "proration_behavior",
    "proration_date",
    "billing_cycle_anchor",
    "items",
    "trial_end",
    "trial_from_plan",
    "add_invoice_items",
];

/// `POST /v1/subscriptions/{id}`.
pub(crate) fn update(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "items",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "cancel_at_period_end",
        "metadata",
        "default_payment_method",
        "billing_cycle_anchor",
        "off_session",
        "description",
        "cancellation_details",
        "collection_method",
        "payment_settings",
        "trial_end",
        "trial_from_plan",
        "trial_settings",
        "discounts",
        "automatic_tax",
    ])?;
    let payment_behavior = PaymentBehavior::parse(p.str("payment_behavior").as_deref())?;
    if payment_behavior == PaymentBehavior::PendingIfIncomplete {
        let mut sent: Vec<String> = PENDING_UPDATE_PARAMS
            .iter()
            .map(|s| s.to_string())
            .collect();
        sent.push("off_session".into());
        let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
        p.allow(&refs).map_err(|e| {
            ApiError::invalid(
                format!(
                    "When `payment_behavior` is `pending_if_incomplete`, you can only pass the parameters supported by pending updates ({} is not).",
                    e.param.clone().unwrap_or_default()
                ),
                e.param.as_deref(),
            )
        })?;
    }
    let reset_anchor = match p.non_empty("billing_cycle_anchor").as_deref() {
        None | Some("unchanged") => false,
        Some("now") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Invalid billing_cycle_anchor: {other}"),
                Some("billing_cycle_anchor"),
            ))
        }
    };
    let req = UpdateRequest {
        items: item_changes(p, "items")?,
        proration_behavior: ProrationBehavior::parse(
            p.str("proration_behavior").as_deref(),
            "proration_behavior",
        )?,
        proration_date: p.int("proration_date")?,
        payment_behavior,
        reset_anchor,
        cancel_at_period_end: p.bool("cancel_at_period_end")?,
        metadata: p.metadata("metadata")?,
        default_payment_method: p
            .str("default_payment_method")
            .map(|s| Some(s).filter(|s| !s.is_empty())),
        trial_end_behavior: None,
        discounts: billing::parse_discounts(p, "discounts")?,
        automatic_tax: super::invoices::automatic_tax(p)?,
    };
    let trial_end = TrialEnd::parse(p.str("trial_end").as_deref(), store.now(), "trial_end")?;
    p.bool("trial_from_plan")?;
    let end_behavior = trial_settings(p, "trial_settings")?;
    if trial_end.is_some() || end_behavior.is_some() {
        match store.subscriptions.get(id) {
            None => return Err(ApiError::no_such("subscription", id)),
            Some(s) if s.status == "canceled" => return Err(ApiError::invalid(
                "A canceled subscription can only update its cancellation_details and metadata."
                    .into(),
                None,
            )),
            Some(_) => {}
        }
    }
    let req = UpdateRequest {
        trial_end_behavior: end_behavior,
        ..req
    };
    billing::update_subscription(store, id, &req)?;
    if let Some(t) = trial_end {
        billing::change_trial_end(store, id, t)?;
    }
    render_or_404(store, "subscription", id)
}

/// `POST /v1/subscriptions/{id}/resume` (`billing_cycle_anchor` now|unchanged,
/// `proration_behavior`).
pub(crate) fn resume(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "billing_cycle_anchor",
        "proration_behavior",
        "proration_date",
    ])?;
    let reset_anchor = match p.non_empty("billing_cycle_anchor").as_deref() {
        None | Some("now") => true,
        Some("unchanged") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                format!(
                    "Invalid billing_cycle_anchor: must be one of now or unchanged (got {other})"
                ),
                Some("billing_cycle_anchor"),
            ))
        }
    };
    if p.has("proration_date") {
        return Err(ApiError::invalid(
            "The emulator prorates a resumption at the time of the request; `proration_date` is not supported.".into(),
            Some("proration_date"),
        ));
    }
    let behavior =
        ProrationBehavior::parse(p.str("proration_behavior").as_deref(), "proration_behavior")?;
    billing::resume_subscription(store, id, reset_anchor, behavior)?;
    render_or_404(store, "subscription", id)
}

/// `DELETE /v1/subscriptions/{id}` (optional `prorate`, `invoice_now`).
pub(crate) fn cancel(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["prorate", "invoice_now", "cancellation_details"])?;
    let prorate = p.bool("prorate")?.unwrap_or(false);
    let invoice_now = p.bool("invoice_now")?.unwrap_or(false);
    billing::cancel_now(store, id, prorate, invoice_now, "cancellation_requested")?;
    render_or_404(store, "subscription", id)
}
