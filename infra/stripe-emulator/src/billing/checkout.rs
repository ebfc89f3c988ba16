//! What a Checkout session charges: its line items as the first invoice's lines, with the
//! discounts it redeems and, with automatic tax, the customer's country's tax.

use super::*;
use crate::objects::checkout::CheckoutSession;
use crate::objects::discount::Discount;

/// The lines of what a session charges at completion (a trial's are $0).
pub fn checkout_lines(store: &Store, session: &CheckoutSession) -> Vec<Line> {
    let now = store.now();
    let mut lines: Vec<Line> = session
        .line_items
        .iter()
        .filter_map(|(price, qty)| {
            let p = store.prices.get(price)?;
            Some(Line {
                amount: if session.has_trial() {
                    0
                } else {
                    p.unit_amount * qty
                },
                description: product_name(store, p),
                price: p.id.clone(),
                quantity: *qty,
                ..Line::default()
            })
        })
        .collect();
    let discounts: Vec<Discount> = if session.discounts.is_empty() {
        session
            .redemptions
            .iter()
            .map(|r| Discount {
                id: String::new(),
                coupon: r.coupon.clone(),
                promotion_code: r.promotion_code.clone(),
                customer: session.customer.clone(),
                subscription: None,
                checkout_session: Some(session.id.clone()),
                start: now,
                end: None,
                used: false,
            })
            .collect()
    } else {
        session
            .discounts
            .iter()
            .filter_map(|d| store.discounts.get(d).cloned())
            .collect()
    };
    apply_discounts(store, &discounts, &mut lines, &session.currency, now);
    if let Some(country) = session
        .customer
        .as_ref()
        .filter(|_| session.automatic_tax)
        .and_then(|c| customer_country(store, c))
    {
        tax_lines(&country, &mut lines);
    }
    lines
}
