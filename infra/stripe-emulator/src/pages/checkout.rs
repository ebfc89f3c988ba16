//! The hosted Checkout page: line items, total, the test cards, Pay.

use std::sync::Arc;

use axum::http::StatusCode;

use super::{escape, hook, layout, money, not_found, price_label, Page};
use crate::form::Params;
use crate::server::App;
use crate::store::Store;

/// A test card offered on the page: token, what it does, the number people know it by.
struct TestCard {
    token: &'static str,
    label: &'static str,
    number: &'static str,
    needs_authentication: bool,
}

const TEST_CARDS: [TestCard; 3] = [
    TestCard {
        token: "pm_card_visa",
        label: "Succeeds",
        number: "4242 4242 4242 4242",
        needs_authentication: false,
    },
    TestCard {
        token: "pm_card_chargeDeclined",
        label: "Declined",
        number: "4000 0000 0000 0002",
        needs_authentication: false,
    },
    TestCard {
        token: "pm_card_threeDSecure2Required",
        label: "Requires 3-D Secure",
        number: "4000 0000 0000 3220",
        needs_authentication: true,
    },
];

/// `GET /checkout/{id}`; `error` is shown above the form (a declined card, a failed check).
pub(super) fn page(store: &Store, id: &str, error: Option<&str>) -> Page {
    let Some(session) = store.checkout_sessions.get(id) else {
        return not_found("Checkout session");
    };
    if session.status != "open" {
        let body = format!(
            "<h1>Checkout</h1><p>This Checkout session is {}.</p>{}",
            escape(&session.status),
            back_link(session.cancel_url.as_deref())
        );
        return Page::Html(StatusCode::OK, layout("Checkout", &body));
    }
    let rows: String = session
        .line_items
        .iter()
        .map(|(price_id, qty)| {
            let amount = store.prices.get(price_id).map_or(0, |p| p.unit_amount) * qty;
            format!(
                "<tr><td>{} × {qty}</td><td class=\"n\" data-testid=\"line-amount\">{}</td></tr>",
                escape(&price_label(store, price_id)),
                money(amount, &session.currency)
            )
        })
        .collect();
    let email = session
        .customer_email
        .clone()
        .or_else(|| {
            session
                .customer
                .as_ref()
                .and_then(|c| store.customers.get(c)?.email.clone())
        })
        .unwrap_or_default();
    let cards: String = TEST_CARDS
        .iter()
        .enumerate()
        .map(|(n, card)| {
            format!(
                "<label><input type=\"radio\" name=\"card\" value=\"{token}\"{checked}> \
                 {number} <span class=\"note\">{label}</span></label>",
                token = card.token,
                checked = if n == 0 { " checked" } else { "" },
                number = card.number,
                label = card.label
            )
        })
        .collect();
    let total = money(session.totals(store).3, &session.currency);
    // What the page asks besides a card: a promotion code and a billing country, when the
    // session takes them.
    let mut inputs = String::new();
    if session.allow_promotion_codes {
        inputs.push_str(
            "<label>Promotion code <input name=\"promotion_code\" data-testid=\"promotion-code\"></label>",
        );
    }
    if session.billing_address_collection.as_deref() == Some("required") || session.automatic_tax {
        inputs.push_str(
            "<label>Country <input name=\"address_country\" maxlength=\"2\" data-testid=\"address-country\"></label>",
        );
    }
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    });
    let body = format!(
        "<h1>Pay Tierflow</h1><p class=\"note\">Stripe emulator Checkout · {email}</p>\
         <table><thead><tr><th>Item</th><th class=\"n\">Amount</th></tr></thead><tbody>{rows}</tbody>\
         <tfoot><tr><th>Total due today</th><th class=\"n\" data-testid=\"checkout-total\">{total}</th></tr></tfoot></table>\
         {error}<form method=\"post\" action=\"/checkout/{id}/pay\">{inputs}<fieldset><legend>Test card</legend>{cards}</fieldset>\
         <div class=\"row\">{back}<button type=\"submit\">Pay {total}</button></div></form>",
        email = escape(&email),
        id = escape(id),
        back = back_link(session.cancel_url.as_deref()),
    );
    Page::Html(StatusCode::OK, layout("Checkout", &body))
}

