//! The pages a person clicks in, served beside the API: Checkout (line items, total, test cards,
//! Pay), 3-D Secure (Complete / Fail), the Customer Portal, hosted invoices and receipts, and a
//! Stripe.js stand-in with the subset the billing page uses. Every action goes through the same
//! route table as the `/_emulator/` hooks, so a click and a test hook change the store alike.

mod checkout;
mod documents;
mod portal;
mod stripe_js;
mod three_d_secure;

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use crate::error::ApiResult;
use crate::form::{self, Params};
use crate::routes;
use crate::server::App;
use crate::store::Store;

/// The page at `path`, or None when `path` is the API's.
pub(crate) fn serve(app: &Arc<App>, method: &Method, path: &str, body: &[u8]) -> Option<Response> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let form = || form::decode(&String::from_utf8_lossy(body)).map(Params::new);
    let mut store = app.lock();
    let page = match (method.as_str(), segments.as_slice()) {
        ("GET", ["checkout", id]) => checkout::page(&store, id, None),
        ("POST", ["checkout", id, "pay"]) => match form() {
            Ok(p) => checkout::pay(app, &mut store, id, &p),
            Err(e) => Page::Html(StatusCode::BAD_REQUEST, error_page(&e.message)),
        },
        ("POST", ["checkout", id, "authenticate"]) => match form() {
            Ok(p) => checkout::authenticate(app, &mut store, id, &p),
            Err(e) => Page::Html(StatusCode::BAD_REQUEST, error_page(&e.message)),
        },
        ("GET", ["_emulator", "3ds", id]) => three_d_secure::page(&store, id),
        ("POST", ["_emulator", "3ds", id]) => match form() {
            Ok(p) => three_d_secure::finish(app, &mut store, id, &p),
            Err(e) => Page::Html(StatusCode::BAD_REQUEST, error_page(&e.message)),
        },
        ("GET", ["p", "session", token]) => portal::page(&store, token),
        ("GET", ["invoices", id]) => documents::invoice(&store, id),
        ("GET", ["invoices", id, "pdf"]) => documents::invoice_pdf(&store, id),
        ("GET", ["receipts", id]) => documents::receipt(&store, id),
        ("GET", ["js", "v3"]) => Page::Script(stripe_js::SCRIPT),
        _ => return None,
    };
    drop(store);
    Some(page.into_response())
}

/// What a page handler answers.
enum Page {
    Html(StatusCode, String),
    Redirect(String),
    Pdf(Vec<u8>),
    Script(&'static str),
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        match self {
            Page::Html(status, body) => (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                body,
            )
                .into_response(),
            Page::Redirect(to) => Redirect::to(&to).into_response(),
            Page::Pdf(bytes) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pdf"),
                )],
                bytes,
            )
                .into_response(),
            Page::Script(js) => (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/javascript; charset=utf-8"),
                    ),
                    (
                        header::ACCESS_CONTROL_ALLOW_ORIGIN,
                        HeaderValue::from_static("*"),
                    ),
                ],
                js,
            )
                .into_response(),
        }
    }
}

/// Runs one of the API's own routes (`/_emulator/...` hooks) with form parameters.
fn hook(app: &Arc<App>, store: &mut Store, path: &str, params: &str) -> ApiResult<Value> {
    let params = Params::new(form::decode(params)?);
    routes::route(app, store, &Method::POST, path, &params)
}

/// A page for something that does not exist.
fn not_found(what: &str) -> Page {
    Page::Html(
        StatusCode::NOT_FOUND,
        error_page(&format!("No such {what}.")),
    )
}

fn error_page(message: &str) -> String {
    layout(
        "Stripe emulator",
        &format!(
            "<h1>Stripe emulator</h1><p role=\"alert\">{}</p>",
            escape(message)
        ),
    )
}

/// HTML-escapes text for element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `1900, "usd"` → `$19.00`; other currencies as `19.00 EUR`.
fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let number = format!("{}.{:02}", abs / 100, abs % 100);
    match currency {
        "usd" => format!("{sign}${number}"),
        other => format!("{sign}{number} {}", other.to_uppercase()),
    }
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The name and period of a price, e.g. `Professional (monthly)`.
fn price_label(store: &Store, price_id: &str) -> String {
    let Some(price) = store.prices.get(price_id) else {
        return price_id.to_owned();
    };
    let product = store
        .products
        .get(&price.product)
        .map_or(price.product.as_str(), |p| p.name.as_str());
    match &price.recurring {
        Some(r) => format!(
            "{product} (every {} {})",
            r.interval_count,
            r.interval.as_str()
        ),
        None => product.to_owned(),
    }
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title)
    )
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;color:#1a1f36;background:#f6f8fb;margin:0}\
main{max-width:34rem;margin:1rem auto;background:#fff;border:1px solid #d5dbe5;border-radius:12px;padding:1rem 1.25rem}\
h1{font-size:1.4rem;margin:.25rem 0 1rem}table{width:100%;border-collapse:collapse}\
td,th{padding:.4rem 0;border-bottom:1px solid #d5dbe5;text-align:left}td.n,th.n{text-align:right}\
fieldset{border:1px solid #d5dbe5;border-radius:8px;margin:1rem 0}label{display:block;padding:.35rem 0}\
button{font:inherit;min-height:2.75rem;padding:.5rem 1rem;border-radius:8px;border:1px solid #3b3fd8;background:#3b3fd8;color:#fff;cursor:pointer}\
button.secondary{background:#fff;color:#3b3fd8}.row{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center;justify-content:space-between}\
.error{color:#8f1d1d;background:#fde2e2;padding:.6rem .8rem;border-radius:8px}.note{color:#4f566b;font-size:.9rem}a{color:#3b3fd8}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_dates_and_escaping() {
        let table = [
            (1900, "usd", "$19.00"),
            (-550, "usd", "-$5.50"),
            (7, "eur", "0.07 EUR"),
        ];
        for (amount, currency, shown) in table {
            assert_eq!(money(amount, currency), shown);
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_391_165), "2026-11-22");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
