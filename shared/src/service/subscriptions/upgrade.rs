//! `POST /api/v1/subscriptions/upgrade {target_tier, billing_cycle?, proration_date?}`: the
//! new price now, the prorated difference charged now, applied only once paid
//! (`payment_behavior=pending_if_incomplete`). Without a subscription it answers with Checkout.

use super::checkout::CheckoutView;
use super::{
    api_cause, busy, no_subscription, pending_change_id, record, refused_as_stale, stripe_failure,
    Committed, LiveSubscription, Planned, SubscriptionService, MAX_ATTEMPTS,
};
use crate::auth::Caller;
use crate::domain::proration::{accept_proration_date, proration_instant};
use crate::domain::{classify, BillingCycle, BillingProfile, Currency, Money, Tier, Transition};
use crate::http::ApiError;
use crate::ports::ChangeKind;
use crate::stripe::{
    IdempotencyScope, Invoice, PaymentBehavior, PaymentIntent, Subscription,
    SubscriptionPriceChange, UPGRADE_PRORATION,
};
use crate::subscription_state::{apply_subscription, Observation, Seen};
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use tracing::{error, info, warn};

/// The body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// A higher paid tier's API word.
    pub target_tier: String,
    /// `monthly` or `yearly`; `None` keeps the current cycle (monthly for a first subscription).
    #[serde(default)]
    pub billing_cycle: Option<String>,
    /// The preview's `proration_date`, so the charge is exactly the previewed amount.
    #[serde(default)]
    pub proration_date: Option<i64>,
    /// A promotion code to redeem with the upgrade: pass the one the preview was asked with,
    /// so the charge is the previewed amount.
    #[serde(default)]
    pub promotion_code: Option<String>,
}

/// The plan an upgrade moves to, and the resolved promotion code (`promo_...`) it redeems.
struct Wanted {
    tier: Tier,
    cycle: Option<BillingCycle>,
    promotion_code: Option<String>,
}

/// How an upgrade ended. Serialised with a `status` field the frontend switches on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UpgradeOutcome {
    /// Paid and applied.
    Upgraded {
        /// The tier now in force.
        tier: Tier,
        /// The cycle now in force.
        billing_cycle: BillingCycle,
        /// Minor units invoiced for the prorated difference.
        amount_charged: i64,
        /// Lowercase ISO 4217.
        currency: String,
        /// Stripe's `in_…` proration invoice; `None` when nothing was invoiced.
        invoice_id: Option<String>,
        /// Unix seconds: the proration instant Stripe charged from.
        proration_date: i64,
    },
    /// The bank wants 3-D Secure: finish it with Stripe.js (`client_secret`) or at
    /// `action_url`; the upgrade applies once it succeeds (the webhook records it).
    RequiresAction {
        /// For `stripe.handleNextAction`; `None` if Stripe did not return it.
        client_secret: Option<String>,
        /// Stripe's `pi_…` id of the invoice's payment.
        payment_intent_id: String,
        /// Stripe's `next_action.redirect_to_url.url`, when it gave one.
        action_url: Option<String>,
    },
    /// No subscription yet: pay for the first one through Checkout.
    CheckoutRequired {
        /// The hosted Checkout page on Stripe.
        checkout_url: String,
        /// Stripe's `cs_…` id, to confirm after the redirect back.
        session_id: String,
    },
}

impl UpgradeOutcome {
    /// The HTTP status for it: 200 applied, 202 waiting for the customer.
    pub fn status_code(&self) -> StatusCode {
        match self {
            UpgradeOutcome::Upgraded { .. } => StatusCode::OK,
            _ => StatusCode::ACCEPTED,
        }
    }
}

impl From<CheckoutView> for UpgradeOutcome {
    fn from(v: CheckoutView) -> Self {
        UpgradeOutcome::CheckoutRequired {
            checkout_url: v.checkout_url,
            session_id: v.session_id,
        }
    }
}

