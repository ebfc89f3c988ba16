//! `/v1/charges`, `/v1/refunds`, `/v1/disputes`.

use serde_json::Value;

use super::render_or_404;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::payment::{Dispute, Refund};
use crate::proration::format_money;
use crate::store::Store;

/// `GET /v1/charges/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "charge", id)
}

/// `GET /v1/charges?customer=&payment_intent=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let pi = p.non_empty("payment_intent");
    let items: Vec<Value> = store
        .charges
        .newest_first()
        .filter(|c| customer.is_none() || c.customer == customer)
        .filter(|c| pi.as_ref().is_none_or(|pi| &c.payment_intent == pi))
        .map(|c| c.to_json(store))
        .collect();
    list::page(items, p, "/v1/charges")
}

/// `POST /v1/refunds` (charge or payment_intent, optional amount, reason, metadata).
pub(crate) fn refund(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "charge",
        "payment_intent",
        "amount",
        "reason",
        "metadata",
        "refund_application_fee",
        "reverse_transfer",
        "instructions_email",
    ])?;
    let charge_id = match (p.non_empty("charge"), p.non_empty("payment_intent")) {
        (Some(c), _) => c,
        (None, Some(pi)) => {
            let intent = store
                .payment_intents
                .get(&pi)
                .ok_or_else(|| ApiError::no_such_param("payment_intent", &pi, "payment_intent"))?;
            match (&intent.latest_charge, intent.status.as_str()) {
                (Some(ch), "succeeded") => ch.clone(),
                _ => {
                    return Err(ApiError::invalid(
                        format!("This PaymentIntent ({pi}) does not have a successful charge to refund."),
                        Some("payment_intent"),
                    ))
                }
            }
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "One of the following params should be provided for this request: payment_intent or charge.".into(),
                None,
            ))
        }
    };
    let reason = p.non_empty("reason");
    if let Some(r) = &reason {
        if !matches!(
            r.as_str(),
            "duplicate" | "fraudulent" | "requested_by_customer"
        ) {
            return Err(ApiError::invalid(
                format!("Invalid reason: {r}"),
                Some("reason"),
            ));
        }
    }
    let metadata = p
        .metadata("metadata")?
        .map(|m| m.into_map())
        .unwrap_or_default();
    let requested = p.int("amount")?;
    let before = store
        .render(&charge_id)
        .ok_or_else(|| ApiError::no_such_param("charge", &charge_id, "charge"))?;
    let charge = store
        .charges
        .get(&charge_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", &charge_id, "charge"))?;
    if charge.status != "succeeded" {
        return Err(ApiError::invalid(
            format!("Charge {charge_id} has not succeeded and cannot be refunded."),
            Some("charge"),
        ));
    }
    if charge.disputed {
        return Err(ApiError::invalid_code(
            "charge_disputed",
            format!("Charge {charge_id} has been charged back; cannot issue a refund."),
            Some("charge"),
        ));
    }
    let remaining = charge.amount - charge.amount_refunded;
    if remaining <= 0 {
        return Err(ApiError::invalid_code(
            "charge_already_refunded",
            format!("Charge {charge_id} has already been refunded."),
            Some("charge"),
        ));
    }
    let amount = requested.unwrap_or(remaining);
    if amount <= 0 {
        return Err(ApiError::invalid(
            "Invalid positive integer".into(),
            Some("amount"),
        ));
    }
    if amount > remaining {
        return Err(ApiError::invalid_code(
            "amount_too_large",
            format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                format_money(amount, &charge.currency),
                format_money(remaining, &charge.currency)
            ),
            Some("amount"),
        ));
    }
    let id = store.new_id("re_");
    let refund = Refund {
        id: id.clone(),
        created: store.now(),
        amount,
        currency: charge.currency.clone(),
        charge: charge_id.clone(),
        payment_intent: charge.payment_intent,
        reason,
        metadata,
    };
    store.refunds.insert(id.clone(), refund);
    if let Some(c) = store.charges.get_mut(&charge_id) {
        c.amount_refunded += amount;
        c.refunds.push(id.clone());
    }
    let after = store.render(&charge_id).unwrap_or(Value::Null);
    store.emit_updated("charge.refunded", &before, after);
    let refund_json = store.render(&id).unwrap_or(Value::Null);
    store.emit("refund.created", refund_json.clone(), None);
    Ok(refund_json)
}

/// `GET /v1/refunds?charge=&payment_intent=`.
pub(crate) fn list_refunds(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let charge = p.non_empty("charge");
    let pi = p.non_empty("payment_intent");
    let items: Vec<Value> = store
        .refunds
        .newest_first()
        .filter(|r| charge.as_ref().is_none_or(|c| &r.charge == c))
        .filter(|r| pi.as_ref().is_none_or(|pi| &r.payment_intent == pi))
        .map(Refund::to_json)
        .collect();
    list::page(items, p, "/v1/refunds")
}

/// `GET /v1/refunds/{id}`.
pub(crate) fn retrieve_refund(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "refund", id)
}

/// `GET /v1/disputes?charge=&payment_intent=`.
pub(crate) fn list_disputes(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let charge = p.non_empty("charge");
    let pi = p.non_empty("payment_intent");
    let items: Vec<Value> = store
        .disputes
        .newest_first()
        .filter(|d| charge.as_ref().is_none_or(|c| &d.charge == c))
        .filter(|d| pi.as_ref().is_none_or(|pi| &d.payment_intent == pi))
        .map(|d: &Dispute| d.to_json(store))
        .collect();
    list::page(items, p, "/v1/disputes")
}

/// `GET /v1/disputes/{id}`.
pub(crate) fn retrieve_dispute(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "dispute", id)
}

/// `POST /v1/disputes/{id}` (`evidence[...]`, `submit`, default true): submitting evidence puts
/// the dispute under review; as in Stripe's test mode, `evidence[uncategorized_text]` set to
/// `winning_evidence` or `losing_evidence` closes it at once as `won` or `lost`
/// (`charge.dispute.closed`).
pub(crate) fn update_dispute(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    let dispute = store
        .disputes
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("dispute", id))?;
    if matches!(dispute.status.as_str(), "won" | "lost") {
        return Err(ApiError::invalid(
            format!("This dispute is already closed ({}).", dispute.status),
            None,
        ));
    }
    if !p.bool("submit")?.unwrap_or(true) {
        return render_or_404(store, "dispute", id);
    }
    let text = p
        .get("evidence")
        .and_then(|e| e.get("uncategorized_text"))
        .and_then(Value::as_str);
    let status = match text {
        Some("winning_evidence") => "won",
        Some("losing_evidence") => "lost",
        _ => "under_review",
    };
    let before = render_or_404(store, "dispute", id)?;
    if let Some(d) = store.disputes.get_mut(id) {
        d.status = status.into();
        d.submission_count += 1;
    }
    let json = render_or_404(store, "dispute", id)?;
    let kind = match status {
        "under_review" => "charge.dispute.updated",
        _ => "charge.dispute.closed",
    };
    store.emit(
        kind,
        json.clone(),
        Some(serde_json::json!({"status": before["status"]})),
    );
    Ok(json)
}
