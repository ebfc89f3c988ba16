//! `/v1/coupons` and `/v1/promotion_codes`.

use serde_json::Value;

use super::render_or_404;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::discount::{Coupon, PromotionCode};
use crate::store::Store;

/// `POST /v1/coupons`.
pub(crate) fn create_coupon(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "id",
        "name",
        "percent_off",
        "amount_off",
        "currency",
        "currency_options",
        "duration",
        "duration_in_months",
        "applies_to",
        "max_redemptions",
        "redeem_by",
        "metadata",
    ])?;
    let now = store.now();
    let percent_off = p.float("percent_off")?;
    let amount_off = p.int("amount_off")?;
    let currency = p.non_empty("currency").map(|c| c.to_ascii_lowercase());
    match (percent_off, amount_off) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "You may only specify one of these parameters: amount_off, percent_off.".into(),
                Some("amount_off"),
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "You must specify either `percent_off` or `amount_off`.".into(),
                Some("percent_off"),
            ))
        }
        (Some(pct), None) if !(pct > 0.0 && pct <= 100.0) => {
            return Err(ApiError::invalid(
                "Invalid percent_off: must be greater than 0 and at most 100.".into(),
                Some("percent_off"),
            ))
        }
        (None, Some(a)) if a <= 0 => {
            return Err(ApiError::invalid(
                "Invalid amount_off: must be a positive integer.".into(),
                Some("amount_off"),
            ))
        }
        (None, Some(_)) if currency.is_none() => {
            return Err(ApiError::invalid(
                "You must specify `currency` with `amount_off`.".into(),
                Some("currency"),
            ))
        }
        _ => {}
    }
    let duration = p.non_empty("duration").unwrap_or_else(|| "once".into());
    if !matches!(duration.as_str(), "once" | "repeating" | "forever") {
        return Err(ApiError::invalid(
            format!(
                "Invalid duration: must be one of forever, once, or repeating (got {duration})"
            ),
            Some("duration"),
        ));
    }
    let months = p.int("duration_in_months")?;
    match (duration.as_str(), months) {
        ("repeating", None) => return Err(ApiError::missing_param("duration_in_months")),
        ("repeating", Some(m)) if m < 1 => {
            return Err(ApiError::invalid(
                "duration_in_months must be a positive integer.".into(),
                Some("duration_in_months"),
            ))
        }
        ("once" | "forever", Some(_)) => {
            return Err(ApiError::invalid(
                "duration_in_months is only valid with duration=repeating.".into(),
                Some("duration_in_months"),
            ))
        }
        _ => {}
    }
    let products = if p.has("applies_to") {
        let ids = p.sub("applies_to").list("products");
        for id in &ids {
            if store.products.get(id).is_none() {
                return Err(ApiError::no_such_param(
                    "product",
                    id,
                    "applies_to[products]",
                ));
            }
        }
        Some(ids)
    } else {
        None
    };
    let max_redemptions = p.int("max_redemptions")?;
    if max_redemptions.is_some_and(|m| m < 1) {
        return Err(ApiError::invalid(
            "max_redemptions must be a positive integer.".into(),
            Some("max_redemptions"),
        ));
    }
    let redeem_by = p.int("redeem_by")?;
    if redeem_by.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.".into(),
            Some("redeem_by"),
        ));
    }
    let id = match p.non_empty("id") {
        Some(id) if store.coupons.get(&id).is_some() => {
            return Err(ApiError::invalid_code(
                "resource_already_exists",
                "Coupon already exists.".into(),
                Some("id"),
            ))
        }
        Some(id) => id,
        None => store.ids.token(8)[..8].to_string(),
    };
    let coupon = Coupon {
        id: id.clone(),
        created: now,
        name: p.non_empty("name"),
        percent_off,
        amount_off,
        currency: currency.filter(|_| amount_off.is_some()),
        duration,
        duration_in_months: months,
        products,
        max_redemptions,
        redeem_by,
        times_redeemed: 0,
        metadata: p
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default(),
    };
    let json = coupon.to_json(now);
    store.coupons.insert(id, coupon);
    store.emit("coupon.created", json.clone(), None);
    Ok(json)
}

/// `GET /v1/coupons/{id}`.
pub(crate) fn retrieve_coupon(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .coupons
        .get(id)
        .map(|c| c.to_json(store.now()))
        .ok_or_else(|| ApiError::no_such("coupon", id))
}

/// `GET /v1/coupons`.
pub(crate) fn list_coupons(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let now = store.now();
    let items: Vec<Value> = store
        .coupons
        .newest_first()
        .map(|c| c.to_json(now))
        .collect();
    list::page(items, p, "/v1/coupons")
}

fn active_code_taken(store: &Store, code: &str) -> bool {
    store
        .promotion_codes
        .oldest_first()
        .any(|pc| pc.active && pc.code.eq_ignore_ascii_case(code))
}

