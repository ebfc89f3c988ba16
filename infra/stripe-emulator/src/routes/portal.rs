//! `/v1/billing_portal/configurations`, and the portal's plan switch as the test hook
//! `POST /_emulator/billing_portal/sessions/{id}/subscription_update` performs it.

use serde_json::{json, Map, Value};

use super::render_or_404;
use crate::billing::{self, ItemChange, PaymentBehavior, ProrationBehavior, UpdateRequest};
use crate::calendar::add_interval;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::checkout::PortalConfiguration;
use crate::schedules;
use crate::store::Store;

const CONFIGURATION_PARAMS: &[&str] = &[
    "business_profile",
    "default_return_url",
    "features",
    "login_page",
    "metadata",
];

/// basil's `features` of a configuration that enables nothing.
fn default_features() -> Value {
    json!({
        "customer_update": {"allowed_updates": [], "enabled": false},
        "invoice_history": {"enabled": false},
        "payment_method_update": {"enabled": false},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": false, "options": []},
            "enabled": false,
            "mode": "at_period_end",
            "proration_behavior": "none"
        },
        "subscription_update": {
            "default_allowed_updates": [],
            "enabled": false,
            "products": [],
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []}
        }
    })
}

fn one_of(p: &Params, key: &str, allowed: &[&str], param: &str) -> ApiResult<Option<Value>> {
    match p.non_empty(key) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(Value::String(v))),
        Some(v) => Err(ApiError::invalid(
            format!("Invalid {param}: must be one of {}", allowed.join(", ")),
            Some(&format!("{param}={v}")),
        )),
    }
}

fn set_bool(target: &mut Value, p: &Params, key: &str) -> ApiResult<()> {
    if let Some(b) = p.bool(key)? {
        target[key] = Value::Bool(b);
    }
    Ok(())
}

/// Applies `features[...]` to `features`, validating each member as Stripe does.
fn apply_features(store: &Store, features: &mut Value, p: &Params) -> ApiResult<()> {
    let f = p.sub("features");
    f.allow(&[
        "customer_update",
        "invoice_history",
        "payment_method_update",
        "subscription_cancel",
        "subscription_update",
    ])?;
    for simple in ["invoice_history", "payment_method_update"] {
        if f.has(simple) {
            let s = f.sub(simple);
            s.allow(&["enabled"])?;
            set_bool(&mut features[simple], &s, "enabled")?;
        }
    }
    if f.has("customer_update") {
        let s = f.sub("customer_update");
        s.allow(&["allowed_updates", "enabled"])?;
        set_bool(&mut features["customer_update"], &s, "enabled")?;
        if s.has("allowed_updates") {
            features["customer_update"]["allowed_updates"] = json!(s.list("allowed_updates"));
        }
    }
    if f.has("subscription_cancel") {
        let s = f.sub("subscription_cancel");
        s.allow(&[
            "cancellation_reason",
            "enabled",
            "mode",
            "proration_behavior",
        ])?;
        let target = &mut features["subscription_cancel"];
        set_bool(target, &s, "enabled")?;
        let param = "features[subscription_cancel][mode]";
        if let Some(mode) = one_of(&s, "mode", &["at_period_end", "immediately"], param)? {
            target["mode"] = mode;
        }
        let param = "features[subscription_cancel][proration_behavior]";
        let behaviours = ["always_invoice", "create_prorations", "none"];
        if let Some(pb) = one_of(&s, "proration_behavior", &behaviours, param)? {
            target["proration_behavior"] = pb;
        }
        if s.has("cancellation_reason") {
            let r = s.sub("cancellation_reason");
            r.allow(&["enabled", "options"])?;
            set_bool(&mut target["cancellation_reason"], &r, "enabled")?;
            if r.has("options") {
                target["cancellation_reason"]["options"] = json!(r.list("options"));
            }
        }
    }
    if f.has("subscription_update") {
        apply_subscription_update(store, &mut features["subscription_update"], &f)?;
    }
    Ok(())
}

