//! Calendar arithmetic for billing periods (UTC), without a date library.

/// A price's recurring interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Daily.
    Day,
    /// Weekly.
    Week,
    /// Monthly: same day of month, clamped to the month's length.
    Month,
    /// Yearly.
    Year,
}

impl Interval {
    /// Parses Stripe's `recurring[interval]`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            _ => None,
        }
    }

    /// Stripe's name for the interval.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date for a count of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Unix seconds for a UTC date and time.
pub fn timestamp(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    days_from_civil(y, m, d) * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)
}

/// `anchor` moved forward by `n` intervals; months keep the anchor's day, clamped (Jan 31 → Feb 28).
pub fn add_interval(anchor: i64, interval: Interval, n: i64) -> i64 {
    let days = anchor.div_euclid(86_400);
    let secs = anchor.rem_euclid(86_400);
    let months = match interval {
        Interval::Day => return anchor + n * 86_400,
        Interval::Week => return anchor + n * 7 * 86_400,
        Interval::Month => n,
        Interval::Year => n * 12,
    };
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + i64::from(m) - 1 + months;
    let ny = total.div_euclid(12);
    let nm = (total.rem_euclid(12) + 1) as u32;
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd) * 86_400 + secs
}

/// The end of the period that starts at or after `start` for a cycle anchored at `anchor`:
/// the first anchor + k·count intervals strictly after `start`.
pub fn next_period_end(anchor: i64, interval: Interval, count: i64, start: i64) -> i64 {
    let mut k = 1;
    loop {
        let end = add_interval(anchor, interval, k * count.max(1));
        if end > start {
            return end;
        }
        k += 1;
    }
}

/// Stripe's short date in descriptions: `22 Nov 2026`.
pub fn format_date(ts: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    format!("{d:02} {} {y}", MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 1, 19_000, 20_415, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(timestamp(2026, 11, 22, 0, 0, 0), 1_795_305_600);
    }

    #[test]
    fn months_clamp_to_month_end_and_keep_anchor_day() {
        let jan31 = timestamp(2027, 1, 31, 10, 0, 0);
        assert_eq!(
            add_interval(jan31, Interval::Month, 1),
            timestamp(2027, 2, 28, 10, 0, 0)
        );
        assert_eq!(
            add_interval(jan31, Interval::Month, 2),
            timestamp(2027, 3, 31, 10, 0, 0)
        );
        assert_eq!(
            add_interval(jan31, Interval::Year, 1),
            timestamp(2028, 1, 31, 10, 0, 0)
        );
        let feb29 = timestamp(2028, 2, 29, 0, 0, 0);
        assert_eq!(
            add_interval(feb29, Interval::Year, 1),
            timestamp(2029, 2, 28, 0, 0, 0)
        );
        assert_eq!(
            next_period_end(jan31, Interval::Month, 1, timestamp(2027, 2, 28, 10, 0, 0)),
            timestamp(2027, 3, 31, 10, 0, 0)
        );
    }

    #[test]
    fn formats_like_stripe() {
        assert_eq!(
            format_date(timestamp(2026, 11, 22, 13, 0, 0)),
            "22 Nov 2026"
        );
        assert_eq!(format_date(timestamp(2017, 3, 3, 0, 0, 0)), "03 Mar 2017");
    }
}
