//! Test hooks under `/_emulator/` (not part of Stripe's API).

use std::sync::Arc;

use serde_json::{json, Value};

use super::render_or_404;
use crate::billing;
use crate::clock::real_now;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::objects::payment::Dispute;
use crate::payments;
use crate::server::App;
use crate::store::Store;

/// `POST /_emulator/reset`: forgets every object, event and idempotent result; keeps the
/// clock, the configured webhook endpoint and delivery settings.
pub(crate) fn reset(app: &Arc<App>, store: &mut Store) -> ApiResult<Value> {
    store.reset();
    app.clear_idempotency();
    Ok(json!({"reset": true}))
}

fn clock_json(store: &Store) -> Value {
    let now = store.now();
    json!({"object": "emulator.clock", "now": now, "offset": now - real_now()})
}

/// `GET /_emulator/clock`.
pub(crate) fn clock(store: &mut Store) -> ApiResult<Value> {
    Ok(clock_json(store))
}

/// `POST /_emulator/clock/advance` (`seconds` or `to`): processes everything that falls due.
pub(crate) fn advance(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let now = store.now();
    let target = match (p.int("seconds")?, p.int("to")?) {
        (Some(s), None) if s >= 0 => now + s,
        (None, Some(t)) if t >= now => t,
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "`to` must not be in the past: the clock only moves forward.".into(),
                Some("to"),
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "`seconds` must be >= 0.".into(),
                Some("seconds"),
            ))
        }
        _ => {
            return Err(ApiError::invalid(
                "Pass exactly one of `seconds` or `to`.".into(),
                Some("seconds"),
            ))
        }
    };
    billing::advance_to(store, target)?;
    Ok(clock_json(store))
}

/// `POST /_emulator/payment_intents/{id}/authenticate` (`outcome=succeed|fail`).
pub(crate) fn authenticate(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    let succeed = match p.non_empty("outcome").as_deref() {
        None | Some("succeed") => true,
        Some("fail") => false,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Invalid outcome: {other} (succeed or fail)"),
                Some("outcome"),
            ))
        }
    };
    let attempt = payments::authenticate(store, id, succeed)?;
    billing::after_intent(store, id, &attempt);
    render_or_404(store, "payment_intent", id)
}

/// `POST /_emulator/charges/{id}/dispute` (`reason`, `amount`): emits `charge.dispute.created`.
pub(crate) fn dispute(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    let charge = store
        .charges
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("charge", id))?;
    if charge.status != "succeeded" {
        return Err(ApiError::invalid(
            "Only a succeeded charge can be disputed.".into(),
            None,
        ));
    }
    if charge.disputed {
        return Err(ApiError::invalid_code(
            "charge_disputed",
            format!("Charge {id} is already disputed."),
            None,
        ));
    }
    let amount = p.int("amount")?.unwrap_or(charge.amount);
    if amount <= 0 || amount > charge.amount {
        return Err(ApiError::invalid(
            "amount must be between 1 and the charge amount.".into(),
            Some("amount"),
        ));
    }
    let dispute_id = store.new_id("dp_");
    let dispute = Dispute {
        id: dispute_id.clone(),
        created: store.now(),
        amount,
        currency: charge.currency.clone(),
        charge: id.to_string(),
        payment_intent: charge.payment_intent,
        reason: p.non_empty("reason").unwrap_or_else(|| "fraudulent".into()),
        status: "needs_response".into(),
        submission_count: 0,
    };
    store.disputes.insert(dispute_id.clone(), dispute);
    if let Some(c) = store.charges.get_mut(id) {
        c.disputed = true;
    }
    let json = render_or_404(store, "dispute", &dispute_id)?;
    store.emit("charge.dispute.created", json.clone(), None);
    Ok(json)
}

fn delivery_config_json(store: &Store) -> Value {
    let c = &store.webhooks.config;
    json!({
        "drop_rate": c.drop_rate,
        "seed": c.seed,
        "max_attempts": c.max_attempts,
        "backoff_ms": c.backoff_ms,
        "paused": c.paused,
        "endpoints": store.webhooks.endpoints.iter().map(|e| e.to_json(false)).collect::<Vec<_>>()
    })
}

/// `POST /_emulator/webhooks/config` (`drop_rate`, `seed`, `max_attempts`, `backoff_ms`).
pub(crate) fn webhook_config(store: &mut Store, p: &Params) -> ApiResult<Value> {
    if p.has("drop_rate") || p.has("seed") {
        let rate = p
            .float("drop_rate")?
            .unwrap_or(store.webhooks.config.drop_rate);
        if !(0.0..=1.0).contains(&rate) {
            return Err(ApiError::invalid(
                "drop_rate must be between 0 and 1.".into(),
                Some("drop_rate"),
            ));
        }
        let seed = p
            .int("seed")?
            .map(|s| s as u64)
            .unwrap_or(store.webhooks.config.seed);
        store.webhooks.set_drops(rate, seed);
    }
    if let Some(n) = p.int("max_attempts")? {
        store.webhooks.config.max_attempts = n.clamp(1, 100) as u32;
    }
    if let Some(ms) = p.int("backoff_ms")? {
        store.webhooks.config.backoff_ms = ms.max(0) as u64;
    }
    Ok(delivery_config_json(store))
}

/// `POST /_emulator/webhooks/pause` and `/resume`.
pub(crate) fn pause(store: &mut Store, paused: bool) -> ApiResult<Value> {
    store.webhooks.config.paused = paused;
    if !paused {
        store.webhooks.wake_all();
    }
    Ok(delivery_config_json(store))
}

/// `GET /_emulator/webhooks/deliveries?event_id=`: attempts, oldest first.
pub(crate) fn deliveries(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let event = p.non_empty("event_id");
    let data: Vec<Value> = store
        .webhooks
        .deliveries
        .iter()
        .filter(|d| event.as_ref().is_none_or(|e| &d.event_id == e))
        .map(|d| d.to_json())
        .collect();
    let pending: usize = store.webhooks.endpoints.iter().map(|e| e.queue.len()).sum();
    Ok(json!({"object": "list", "data": data, "queued": pending}))
}