fn apply_subscription_update(store: &Store, target: &mut Value, f: &Params) -> ApiResult<()> {
    let s = f.sub("subscription_update");
    s.allow(&[
        "default_allowed_updates",
        "enabled",
        "products",
        "proration_behavior",
        "schedule_at_period_end",
    ])?;
    set_bool(target, &s, "enabled")?;
    if s.has("default_allowed_updates") {
        target["default_allowed_updates"] = json!(s.list("default_allowed_updates"));
    }
    let param = "features[subscription_update][proration_behavior]";
    let behaviours = ["always_invoice", "create_prorations", "none"];
    if let Some(pb) = one_of(&s, "proration_behavior", &behaviours, param)? {
        target["proration_behavior"] = pb;
    }
    if s.has("products") {
        let mut products = Vec::new();
        for (n, item) in s.array("products").iter().enumerate() {
            let param = format!("features[subscription_update][products][{n}]");
            let product = item
                .required("product")
                .map_err(|_| ApiError::missing_param(&format!("{param}[product]")))?;
            if store.products.get(&product).is_none() {
                return Err(ApiError::no_such_param(
                    "product",
                    &product,
                    &format!("{param}[product]"),
                ));
            }
            let prices = item.list("prices");
            if prices.is_empty() {
                return Err(ApiError::missing_param(&format!("{param}[prices]")));
            }
            for price in &prices {
                match store.prices.get(price) {
                    Some(p) if p.product == product && p.recurring.is_some() => {}
                    Some(_) => {
                        return Err(ApiError::invalid(
                            format!("The price {price} must be a recurring price of {product}."),
                            Some(&format!("{param}[prices]")),
                        ))
                    }
                    None => {
                        return Err(ApiError::no_such_param(
                            "price",
                            price,
                            &format!("{param}[prices]"),
                        ))
                    }
                }
            }
            products.push(json!({"prices": prices, "product": product}));
        }
        if products.len() > 10 {
            return Err(ApiError::invalid(
                "A portal configuration lists at most 10 products.".into(),
                Some("features[subscription_update][products]"),
            ));
        }
        target["products"] = Value::Array(products);
    }
    if s.has("schedule_at_period_end") {
        let sched = s.sub("schedule_at_period_end");
        sched.allow(&["conditions"])?;
        let mut conditions = Vec::new();
        for (n, c) in sched.array("conditions").iter().enumerate() {
            let param = format!(
                "features[subscription_update][schedule_at_period_end][conditions][{n}][type]"
            );
            let kinds = ["decreasing_item_amount", "shortening_interval"];
            let kind = one_of(c, "type", &kinds, &param)?
                .ok_or_else(|| ApiError::missing_param(&param))?;
            conditions.push(json!({"type": kind}));
        }
        target["schedule_at_period_end"]["conditions"] = Value::Array(conditions);
    }
    if target["enabled"] == true && target["products"].as_array().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid(
            "Plan switching needs at least one product in features[subscription_update][products]."
                .into(),
            Some("features[subscription_update][products]"),
        ));
    }
    Ok(())
}

fn apply_common(store: &Store, config: &mut PortalConfiguration, p: &Params) -> ApiResult<()> {
    apply_features(store, &mut config.features, p)?;
    if let Some(url) = p.str("default_return_url") {
        config.default_return_url = Some(url).filter(|u| !u.is_empty());
    }
    if p.has("business_profile") {
        let b = p.sub("business_profile");
        b.allow(&["headline", "privacy_policy_url", "terms_of_service_url"])?;
        for key in ["headline", "privacy_policy_url", "terms_of_service_url"] {
            if let Some(v) = b.str(key) {
                config.business_profile[key] = json!(Some(v).filter(|v| !v.is_empty()));
            }
        }
    }
    if let Some(m) = p.metadata("metadata")? {
        m.apply(&mut config.metadata);
    }
    Ok(())
}

