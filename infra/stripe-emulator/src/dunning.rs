//! Automatic collection of failed subscription invoices ("dunning"): the retry schedule and what
//! happens to the subscription once every retry failed, as Stripe's Billing settings configure.

/// What a subscription becomes after the last retry of its invoice failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalAction {
    /// `unpaid`: the subscription stays, its invoices stay open and are no longer attempted.
    #[default]
    Unpaid,
    /// `canceled`: the subscription is canceled (`customer.subscription.deleted`).
    Canceled,
}

impl FinalAction {
    /// Parses `unpaid` or `canceled`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "unpaid" => Ok(FinalAction::Unpaid),
            "canceled" => Ok(FinalAction::Canceled),
            other => Err(format!("expected unpaid or canceled, got {other:?}")),
        }
    }
}

/// The retry schedule of failed subscription invoices and its final action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dunning {
    /// Days after the first failed attempt at which each retry runs, strictly increasing.
    pub retry_days: Vec<i64>,
    /// What happens once the last retry failed.
    pub final_action: FinalAction,
}

impl Default for Dunning {
    fn default() -> Self {
        Dunning {
            retry_days: vec![3, 5, 7],
            final_action: FinalAction::Unpaid,
        }
    }
}

const DAY: i64 = 86_400;

impl Dunning {
    /// Parses a retry schedule such as `3,5,7`: positive day counts, strictly increasing.
    pub fn parse_retry_days(s: &str) -> Result<Vec<i64>, String> {
        let mut days = Vec::new();
        for part in s.split(',').map(str::trim) {
            let day: i64 = part
                .parse()
                .map_err(|_| format!("{part:?} is not a whole number of days"))?;
            if day < 1 {
                return Err(format!("retry days must be at least 1 (got {day})"));
            }
            if days.last().is_some_and(|last| day <= *last) {
                return Err(format!(
                    "retry days must be strictly increasing (got {day} after {})",
                    days.last().copied().unwrap_or_default()
                ));
            }
            days.push(day);
        }
        Ok(days)
    }

    /// When the next automatic attempt is due for an invoice whose first attempt failed at
    /// `first_failed_at` and that has been attempted `attempts` times; `None` once every
    /// retry was used.
    pub fn next_attempt(&self, first_failed_at: i64, attempts: i64) -> Option<i64> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        self.retry_days
            .get(index)
            .map(|days| first_failed_at + days * DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_from_the_first_failure() {
        let d = Dunning::default();
        let t = 1_000_000;
        assert_eq!(d.next_attempt(t, 1), Some(t + 3 * DAY));
        assert_eq!(d.next_attempt(t, 2), Some(t + 5 * DAY));
        assert_eq!(d.next_attempt(t, 3), Some(t + 7 * DAY));
        assert_eq!(d.next_attempt(t, 4), None);
        assert_eq!(d.next_attempt(t, 0), None);
    }

    #[test]
    fn parses_schedules_and_actions() {
        assert_eq!(Dunning::parse_retry_days("1, 2,10"), Ok(vec![1, 2, 10]));
        assert!(Dunning::parse_retry_days("3,3").is_err());
        assert!(Dunning::parse_retry_days("5,3").is_err());
        assert!(Dunning::parse_retry_days("0").is_err());
        assert!(Dunning::parse_retry_days("").is_err());
        assert!(Dunning::parse_retry_days("x").is_err());
        assert_eq!(FinalAction::parse("canceled"), Ok(FinalAction::Canceled));
        assert_eq!(FinalAction::parse("unpaid"), Ok(FinalAction::Unpaid));
        assert!(FinalAction::parse("delete").is_err());
    }
}