impl SubscriptionService {
    /// Upgrades the caller now, charging the proration; see the module docs.
    pub async fn upgrade(
        &self,
        caller: &Caller,
        request: &UpgradeRequest,
        request_id: &str,
    ) -> Result<UpgradeOutcome, ApiError> {
        let target = self.named_tier(&request.target_tier)?;
        let requested_cycle = match &request.billing_cycle {
            Some(raw) => Some(
                BillingCycle::parse(raw)
                    .map_err(|e| ApiError::bad_request("invalid_billing_cycle", e.0))?,
            ),
            None => None,
        };
        let (snapshot, promotion_code) = tokio::join!(
            self.limit_and_load(caller, true),
            self.promotion_code(request.promotion_code.as_deref())
        );
        let (snapshot, promotion_code) = (snapshot?, promotion_code?.map(|code| code.id));
        let Some(sub_id) = snapshot.live_subscription().map(str::to_owned) else {
            let cycle = requested_cycle.unwrap_or(BillingCycle::Monthly);
            return match classify(
                &self.catalog,
                (self.catalog.free_tier(), None),
                (&target, cycle),
            ) {
                Transition::Upgrade => Ok(self
                    .start_checkout(
                        caller,
                        snapshot,
                        super::checkout::CheckoutPlan {
                            tier: target,
                            cycle,
                            promotion_code,
                        },
                        request_id,
                    )
                    .await?
                    .into()),
                Transition::Invalid(why) => Err(ApiError::bad_request("invalid_plan", why)),
                _ => Err(not_an_upgrade("you have no subscription to upgrade")),
            };
        };
        // The stored profile's copy of the subscription where it is current (no Stripe read);
        // otherwise, and once more when Stripe refuses what the profile said, Stripe's copy.
        let mut live = match LiveSubscription::from_profile(&snapshot.profile, self.stripe_now()) {
            Some(stored) => stored,
            None => self.live_from_stripe(&sub_id).await?,
        };
        let profile = &snapshot.profile;
        // A pending downgrade is superseded: its schedule would refuse the price change.
        let superseded = pending_change_id(profile);
        let wanted = Wanted {
            tier: target.clone(),
            cycle: requested_cycle,
            promotion_code,
        };
        let (updated, proration_date, cycle) = loop {
            match self
                .change_price(caller, request, profile, &live, &wanted)
                .await?
            {
                PriceChange::Done(updated, proration_date, cycle) => {
                    break (*updated, proration_date, cycle)
                }
                PriceChange::AskStripe => {
                    info!(subscription = %live.id, "the stored copy does not decide; asking Stripe");
                    live = self.live_from_stripe(&sub_id).await?;
                }
            }
        };
        let invoice = self.latest_invoice(&updated).await?;
        let paid = updated.pending_update.is_none()
            && invoice
                .as_ref()
                .is_none_or(|i| i.status.as_deref() == Some("paid"));
        if !paid {
            return self.unpaid_outcome(caller, invoice.as_ref()).await;
        }

        let charged = invoice
            .as_ref()
            .filter(|i| i.billing_reason.as_deref() == Some("subscription_update"))
            .map_or(0, |i| i.amount_paid);
        let currency = invoice
            .as_ref()
            .and_then(|i| i.currency.clone())
            .unwrap_or_else(|| self.catalog.currency.as_str().to_owned());
        let cause = api_cause("upgrade", &caller.user_id, request_id);
        let mut snapshot = snapshot;
        // Cleared when someone settled the superseded item first: record without settling it.
        let mut settle = true;
        for _ in 0..MAX_ATTEMPTS {
            let mut next = snapshot.profile.clone();
            let seen = Observation {
                source: &cause,
                at: self.stripe_now(),
                previous_status: None,
                kind: Seen::Answered,
            };
            apply_subscription(
                &mut next,
                &updated,
                &seen,
                self.clock.now(),
                &self.catalog,
                self.grace_days,
            )
            .map_err(|reason| {
                error!(%reason, "the upgraded subscription cannot be applied");
                ApiError::unavailable()
            })?;
            next.pending_change = None;
            let mut planned = Planned::new(next, "upgrade");
            planned.amount = Currency::parse(&currency)
                .ok()
                .map(|c| Money::new(charged, c));
            planned.stripe_refs = std::iter::once(updated.id.clone())
                .chain(invoice.as_ref().map(|i| i.id.clone()))
                .collect();
            let mut fields = Map::new();
            fields.insert("amount_charged".into(), json!(charged));
            fields.insert("currency".into(), json!(currency));
            planned.email_fields = Some(fields);
            if let Some(change_id) = superseded
                .clone()
                .filter(|_| settle && pending_change_id(&snapshot.profile).is_some())
            {
                planned.settle = vec![change_id];
                planned.records.push(record(
                    &snapshot.profile,
                    ChangeKind::ChangeWithdrawn,
                    (target.clone(), Some(cycle)),
                    self.clock.now(),
                    &cause,
                    "withdrawn",
                ));
            }
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::Done(_) | Committed::Unchanged(_) | Committed::AlreadyDone => {
                    info!(user_id = %caller.user_id, %target, %cycle, charged, "upgraded");
                    return Ok(UpgradeOutcome::Upgraded {
                        tier: target,
                        billing_cycle: cycle,
                        amount_charged: charged,
                        currency,
                        invoice_id: invoice.as_ref().map(|i| i.id.clone()),
                        proration_date,
                    });
                }
                Committed::NotPending => settle = false,
                Committed::Conflict => snapshot = self.load(&caller.user_id).await?,
            }
        }
        Err(busy())
    }

    /// Refuses an upgrade Stripe could only leave unpaid: no card to charge.
    /// Checks the upgrade against `live` and changes the price in Stripe. What `live` read
    /// from the stored profile would refuse, or Stripe refuses, is asked of Stripe's copy
    /// instead ([`PriceChange::AskStripe`]).
    async fn change_price(
        &self,
        caller: &Caller,
        request: &UpgradeRequest,
        profile: &BillingProfile,
        live: &LiveSubscription,
        wanted: &Wanted,
    ) -> Result<PriceChange, ApiError> {
        let (target, requested_cycle) = (&wanted.tier, wanted.cycle);
        let refuse = |e: ApiError| {
            if live.from_profile {
                Ok(PriceChange::AskStripe)
            } else {
                Err(e)
            }
        };
        if !live.live {
            return refuse(no_subscription());
        }
        let current = live.plan.clone().unwrap_or((
            profile.tier.clone(),
            profile.billing_cycle.unwrap_or(BillingCycle::Monthly),
        ));
        let cycle = requested_cycle.unwrap_or(current.1);
        match classify(
            &self.catalog,
            (&current.0, Some(current.1)),
            (target, cycle),
        ) {
            Transition::Upgrade => {}
            Transition::Invalid(why) => return refuse(ApiError::bad_request("invalid_plan", why)),
            Transition::Same => return refuse(not_an_upgrade("you are already on that plan")),
            Transition::Downgrade => {
                return refuse(not_an_upgrade(
                    "that is a downgrade: use /api/v1/subscriptions/downgrade",
                ))
            }
        }
        let Some(item_id) = live.item_id.as_deref() else {
            error!(subscription = %live.id, "a subscription without items");
            return Err(ApiError::unavailable());
        };
        let Some((start, end)) = live.period else {
            return refuse(no_subscription());
        };
        let now = self.clock.now();
        let proration_date = match request.proration_date {
            Some(date) => match accept_proration_date(date, now, start, end) {
                Ok(date) => date,
                Err(e) => return refuse(ApiError::bad_request("invalid_proration_date", e.0)),
            },
            None => proration_instant(now, start, end),
        };
        self.require_saved_card(live).await?;
        // Resolved before anything changes in Stripe: a plan without a price stops here.
        self.price_id(target, cycle).await?;
        if let Some(schedule) = &live.schedule {
            if let Err(e) = self.stripe.release_schedule(schedule).await {
                if e.is_transient() {
                    return Err(stripe_failure("release schedule", &e));
                }
                warn!(schedule, error = %e, "the schedule could not be released; it may already be");
            }
        }
        // Same user, subscription, target and proration instant: a double click replays the
        // first answer instead of charging twice. The retry from Stripe's copy is another call.
        let copy = if live.from_profile { "" } else { "stripe" };
        let scope = IdempotencyScope::new(["upgrade", caller.user_id.as_str(), &live.id, copy]);
        let answer = self
            .with_price_answer(target, cycle, |price| {
                let params = SubscriptionPriceChange {
                    item_id: item_id.to_owned(),
                    price,
                    proration_behavior: UPGRADE_PRORATION,
                    proration_date: Some(proration_date),
                    // Stripe's pending updates cannot carry a discount: with a promotion code
                    // the change is refused whole (402) unless it is paid at once.
                    payment_behavior: Some(if wanted.promotion_code.is_some() {
                        PaymentBehavior::ErrorIfIncomplete
                    } else {
                        PaymentBehavior::PendingIfIncomplete
                    }),
                    metadata: Default::default(),
                    promotion_code: wanted.promotion_code.clone(),
                };
                let (sub_id, scope) = (&live.id, &scope);
                async move {
                    self.stripe
                        .change_subscription_price(sub_id, &params, scope)
                        .await
                }
            })
            .await?;
        match answer {
            Ok(updated) => Ok(PriceChange::Done(Box::new(updated), proration_date, cycle)),
            Err(e) if super::promotion_code_refused(&e).is_some() => {
                Err(super::refusal_or_failure("change subscription price", &e))
            }
            Err(e) if refused_as_stale(live, &e) => {
                warn!(subscription = %live.id, error = %e, "Stripe refused the stored copy's price change");
                Ok(PriceChange::AskStripe)
            }
            Err(e) => Err(stripe_failure("change subscription price", &e)),
        }
    }

    async fn require_saved_card(&self, live: &LiveSubscription) -> Result<(), ApiError> {
        if live.has_payment_method {
            return Ok(());
        }
        let customer = self
            .stripe
            .retrieve_customer(&live.customer)
            .await
            .map_err(|e| stripe_failure("retrieve customer", &e))?;
        if customer.default_payment_method_id().is_some() {
            return Ok(());
        }
        let cards = self
            .stripe
            .list_card_payment_methods(&live.customer)
            .await
            .map_err(|e| stripe_failure("list payment methods", &e))?;
        if cards.is_empty() {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_method_required",
                "add a card first (POST /api/v1/billing/portal), then upgrade",
            ));
        }
        Ok(())
    }

    /// The update's latest invoice, expanded or fetched.
    async fn latest_invoice(&self, sub: &Subscription) -> Result<Option<Invoice>, ApiError> {
        match &sub.latest_invoice {
            None => Ok(None),
            Some(inv) => match inv.as_object() {
                Some(i) => Ok(Some(i.clone())),
                None => self
                    .stripe
                    .retrieve_invoice(inv.id())
                    .await
                    .map(Some)
                    .map_err(|e| stripe_failure("retrieve invoice", &e)),
            },
        }
    }

    /// An update Stripe holds back until paid: 3-D Secure to finish, or a decline (402 with
    /// Stripe's reason). The tier stays as it is either way.
    async fn unpaid_outcome(
        &self,
        caller: &Caller,
        invoice: Option<&Invoice>,
    ) -> Result<UpgradeOutcome, ApiError> {
        let intent: Option<PaymentIntent> = match invoice {
            None => None,
            Some(i) => match i.expanded_payment_intent() {
                Some(pi) => Some(pi.clone()),
                None => match i.payment_intent_id() {
                    Some(id) => Some(
                        self.stripe
                            .retrieve_payment_intent(id)
                            .await
                            .map_err(|e| stripe_failure("retrieve payment intent", &e))?,
                    ),
                    None => None,
                },
            },
        };
        match intent {
            Some(pi) if pi.requires_action() => {
                info!(user_id = %caller.user_id, payment_intent = %pi.id, "upgrade waits for 3-D Secure");
                Ok(UpgradeOutcome::RequiresAction {
                    client_secret: pi.client_secret.clone(),
                    action_url: pi.action_url().map(str::to_owned),
                    payment_intent_id: pi.id,
                })
            }
            Some(pi) => {
                let error = pi.last_payment_error.unwrap_or_default();
                let reason = error
                    .decline_code
                    .or(error.code)
                    .unwrap_or_else(|| "card_declined".into());
                let message = error
                    .message
                    .unwrap_or_else(|| "Your card was declined.".into());
                info!(user_id = %caller.user_id, %reason, "upgrade declined; tier unchanged");
                Err(ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "card_declined",
                    format!("{message} ({reason})"),
                ))
            }
            None => Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_failed",
                "the upgrade could not be paid; your plan is unchanged",
            )),
        }
    }
}

fn not_an_upgrade(message: &str) -> ApiError {
    ApiError::bad_request("not_an_upgrade", message)
}

/// How one try at the price change ended.
enum PriceChange {
    /// Stripe's answer, the proration instant and the billing cycle.
    Done(Box<Subscription>, i64, BillingCycle),
    /// The stored copy did not decide: read Stripe's and try again.
    AskStripe,
}
