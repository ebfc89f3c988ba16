//! Time as Stripe speaks it: Unix seconds, and the calendar arithmetic on them (billing
//! periods, rate-limit windows, RFC 3339 for people). Where "now" comes from is the
//! [`Clock`](crate::ports::Clock) port.

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// The end of the fixed window of `length` seconds that `now` falls in (windows start at
/// multiples of `length`): what every per-user rate limit counts in.
pub fn window_end(now: UnixTime, length: i64) -> UnixTime {
    now - now.rem_euclid(length) + length
}

/// RFC 3339 UTC (`2026-11-22T23:46:05Z`) for API responses and Keycloak attributes.
pub fn rfc3339(t: UnixTime) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// `t` moved `months` calendar months on, at the same time of day, the day clamped to the
/// month's length (Jan 31 + 1 month = Feb 28 or 29), as Stripe advances a billing period.
pub fn add_months(t: UnixTime, months: u32) -> UnixTime {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let index = y * 12 + i64::from(m - 1) + i64::from(months);
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let day = d.min(days_in_month(year, month));
    days_from_civil(year, month, day) * 86_400 + t.rem_euclid(86_400)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(next.0, next.1, 1) - days_from_civil(y, m, 1)) as u32
}

/// Howard Hinnant's civil-to-days algorithm: days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_windows_end_at_the_next_multiple_of_their_length() {
        // (now, length, end)
        for (now, length, end) in [(0, 60, 60), (59, 60, 60), (60, 60, 120), (-1, 60, 0)] {
            assert_eq!(window_end(now, length), end, "{now} {length}");
        }
    }

    #[test]
    fn formats_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_648_320_110, "2022-03-26T18:41:50Z"),
            (1_795_391_165, "2026-11-22T23:46:05Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ];
        for (t, want) in cases {
            assert_eq!(rfc3339(t), want, "{t}");
        }
    }

    #[test]
    fn months_are_added_on_the_calendar_clamped_to_the_months_length() {
        let at = |y, m, d| days_from_civil(y, m, d) * 86_400 + 13 * 3600;
        let cases = [
            (at(2026, 11, 22), 1, "2026-12-22T13:00:00Z"),
            (at(2026, 12, 15), 1, "2027-01-15T13:00:00Z"),
            (at(2027, 1, 31), 1, "2027-02-28T13:00:00Z"),
            (at(2028, 1, 31), 1, "2028-02-29T13:00:00Z"),
            (at(2026, 11, 22), 12, "2027-11-22T13:00:00Z"),
            (at(2028, 2, 29), 12, "2029-02-28T13:00:00Z"),
            (at(2026, 3, 31), 0, "2026-03-31T13:00:00Z"),
            (at(1969, 12, 31), 2, "1970-02-28T13:00:00Z"),
        ];
        for (from, months, want) in cases {
            assert_eq!(rfc3339(add_months(from, months)), want, "{from} + {months}");
        }
    }
}