fn new_configuration(store: &mut Store, is_default: bool) -> PortalConfiguration {
    let now = store.now();
    PortalConfiguration {
        id: store.new_id("bpc_"),
        created: now,
        updated: now,
        active: true,
        is_default,
        default_return_url: None,
        business_profile: json!({"headline": null, "privacy_policy_url": null, "terms_of_service_url": null}),
        features: default_features(),
        metadata: Map::new(),
    }
}

/// `POST /v1/billing_portal/configurations`.
pub(crate) fn create_configuration(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(CONFIGURATION_PARAMS)?;
    let mut config = new_configuration(store, false);
    apply_common(store, &mut config, p)?;
    let json = config.to_json();
    store
        .portal_configurations
        .insert(config.id.clone(), config);
    Ok(json)
}

/// `POST /v1/billing_portal/configurations/{id}`.
pub(crate) fn update_configuration(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    let mut allowed = CONFIGURATION_PARAMS.to_vec();
    allowed.push("active");
    p.allow(&allowed)?;
    let mut config = store
        .portal_configurations
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("billing_portal.configuration", id))?;
    apply_common(store, &mut config, p)?;
    if let Some(active) = p.bool("active")? {
        if !active && config.is_default {
            return Err(ApiError::invalid(
                "The default configuration cannot be deactivated.".into(),
                Some("active"),
            ));
        }
        config.active = active;
    }
    config.updated = store.now();
    let json = config.to_json();
    store.portal_configurations.insert(id.to_string(), config);
    Ok(json)
}

/// `GET /v1/billing_portal/configurations/{id}`.
pub(crate) fn retrieve_configuration(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .portal_configurations
        .get(id)
        .map(PortalConfiguration::to_json)
        .ok_or_else(|| ApiError::no_such("billing_portal.configuration", id))
}

/// `GET /v1/billing_portal/configurations?active=&is_default=`, newest first.
pub(crate) fn list_configurations(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let active = p.bool("active")?;
    let is_default = p.bool("is_default")?;
    let items: Vec<Value> = store
        .portal_configurations
        .newest_first()
        .filter(|c| active.is_none_or(|a| c.active == a))
        .filter(|c| is_default.is_none_or(|d| c.is_default == d))
        .map(PortalConfiguration::to_json)
        .collect();
    list::page(items, p, "/v1/billing_portal/configurations")
}

/// The configuration a portal session opens: the one named (it must be active), else the
/// account's default, made on first use as the Dashboard's "save" would (plan switching off).
pub(crate) fn session_configuration(store: &mut Store, named: Option<String>) -> ApiResult<String> {
    if let Some(id) = named {
        return match store.portal_configurations.get(&id) {
            Some(c) if c.active => Ok(id),
            Some(_) => Err(ApiError::invalid(
                format!("The configuration {id} is not active."),
                Some("configuration"),
            )),
            None => Err(ApiError::no_such_param(
                "billing_portal.configuration",
                &id,
                "configuration",
            )),
        };
    }
    if let Some(default) = store
        .portal_configurations
        .newest_first()
        .find(|c| c.is_default)
    {
        return Ok(default.id.clone());
    }
    let mut config = new_configuration(store, true);
    config.features["invoice_history"]["enabled"] = json!(true);
    config.features["payment_method_update"]["enabled"] = json!(true);
    let id = config.id.clone();
    store.portal_configurations.insert(id.clone(), config);
    Ok(id)
}

/// Length of one billing period of a price, in seconds from `at`.
fn period_length(store: &Store, price: &str, at: i64) -> i64 {
    store
        .prices
        .get(price)
        .and_then(|p| p.recurring)
        .map_or(0, |r| add_interval(at, r.interval, r.interval_count) - at)
}

/// Whether any of the configuration's `schedule_at_period_end` conditions holds for a switch.
fn waits_for_period_end(
    store: &Store,
    conditions: &[Value],
    from: &str,
    to: &str,
    now: i64,
) -> bool {
    let amount = |price: &str| store.prices.get(price).map_or(0, |p| p.unit_amount);
    conditions.iter().any(|c| match c["type"].as_str() {
        Some("decreasing_item_amount") => amount(to) < amount(from),
        Some("shortening_interval") => {
            period_length(store, to, now) < period_length(store, from, now)
        }
        _ => false,
    })
}

