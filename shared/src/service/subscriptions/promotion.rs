//! Promotion codes (looked up in Stripe, refusals as 400 `invalid_promotion_code`) and the tax
//! setting, the two things a subscription's price is adjusted by.

use super::SubscriptionService;
use crate::http::ApiError;
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::{PromotionCode, StripeError};

/// `TAX_MODE`: `off` (the default) or `stripe_tax`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TaxMode {
    /// No tax is computed by Stripe.
    #[default]
    Off,
    /// Stripe Tax: automatic tax on the subscriptions Checkout makes (billing address required,
    /// tax IDs collected); their upgrades and previews inherit it from the subscription
    /// (Stripe's pending updates cannot change it).
    StripeTax,
}

impl TaxMode {
    /// Whether Stripe computes tax.
    pub fn automatic(self) -> bool {
        self == Self::StripeTax
    }
}

impl std::str::FromStr for TaxMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "off" => Ok(Self::Off),
            "stripe_tax" => Ok(Self::StripeTax),
            other => Err(format!("{other:?} is not one of off, stripe_tax")),
        }
    }
}

impl SubscriptionService {
    /// The active promotion code customers type as `raw` (its `id` is what Stripe takes); 400
    /// `invalid_promotion_code` for one that is malformed, unknown, inactive or expired (Stripe
    /// refuses one that does not apply when it is redeemed: see [`promotion_code_refused`]).
    pub(super) async fn promotion_code(
        &self,
        raw: Option<&str>,
    ) -> Result<Option<PromotionCode>, ApiError> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let well_formed = raw.len() <= MAX_PROMOTION_CODE_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(invalid_promotion_code(format!(
                "a promotion code is 1 to {MAX_PROMOTION_CODE_LEN} letters, digits, - or _"
            )));
        }
        let found = self
            .stripe
            .find_promotion_code(raw)
            .await
            .map_err(|e| stripe_failure("find promotion code", &e))?;
        let now = self.stripe_now();
        match found {
            Some(code) if code.active && code.expires_at.is_none_or(|t| t > now) => Ok(Some(code)),
            _ => Err(invalid_promotion_code(format!(
                "{raw} is not an active promotion code"
            ))),
        }
    }
}

/// Longest promotion code looked up in Stripe.
const MAX_PROMOTION_CODE_LEN: usize = 64;

pub(super) fn invalid_promotion_code(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_promotion_code", message)
}

/// Stripe's refusal to redeem a promotion code we sent (`discounts[...]`: expired, used up,
/// not for this customer, product or amount), as 400 `invalid_promotion_code` with its reason.
pub(super) fn promotion_code_refused(e: &StripeError) -> Option<ApiError> {
    let about_discounts = e
        .param
        .as_deref()
        .is_some_and(|p| p.starts_with("discounts"))
        || e.code.as_deref() == Some("coupon_expired");
    (e.kind == crate::stripe::ErrorKind::InvalidRequest && about_discounts).then(|| {
        invalid_promotion_code(format!("the promotion code cannot be used: {}", e.message))
    })
}

/// A promotion code's refusal as a 400, any other failure as [`stripe_failure`].
pub(super) fn refusal_or_failure(what: &str, e: &StripeError) -> ApiError {
    promotion_code_refused(e).unwrap_or_else(|| stripe_failure(what, e))
}
