//! Card payments: test payment methods, confirming payment intents, 3-D Secure.

use serde_json::{json, Map, Value};

use crate::calendar::civil_from_days;
use crate::error::{ApiError, ApiResult};
use crate::objects::payment::{test_card, CardBehaviour, Charge, PaymentIntent, PaymentMethod};
use crate::store::Store;

/// The result of one payment attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The charge succeeded.
    Succeeded,
    /// The card was declined; the error is Stripe's 402 body.
    Declined(ApiError),
    /// The payment needs 3-D Secure (`requires_action`).
    RequiresAction,
}

fn current_year(store: &Store) -> i64 {
    civil_from_days(store.now().div_euclid(86_400)).0
}

/// The behaviour a payment method (or test token) would have, without creating anything.
pub fn behaviour_of(store: &Store, value: &str) -> Option<CardBehaviour> {
    if let Some((_, b)) = test_card(value, 2030) {
        return Some(b);
    }
    store
        .payment_methods
        .get(value)
        .map(|pm| pm.behaviour.clone())
}

/// A `pm_...` id for a test token (creating an unattached payment method) or an existing id.
pub fn resolve_payment_method(store: &mut Store, value: &str, param: &str) -> ApiResult<String> {
    if store.payment_methods.get(value).is_some() {
        return Ok(value.to_string());
    }
    let Some((card, behaviour)) = test_card(value, current_year(store)) else {
        return Err(ApiError::no_such_param("PaymentMethod", value, param));
    };
    let id = store.new_id("pm_");
    let pm = PaymentMethod {
        id: id.clone(),
        created: store.now(),
        customer: None,
        card,
        behaviour,
        metadata: Map::new(),
    };
    store.payment_methods.insert(id.clone(), pm);
    Ok(id)
}

/// The decline error Stripe returns for a decline code.
pub fn decline_error(decline_code: &str) -> ApiError {
    let message = match decline_code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "authentication_required" => {
            "Your card was declined. This transaction requires authentication."
        }
        _ => "Your card was declined.",
    };
    ApiError::card("card_declined", Some(decline_code), message)
}

/// Attaches a payment method (or a test token) to a customer; cards that always decline
/// fail here, as Stripe validates them on attach.
pub fn attach(store: &mut Store, value: &str, customer: &str, param: &str) -> ApiResult<String> {
    match store.customers.get(customer) {
        Some(c) if !c.deleted => {}
        _ => return Err(ApiError::no_such_param("customer", customer, "customer")),
    }
    if let Some(CardBehaviour::DeclineAlways { decline_code }) = behaviour_of(store, value) {
        return Err(decline_error(decline_code));
    }
    let id = resolve_payment_method(store, value, param)?;
    let pm = store
        .payment_methods
        .get_mut(&id)
        .ok_or_else(|| ApiError::no_such_param("PaymentMethod", value, param))?;
    match &pm.customer {
        Some(c) if c == customer => return Ok(id),
        Some(_) => {
            return Err(ApiError::invalid(
                "The payment method you provided has already been attached to a customer.".into(),
                Some(param),
            ))
        }
        None => pm.customer = Some(customer.to_string()),
    }
    let json = pm.to_json();
    store.emit("payment_method.attached", json, None);
    Ok(id)
}

/// Creates a payment intent in `requires_payment_method`.
#[allow(clippy::too_many_arguments)]
pub fn create_intent(
    store: &mut Store,
    amount: i64,
    currency: &str,
    customer: Option<String>,
    description: Option<String>,
    metadata: Map<String, Value>,
    invoice: Option<String>,
    automatic_payment_methods: bool,
) -> String {
    let id = store.new_id("pi_");
    let secret = format!("{id}_secret_{}", store.ids.token(25));
    let pi = PaymentIntent {
        id: id.clone(),
        created: store.now(),
        amount,
        currency: currency.to_string(),
        customer,
        description,
        metadata,
        status: "requires_payment_method".into(),
        payment_method: None,
        latest_charge: None,
        client_secret: secret,
        last_payment_error: None,
        next_action: None,
        invoice,
        automatic_payment_methods,
        canceled_at: None,
    };
    store.payment_intents.insert(id.clone(), pi);
    id
}

fn new_charge(
    store: &mut Store,
    pi_id: &str,
    pm_id: &str,
    failure: Option<(&str, &str, &str)>,
) -> ApiResult<String> {
    let pi = store
        .payment_intents
        .get(pi_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("payment_intent", pi_id))?;
    let card = store
        .payment_methods
        .get(pm_id)
        .map(|pm| pm.card.clone())
        .ok_or_else(|| ApiError::no_such("payment_method", pm_id))?;
    let id = store.new_id("ch_");
    let charge = Charge {
        id: id.clone(),
        created: store.now(),
        amount: pi.amount,
        currency: pi.currency.clone(),
        customer: pi.customer.clone(),
        payment_intent: pi.id.clone(),
        payment_method: pm_id.to_string(),
        card,
        invoice: pi.invoice.clone(),
        description: pi.description.clone(),
        metadata: pi.metadata,
        status: if failure.is_some() {
            "failed"
        } else {
            "succeeded"
        }
        .into(),
        failure_code: failure.map(|f| f.0.to_string()),
        failure_message: failure.map(|f| f.2.to_string()),
        decline_code: failure.map(|f| f.1.to_string()),
        amount_refunded: 0,
        refunds: Vec::new(),
        disputed: false,
    };
    store.charges.insert(id.clone(), charge);
    Ok(id)
}