fn back_link(cancel_url: Option<&str>) -> String {
    cancel_url.map_or(String::new(), |url| {
        format!("<a href=\"{}\">Cancel and go back</a>", escape(url))
    })
}

fn card_of(p: &Params) -> Option<&'static TestCard> {
    let token = p.non_empty("card")?;
    TEST_CARDS.iter().find(|c| c.token == token)
}

/// `POST /checkout/{id}/pay` (`card`): completes the session, or asks for 3-D Secure first.
pub(super) fn pay(app: &Arc<App>, store: &mut Store, id: &str, p: &Params) -> Page {
    let Some(card) = card_of(p) else {
        return page(store, id, Some("Choose one of the test cards."));
    };
    if card.needs_authentication {
        let body = format!(
            "<h1>3-D Secure</h1><p>Your bank asks you to confirm this payment of {total} \
             with the card ending {last4}.</p><form method=\"post\" action=\"/checkout/{id}/authenticate\">\
             <input type=\"hidden\" name=\"card\" value=\"{token}\">{kept}<div class=\"row\">\
             <button type=\"submit\" name=\"outcome\" value=\"fail\" class=\"secondary\">Fail authentication</button>\
             <button type=\"submit\" name=\"outcome\" value=\"succeed\">Complete authentication</button></div></form>",
            total = store
                .checkout_sessions
                .get(id)
                .map_or(String::new(), |s| money(s.totals(store).3, &s.currency)),
            last4 = &card.number[card.number.len() - 4..],
            id = escape(id),
            token = card.token,
            kept = page_inputs(p)
                .iter()
                .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", escape(v)))
                .collect::<String>(),
        );
        return Page::Html(StatusCode::OK, layout("3-D Secure", &body));
    }
    complete(app, store, id, card, p)
}

/// The page's other inputs, passed on to the completion hook.
fn page_inputs(p: &Params) -> Vec<(&'static str, String)> {
    ["promotion_code", "address_country"]
        .into_iter()
        .filter_map(|k| p.non_empty(k).map(|v| (k, v)))
        .collect()
}

/// `POST /checkout/{id}/authenticate` (`card`, `outcome`): the 3-D Secure step's answer.
pub(super) fn authenticate(app: &Arc<App>, store: &mut Store, id: &str, p: &Params) -> Page {
    let Some(card) = card_of(p) else {
        return page(store, id, Some("Choose one of the test cards."));
    };
    if p.non_empty("outcome").as_deref() != Some("succeed") {
        return page(
            store,
            id,
            Some("Authentication failed. Try again or choose another card."),
        );
    }
    complete(app, store, id, card, p)
}

/// Completes the session through the `/_emulator/` hook and sends the customer to `success_url`.
fn complete(app: &Arc<App>, store: &mut Store, id: &str, card: &TestCard, p: &Params) -> Page {
    let mut pairs = vec![("payment_method", card.token.to_string())];
    pairs.extend(page_inputs(p));
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = hook(
        app,
        store,
        &format!("/_emulator/checkout/sessions/{id}/complete"),
        &crate::form::encode(&refs),
    );
    if let Err(e) = done {
        // A declined card: the session stays open and the page says why.
        let message = e.message.clone();
        return match page(store, id, Some(&message)) {
            Page::Html(_, body) => Page::Html(StatusCode::PAYMENT_REQUIRED, body),
            other => other,
        };
    }
    // The customer authenticated on this page: the first invoice's payment is confirmed too.
    let intent = store
        .checkout_sessions
        .get(id)
        .and_then(|s| s.invoice.clone())
        .and_then(|inv| store.invoices.get(&inv)?.payment_intent.clone())
        .filter(|pi| {
            store
                .payment_intents
                .get(pi)
                .is_some_and(|pi| pi.status == "requires_action")
        });
    if let Some(pi) = intent {
        let path = format!("/_emulator/payment_intents/{pi}/authenticate");
        if let Err(e) = hook(app, store, &path, "outcome=succeed") {
            tracing::warn!(error = %e.message, "checkout: authenticating the first payment failed");
        }
    }
    let Some(session) = store.checkout_sessions.get(id) else {
        return not_found("Checkout session");
    };
    Page::Redirect(session.success_url.replace("{CHECKOUT_SESSION_ID}", id))
}
