//! Time-based proration as Stripe computes it, and Stripe's line descriptions.

use crate::calendar::format_date;

/// Divides rounding half away from zero (Stripe rounds each proration line this way).
pub fn round_div(numerator: i128, denominator: i128) -> i64 {
    debug_assert!(denominator > 0);
    let q = if numerator >= 0 {
        (2 * numerator + denominator) / (2 * denominator)
    } else {
        -((-2 * numerator + denominator) / (2 * denominator))
    };
    q as i64
}

/// The share of `amount` for the time left in `[start, end)` after `t`, rounded.
pub fn remaining_share(amount: i64, t: i64, start: i64, end: i64) -> i64 {
    if end <= start {
        return 0;
    }
    let t = t.clamp(start, end);
    round_div(
        i128::from(amount) * i128::from(end - t),
        i128::from(end - start),
    )
}

/// The credit (negative) and the charge (positive) for switching from `old` to `new`
/// per-period amounts at `t` within `[start, end)`.
pub fn price_change(old: i64, new: i64, t: i64, start: i64, end: i64) -> (i64, i64) {
    (
        -remaining_share(old, t, start, end),
        remaining_share(new, t, start, end),
    )
}

fn quantity_prefix(quantity: i64) -> String {
    if quantity == 1 {
        String::new()
    } else {
        format!("{quantity} × ")
    }
}

/// `Unused time on Starter after 22 Nov 2026`.
pub fn unused_time(product: &str, quantity: i64, t: i64) -> String {
    format!(
        "Unused time on {}{product} after {}",
        quantity_prefix(quantity),
        format_date(t)
    )
}

/// `Remaining time on Professional after 22 Nov 2026`.
pub fn remaining_time(product: &str, quantity: i64, t: i64) -> String {
    format!(
        "Remaining time on {}{product} after {}",
        quantity_prefix(quantity),
        format_date(t)
    )
}

/// `1 × Starter (at $19.00 / month)`.
pub fn cycle_line(
    product: &str,
    quantity: i64,
    unit_amount: i64,
    currency: &str,
    interval: &str,
) -> String {
    format!(
        "{quantity} × {product} (at {} / {interval})",
        format_money(unit_amount, currency)
    )
}

/// `$19.00`, `€4.90`, `¥500`, `CHF 12.00`.
pub fn format_money(amount: i64, currency: &str) -> String {
    let zero_decimal = matches!(
        currency,
        "bif"
            | "clp"
            | "djf"
            | "gnf"
            | "jpy"
            | "kmf"
            | "krw"
            | "mga"
            | "pyg"
            | "rwf"
            | "ugx"
            | "vnd"
            | "vuv"
            | "xaf"
            | "xof"
            | "xpf"
    );
    let symbol = match currency {
        "usd" => "$".to_string(),
        "eur" => "€".to_string(),
        "gbp" => "£".to_string(),
        "jpy" => "¥".to_string(),
        other => format!("{} ", other.to_uppercase()),
    };
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if zero_decimal {
        format!("{sign}{symbol}{abs}")
    } else {
        format!("{sign}{symbol}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::timestamp;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_div(5, 2), 3);
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(4, 3), 1);
        assert_eq!(round_div(-4, 3), -1);
        assert_eq!(round_div(0, 7), 0);
    }

    #[test]
    fn proration_table() {
        let day = 86_400;
        let start = timestamp(2030, 4, 1, 0, 0, 0);
        let end = start + 30 * day;
        // (old, new, seconds into the period, credit, charge)
        let cases = [
            (1900, 4900, 15 * day, -950, 2450),
            (4900, 9900, 15 * day, -2450, 4950),
            (1900, 4900, 0, -1900, 4900),
            (1900, 4900, 30 * day, 0, 0),
            // 10 of 30 days used: 1900·20/30 = 1266.67 → 1267; 4900·20/30 = 3266.67 → 3267
            (1900, 4900, 10 * day, -1267, 3267),
            // 1 second in: 1900·2591999/2592000 = 1899.9993 → 1900
            (1900, 4900, 1, -1900, 4900),
            // an exact half cent rounds away from zero: 1·(end-t)/(end-start) = 0.5 → 1
            (1, 3, 15 * day, -1, 2),
            (100, 100, 7 * day, -77, 77),
        ];
        for (old, new, offset, credit, charge) in cases {
            assert_eq!(
                price_change(old, new, start + offset, start, end),
                (credit, charge),
                "old={old} new={new} offset={offset}"
            );
        }
    }

    #[test]
    fn descriptions_match_stripe() {
        let t = timestamp(2026, 11, 22, 12, 0, 0);
        assert_eq!(
            unused_time("Starter", 1, t),
            "Unused time on Starter after 22 Nov 2026"
        );
        assert_eq!(
            remaining_time("Professional", 1, t),
            "Remaining time on Professional after 22 Nov 2026"
        );
        assert_eq!(
            unused_time("Seats", 20, t),
            "Unused time on 20 × Seats after 22 Nov 2026"
        );
        assert_eq!(
            cycle_line("Starter", 1, 1900, "usd", "month"),
            "1 × Starter (at $19.00 / month)"
        );
        assert_eq!(format_money(-950, "eur"), "-€9.50");
    }
}
