//! The Customer Portal: the customer's subscription, cards and invoices, and the way back.

use axum::http::StatusCode;

use super::{date, escape, layout, money, not_found, price_label, Page};
use crate::store::Store;

/// `GET /p/session/{token}` (the `url` of `POST /v1/billing_portal/sessions`).
pub(super) fn page(store: &Store, token: &str) -> Page {
    let Some(session) = store.portal_sessions.get(token) else {
        return not_found("portal session");
    };
    let customer = &session.customer;
    let email = store
        .customers
        .get(customer)
        .and_then(|c| c.email.clone())
        .unwrap_or_default();
    let subscriptions: String = store
        .subscriptions
        .newest_first()
        .filter(|s| &s.customer == customer)
        .map(|s| {
            let plan: Vec<String> = s.items.iter().map(|i| price_label(store, &i.price)).collect();
            let renews = if s.cancel_at_period_end { "Ends" } else { "Renews" };
            format!(
                "<tr data-testid=\"portal-subscription\"><td>{}</td><td>{}</td><td>{renews} {}</td></tr>",
                escape(&plan.join(", ")),
                escape(&s.status),
                date(s.current_period_end)
            )
        })
        .collect();
    let cards: String = store
        .payment_methods
        .newest_first()
        .filter(|pm| pm.customer.as_ref() == Some(customer))
        .map(|pm| {
            format!(
                "<li>{} •••• {}, expires {:02}/{}</li>",
                escape(pm.card.brand),
                escape(pm.card.last4),
                pm.card.exp_month,
                pm.card.exp_year
            )
        })
        .collect();
    let invoices: String = store
        .invoices
        .newest_first()
        .filter(|i| &i.customer == customer && i.finalized_at.is_some())
        .take(10)
        .map(|i| {
            format!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td><a href=\"/invoices/{id}\">View</a></td></tr>",
                date(i.created),
                money(i.total(), &i.currency),
                escape(&i.status),
                id = escape(&i.id)
            )
        })
        .collect();
    let back = session.return_url.as_deref().map_or(String::new(), |url| {
        format!(
            "<p><a href=\"{}\" data-testid=\"portal-return\">← Return to Tierflow</a></p>",
            escape(url)
        )
    });
    let body = format!(
        "{back}<h1>Billing portal</h1><p class=\"note\">{email}</p>\
         <h2>Subscription</h2><table><tbody>{subscriptions}</tbody></table>\
         <h2>Payment methods</h2><ul>{cards}</ul>\
         <h2>Invoices</h2><table><tbody>{invoices}</tbody></table>",
        email = escape(&email),
    );
    Page::Html(StatusCode::OK, layout("Billing portal", &body))
}
