//! The 3-D Secure page of a PaymentIntent that `requires_action`: Complete or Fail. Opened by the
//! Stripe.js stand-in in a frame (it hears the outcome by `postMessage`) or directly at
//! `next_action.redirect_to_url`.

use std::sync::Arc;

use axum::http::StatusCode;

use super::{escape, hook, layout, money, not_found, Page};
use crate::form::Params;
use crate::server::App;
use crate::store::Store;

/// `GET /_emulator/3ds/{pi}`.
pub(super) fn page(store: &Store, id: &str) -> Page {
    let Some(pi) = store.payment_intents.get(id) else {
        return not_found("PaymentIntent");
    };
    if pi.status != "requires_action" {
        return finished(id, &pi.status);
    }
    let body = format!(
        "<h1>3-D Secure</h1><p>Confirm the payment of <b data-testid=\"3ds-amount\">{amount}</b> \
         to Tierflow.</p><form method=\"post\" action=\"/_emulator/3ds/{id}\"><div class=\"row\">\
         <button type=\"submit\" name=\"outcome\" value=\"fail\" class=\"secondary\">Fail</button>\
         <button type=\"submit\" name=\"outcome\" value=\"succeed\">Complete</button></div></form>",
        amount = money(pi.amount, &pi.currency),
        id = escape(id),
    );
    Page::Html(StatusCode::OK, layout("3-D Secure", &body))
}

/// `POST /_emulator/3ds/{pi}` (`outcome=succeed|fail`), through the `/_emulator/` hook.
pub(super) fn finish(app: &Arc<App>, store: &mut Store, id: &str, p: &Params) -> Page {
    let outcome = if p.non_empty("outcome").as_deref() == Some("succeed") {
        "succeed"
    } else {
        "fail"
    };
    let path = format!("/_emulator/payment_intents/{id}/authenticate");
    match hook(app, store, &path, &format!("outcome={outcome}")) {
        Ok(_) => {
            let status = store
                .payment_intents
                .get(id)
                .map_or("unknown", |pi| pi.status.as_str())
                .to_owned();
            finished(id, &status)
        }
        Err(e) => Page::Html(
            StatusCode::BAD_REQUEST,
            layout(
                "3-D Secure",
                &format!("<p role=\"alert\">{}</p>", escape(&e.message)),
            ),
        ),
    }
}

/// The outcome, told to the frame's parent (the Stripe.js stand-in) as well as shown.
fn finished(id: &str, status: &str) -> Page {
    let message = serde_json::json!({"type": "tierflow-emulator-3ds", "payment_intent": id, "status": status});
    let body = format!(
        "<h1>3-D Secure</h1><p data-testid=\"3ds-outcome\">The payment is {}.</p>\
         <script>if (window.parent !== window) window.parent.postMessage({}, \"*\");</script>",
        escape(status),
        message.to_string().replace('<', "\\u003c"),
    );
    Page::Html(StatusCode::OK, layout("3-D Secure", &body))
}
