//! Stripe Tax, deterministic: one exclusive rate per customer address country, computed per
//! line on its amount after discounts.

use serde_json::json;

use super::*;
use crate::objects::invoice::LineTax;

/// The emulator's tax table, in hundredths of a percent, by ISO country: Germany 19 %,
/// France 20 %, the United Kingdom 20 %, the United States 7.25 % (one rate for every state).
/// Every other country is taxed at 0 % (`taxability_reason = not_collecting`).
pub const TAX_TABLE: [(&str, i64, &str); 4] = [
    ("DE", 1900, "VAT"),
    ("FR", 2000, "TVA"),
    ("GB", 2000, "VAT"),
    ("US", 725, "Sales Tax"),
];

/// A country's rate: (hundredths of a percent, display name).
pub fn rate_for(country: &str) -> (i64, &'static str) {
    TAX_TABLE
        .iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(country))
        .map(|(_, r, name)| (*r, *name))
        .unwrap_or((0, "Tax"))
}

/// The tax rate's id for a country: `txr_emu_de`.
pub fn rate_id(country: &str) -> String {
    format!("txr_emu_{}", country.to_ascii_lowercase())
}

/// The `tax_rate` object for one of [`rate_id`]'s ids.
pub fn tax_rate_json(id: &str) -> Option<Value> {
    let country = id.strip_prefix("txr_emu_")?.to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let (hundredths, name) = rate_for(&country);
    let pct = hundredths as f64 / 100.0;
    Some(json!({
        "id": id,
        "object": "tax_rate",
        "active": true,
        "country": country,
        "created": 0,
        "description": null,
        "display_name": name,
        "effective_percentage": pct,
        "flat_amount": null,
        "inclusive": false,
        "jurisdiction": country,
        "jurisdiction_level": "country",
        "livemode": false,
        "metadata": {},
        "percentage": pct,
        "rate_type": "percentage",
        "state": null,
        "tax_type": if name == "Sales Tax" { "sales_tax" } else { "vat" }
    }))
}

/// The customer's address country, if it has one.
pub fn customer_country(store: &Store, customer: &str) -> Option<String> {
    store
        .customers
        .get(customer)
        .and_then(|c| c.address.as_ref())
        .and_then(|a| a["country"].as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Taxes on lines at a country's rate: per line, on its amount after discounts, rounded half
/// away from zero (a credit's tax is negative).
pub fn tax_lines(country: &str, lines: &mut [Line]) {
    let (hundredths, _) = rate_for(country);
    for l in lines.iter_mut() {
        let taxable = l.net();
        l.taxes = vec![LineTax {
            amount: proration::round_div(i128::from(taxable) * i128::from(hundredths), 10_000),
            taxable_amount: taxable,
            tax_rate: rate_id(country),
            taxability_reason: if hundredths > 0 {
                "standard_rated"
            } else {
                "not_collecting"
            }
            .into(),
        }];
    }
}

/// With automatic tax on, taxes the lines at the customer's country: answers the invoice's
/// `automatic_tax.status` (`requires_location_inputs` without an address, and no taxes) and
/// the `customer_address` it used. Off: `(None, None)`.
pub fn apply_tax(
    store: &Store,
    enabled: bool,
    customer: &str,
    lines: &mut [Line],
) -> (Option<String>, Option<Value>) {
    if !enabled {
        return (None, None);
    }
    let Some(country) = customer_country(store, customer) else {
        return (Some("requires_location_inputs".into()), None);
    };
    tax_lines(&country, lines);
    let address = store
        .customers
        .get(customer)
        .and_then(|c| c.address.clone());
    (Some("complete".into()), address)
}

/// Stripe refuses automatic tax for a customer it cannot locate.
pub fn require_tax_location(store: &Store, customer: &str, param: &str) -> ApiResult<()> {
    if customer_country(store, customer).is_some() {
        return Ok(());
    }
    Err(ApiError::invalid_code(
        "customer_tax_location_invalid",
        "The customer's location isn't recognized. Set a valid customer address (at least its country) to calculate tax.".into(),
        Some(param),
    ))
}
