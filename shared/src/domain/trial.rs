//! A tier's trial, as the catalog defines it.

use serde::{Deserialize, Serialize};

/// Longest trial Stripe accepts (`trial_period_days` up to 730).
pub const MAX_TRIAL_DAYS: u32 = 730;

/// A tier's trial: how long, whether Checkout must collect a card first, and what Stripe does at
/// its end when no payment method was ever added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSpec {
    /// Days of the trial (Stripe's `trial_period_days`, 1 to 730).
    pub days: u32,
    /// Checkout collects a card before the trial starts; otherwise only if required (card-less).
    #[serde(default)]
    pub card_required: bool,
    /// What happens at the trial's end without a payment method.
    #[serde(default)]
    pub end_behavior: TrialEndBehavior,
}

/// Stripe's `trial_settings.end_behavior.missing_payment_method` for a card-less trial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialEndBehavior {
    /// The subscription is canceled: the user is back on the free tier.
    #[default]
    Cancel,
    /// The subscription is paused, without access, until a card is added and it is resumed.
    Pause,
}

impl TrialEndBehavior {
    /// Stripe's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Pause => "pause",
        }
    }
}