/// `POST /v1/promotion_codes` (basil: `coupon`, `code`).
pub(crate) fn create_promotion_code(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "coupon",
        "code",
        "active",
        "customer",
        "expires_at",
        "max_redemptions",
        "metadata",
        "restrictions",
    ])?;
    let now = store.now();
    let coupon_id = p.required("coupon")?;
    let coupon = store
        .coupons
        .get(&coupon_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("coupon", &coupon_id, "coupon"))?;
    let active = p.bool("active")?.unwrap_or(true);
    let code = match p.non_empty("code") {
        Some(code) => {
            let ok = code.len() <= 500
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(ApiError::invalid(
                    "Invalid code: use up to 500 letters, digits, hyphens and underscores.".into(),
                    Some("code"),
                ));
            }
            code
        }
        None => store.ids.token(8)[..8].to_ascii_uppercase(),
    };
    if active && active_code_taken(store, &code) {
        return Err(ApiError::invalid_code(
            "resource_already_exists",
            format!("An active promotion code with `code: {code}` already exists."),
            Some("code"),
        ));
    }
    let customer = p.non_empty("customer");
    if let Some(c) = &customer {
        if store.customers.get(c).is_none_or(|x| x.deleted) {
            return Err(ApiError::no_such_param("customer", c, "customer"));
        }
    }
    let expires_at = p.int("expires_at")?;
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.".into(),
            Some("expires_at"),
        ));
    }
    if let (Some(e), Some(r)) = (expires_at, coupon.redeem_by) {
        if e > r {
            return Err(ApiError::invalid(
                "The promotion code's expires_at cannot be later than its coupon's redeem_by."
                    .into(),
                Some("expires_at"),
            ));
        }
    }
    let max_redemptions = p.int("max_redemptions")?;
    if max_redemptions.is_some_and(|m| m < 1) {
        return Err(ApiError::invalid(
            "max_redemptions must be a positive integer.".into(),
            Some("max_redemptions"),
        ));
    }
    let r = p.sub("restrictions");
    let minimum_amount = r.int("minimum_amount")?;
    let minimum_currency = r
        .non_empty("minimum_amount_currency")
        .map(|c| c.to_ascii_lowercase());
    if minimum_amount.is_some() != minimum_currency.is_some() {
        return Err(ApiError::invalid(
            "restrictions[minimum_amount] and restrictions[minimum_amount_currency] go together."
                .into(),
            Some("restrictions[minimum_amount_currency]"),
        ));
    }
    let id = store.new_id("promo_");
    let promo = PromotionCode {
        id: id.clone(),
        created: now,
        code,
        coupon: coupon_id,
        active,
        customer,
        expires_at,
        max_redemptions,
        times_redeemed: 0,
        first_time_transaction: r.bool("first_time_transaction")?.unwrap_or(false),
        minimum_amount,
        minimum_amount_currency: minimum_currency,
        metadata: p
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default(),
    };
    store.promotion_codes.insert(id.clone(), promo);
    let json = render_or_404(store, "promotion code", &id)?;
    store.emit("promotion_code.created", json.clone(), None);
    Ok(json)
}

/// `POST /v1/promotion_codes/{id}` (`active`, `metadata`).
pub(crate) fn update_promotion_code(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["active", "metadata", "restrictions"])?;
    let before = render_or_404(store, "promotion code", id)?;
    let active = p.bool("active")?;
    let code = store
        .promotion_codes
        .get(id)
        .map(|pc| (pc.code.clone(), pc.active));
    if let (Some(true), Some((code, false))) = (active, &code) {
        if active_code_taken(store, code) {
            return Err(ApiError::invalid_code(
                "resource_already_exists",
                format!("An active promotion code with `code: {code}` already exists."),
                Some("active"),
            ));
        }
    }
    let metadata = p.metadata("metadata")?;
    if let Some(pc) = store.promotion_codes.get_mut(id) {
        if let Some(a) = active {
            pc.active = a;
        }
        if let Some(m) = metadata {
            m.apply(&mut pc.metadata);
        }
    }
    let after = render_or_404(store, "promotion code", id)?;
    store.emit_updated("promotion_code.updated", &before, after.clone());
    Ok(after)
}

/// `GET /v1/promotion_codes/{id}`.
pub(crate) fn retrieve_promotion_code(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "promotion code", id)
}

/// `GET /v1/promotion_codes?code=&active=&coupon=&customer=` (`code` case-insensitive).
pub(crate) fn list_promotion_codes(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let code = p.non_empty("code");
    let active = p.bool("active")?;
    let coupon = p.non_empty("coupon");
    let customer = p.non_empty("customer");
    let items: Vec<Value> = store
        .promotion_codes
        .newest_first()
        .filter(|pc| {
            code.as_ref()
                .is_none_or(|c| pc.code.eq_ignore_ascii_case(c))
        })
        .filter(|pc| active.is_none_or(|a| pc.active == a))
        .filter(|pc| coupon.as_ref().is_none_or(|c| &pc.coupon == c))
        .filter(|pc| customer.is_none() || pc.customer == customer)
        .map(|pc| pc.to_json(store))
        .collect();
    list::page(items, p, "/v1/promotion_codes")
}