/// `POST /_emulator/billing_portal/sessions/{id}/subscription_update` (`price`, optional
/// `subscription`; `{id}` is the session's id or the `test_...` token ending its `url`): the
/// customer switches plan in the portal. Refused unless the session's
/// configuration enables switching to that price; a switch meeting a `schedule_at_period_end`
/// condition becomes a subscription schedule whose next phase starts at the period end;
/// any other is applied now with the configured proration.
pub(crate) fn switch_plan(store: &mut Store, session_id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["price", "subscription"])?;
    let session = store
        .portal_sessions
        .get(session_id)
        .or_else(|| {
            store
                .portal_sessions
                .newest_first()
                .find(|s| s.id == session_id)
        })
        .cloned()
        .ok_or_else(|| ApiError::no_such("billing_portal.session", session_id))?;
    let price = p.required("price")?;
    let update = store
        .portal_configurations
        .get(&session.configuration)
        .map(|c| c.features["subscription_update"].clone())
        .unwrap_or(Value::Null);
    if update["enabled"] != true {
        return Err(ApiError::invalid(
            "This portal configuration does not allow plan changes.".into(),
            None,
        ));
    }
    let offered = update["products"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|product| product["prices"].as_array())
        .flatten()
        .any(|id| id == price.as_str());
    if !offered {
        return Err(ApiError::invalid(
            format!("The price {price} is not offered by this portal configuration."),
            Some("price"),
        ));
    }
    let wanted = p.non_empty("subscription");
    let sub = store
        .subscriptions
        .newest_first()
        .filter(|s| s.customer == session.customer)
        .filter(|s| matches!(s.status.as_str(), "active" | "trialing" | "past_due"))
        .find(|s| wanted.as_ref().is_none_or(|w| &s.id == w))
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                "The session's customer has no subscription the portal can update.".into(),
                Some("subscription"),
            )
        })?;
    let [item] = sub.items.as_slice() else {
        return Err(ApiError::invalid(
            "The portal only switches subscriptions with one item.".into(),
            Some("subscription"),
        ));
    };
    if sub.schedule.is_some() {
        return Err(ApiError::invalid(
            "The subscription has a scheduled change and cannot be updated in the portal.".into(),
            Some("subscription"),
        ));
    }
    if item.price == price {
        return Err(ApiError::invalid(
            "The subscription is already on this price.".into(),
            Some("price"),
        ));
    }
    let now = store.now();
    let conditions = update["schedule_at_period_end"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if waits_for_period_end(store, &conditions, &item.price, &price, now) {
        let schedule = schedules::create_from_subscription(store, &sub.id, Map::new())?;
        let phases = json!({"phases": [
            {
                "start_date": sub.current_period_start,
                "end_date": sub.current_period_end,
                "items": [{"price": item.price, "quantity": item.quantity}]
            },
            {
                "start_date": sub.current_period_end,
                "items": [{"price": price, "quantity": item.quantity}],
                "iterations": 1,
                "proration_behavior": "none"
            }
        ]});
        schedules::update(store, &schedule, &Params::new(phases))?;
        return render_or_404(store, "subscription", &sub.id);
    }
    let proration = update["proration_behavior"].as_str().unwrap_or("none");
    let req = UpdateRequest {
        items: vec![ItemChange {
            id: Some(item.id.clone()),
            price: Some(price),
            quantity: None,
            deleted: false,
        }],
        proration_behavior: ProrationBehavior::parse(Some(proration), "proration_behavior")?,
        proration_date: None,
        payment_behavior: PaymentBehavior::AllowIncomplete,
        reset_anchor: false,
        cancel_at_period_end: None,
        metadata: None,
        default_payment_method: None,
        trial_end_behavior: None,
        discounts: None,
        automatic_tax: None,
    };
    billing::update_subscription(store, &sub.id, &req)?;
    render_or_404(store, "subscription", &sub.id)
}