/// Confirms a payment intent with a payment method and records the outcome and its events.
/// `authenticated` is true where the customer is present to pass 3-D Secure (Checkout).
pub fn confirm_intent(
    store: &mut Store,
    pi_id: &str,
    pm_id: &str,
    authenticated: bool,
) -> ApiResult<Attempt> {
    let behaviour = store
        .payment_methods
        .get(pm_id)
        .map(|pm| pm.behaviour.clone())
        .ok_or_else(|| ApiError::no_such_param("PaymentMethod", pm_id, "payment_method"))?;
    if let Some(pi) = store.payment_intents.get_mut(pi_id) {
        pi.payment_method = Some(pm_id.to_string());
        pi.last_payment_error = None;
        pi.next_action = None;
    }
    match behaviour {
        CardBehaviour::Succeed => succeed_intent(store, pi_id).map(|_| Attempt::Succeeded),
        CardBehaviour::RequireAuthentication if authenticated => {
            succeed_intent(store, pi_id).map(|_| Attempt::Succeeded)
        }
        CardBehaviour::RequireAuthentication => {
            let url = format!("{}/_emulator/3ds/{pi_id}", store.public_url);
            if let Some(pi) = store.payment_intents.get_mut(pi_id) {
                pi.status = "requires_action".into();
                pi.next_action = Some(json!({
                    "type": "redirect_to_url",
                    "redirect_to_url": {"return_url": null, "url": url}
                }));
            }
            let json = render_pi(store, pi_id);
            store.emit("payment_intent.requires_action", json, None);
            Ok(Attempt::RequiresAction)
        }
        CardBehaviour::DeclineAlways { decline_code } => decline_intent(store, pi_id, decline_code),
        CardBehaviour::DeclineCharges => decline_intent(store, pi_id, "generic_decline"),
    }
}

fn render_pi(store: &Store, pi_id: &str) -> Value {
    store
        .payment_intents
        .get(pi_id)
        .map(|pi| pi.to_json(store))
        .unwrap_or(Value::Null)
}

/// Marks an intent succeeded with a new charge; emits `payment_intent.succeeded`, `charge.succeeded`.
pub fn succeed_intent(store: &mut Store, pi_id: &str) -> ApiResult<String> {
    let pm_id = store
        .payment_intents
        .get(pi_id)
        .and_then(|pi| pi.payment_method.clone())
        .ok_or_else(|| {
            ApiError::invalid(
                "The PaymentIntent has no payment method.".into(),
                Some("payment_method"),
            )
        })?;
    let charge_id = new_charge(store, pi_id, &pm_id, None)?;
    if let Some(pi) = store.payment_intents.get_mut(pi_id) {
        pi.status = "succeeded".into();
        pi.latest_charge = Some(charge_id.clone());
        pi.next_action = None;
        pi.last_payment_error = None;
    }
    let pi_json = render_pi(store, pi_id);
    store.emit("payment_intent.succeeded", pi_json, None);
    let ch_json = store.render(&charge_id).unwrap_or(Value::Null);
    store.emit("charge.succeeded", ch_json, None);
    Ok(charge_id)
}

fn decline_intent(store: &mut Store, pi_id: &str, decline_code: &str) -> ApiResult<Attempt> {
    let pm_id = store
        .payment_intents
        .get(pi_id)
        .and_then(|pi| pi.payment_method.clone())
        .unwrap_or_default();
    let err = decline_error(decline_code);
    let charge_id = new_charge(
        store,
        pi_id,
        &pm_id,
        Some(("card_declined", decline_code, err.message.as_str())),
    )?;
    let pm_json = store.render(&pm_id).unwrap_or(Value::Null);
    let mut last_error = err.body()["error"].clone();
    last_error["charge"] = json!(charge_id);
    last_error["payment_method"] = pm_json.clone();
    if let Some(pi) = store.payment_intents.get_mut(pi_id) {
        pi.status = "requires_payment_method".into();
        pi.latest_charge = Some(charge_id.clone());
        pi.last_payment_error = Some(last_error);
        pi.payment_method = None;
    }
    let ch_json = store.render(&charge_id).unwrap_or(Value::Null);
    store.emit("charge.failed", ch_json, None);
    let pi_json = render_pi(store, pi_id);
    store.emit("payment_intent.payment_failed", pi_json.clone(), None);
    Ok(Attempt::Declined(
        err.with("charge", json!(charge_id))
            .with("payment_intent", pi_json)
            .with("payment_method", pm_json),
    ))
}

/// Finishes 3-D Secure on a `requires_action` intent.
pub fn authenticate(store: &mut Store, pi_id: &str, succeed: bool) -> ApiResult<Attempt> {
    let status = store
        .payment_intents
        .get(pi_id)
        .map(|pi| pi.status.clone())
        .ok_or_else(|| ApiError::no_such("payment_intent", pi_id))?;
    if status != "requires_action" {
        return Err(ApiError::invalid_code(
            "payment_intent_unexpected_state",
            format!("This PaymentIntent's status is {status}; only a PaymentIntent in requires_action can be authenticated."),
            None,
        ));
    }
    if succeed {
        succeed_intent(store, pi_id)?;
        return Ok(Attempt::Succeeded);
    }
    let err = ApiError::card(
        "payment_intent_authentication_failure",
        None,
        "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
    );
    let pm_json = store
        .payment_intents
        .get(pi_id)
        .and_then(|pi| pi.payment_method.clone())
        .and_then(|pm| store.render(&pm))
        .unwrap_or(Value::Null);
    let mut last_error = err.body()["error"].clone();
    last_error["payment_method"] = pm_json;
    if let Some(pi) = store.payment_intents.get_mut(pi_id) {
        pi.status = "requires_payment_method".into();
        pi.next_action = None;
        pi.last_payment_error = Some(last_error);
        pi.payment_method = None;
    }
    let pi_json = render_pi(store, pi_id);
    store.emit("payment_intent.payment_failed", pi_json.clone(), None);
    Ok(Attempt::Declined(err.with("payment_intent", pi_json)))
}
