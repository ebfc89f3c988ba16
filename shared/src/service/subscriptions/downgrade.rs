//! `POST /api/v1/subscriptions/downgrade {target_tier, billing_cycle?}` and
//! `DELETE /api/v1/subscriptions/pending-change`. A downgrade keeps the current plan until the
//! period ends; Stripe carries it with a subscription schedule (phase 0: the current price
//! until period end, phase 1: the new price), which does not race the renewal. Tierflow keeps
//! a pending scheduled item, due at period end, that `apply-scheduled-changes` settles.

use super::{
    api_cause, busy, no_subscription, pending_change_id, record, refused_as_stale, stripe_failure,
    Committed, LiveSubscription, Planned, SubscriptionService, MAX_ATTEMPTS,
};
use crate::auth::Caller;
use crate::domain::time::rfc3339;
use crate::domain::{classify, BillingCycle, BillingProfile, PendingChange, Tier, Transition};
use crate::http::ApiError;
use crate::ports::ChangeKind;
use crate::service::current_subscription::SubscriptionView;
use crate::stripe::{IdempotencyScope, Metadata, ScheduledPriceChange};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use tracing::{error, info, warn};

/// The body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DowngradeRequest {
    /// A lower paid tier's API word; `free` is refused (cancelling is its own route).
    pub target_tier: String,
    /// `monthly` or `yearly`; `None` keeps the current cycle.
    #[serde(default)]
    pub billing_cycle: Option<String>,
}

/// The scheduled downgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DowngradeView {
    /// Always `scheduled`, also when the same downgrade was already pending.
    pub status: &'static str,
    /// The tier kept until `effective_at`.
    pub current_tier: Tier,
    /// The tier from `effective_at` on.
    pub target_tier: Tier,
    /// The cycle the lower plan renews on.
    pub billing_cycle: BillingCycle,
    /// When the lower plan takes over (the current period's end).
    pub effective_at: String,
    /// What the next renewal bills, in minor units.
    pub new_price: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
}

impl SubscriptionService {
    /// Schedules the caller's downgrade for the end of the current period.
    pub async fn schedule_downgrade(
        &self,
        caller: &Caller,
        request: &DowngradeRequest,
        request_id: &str,
    ) -> Result<DowngradeView, ApiError> {
        let target = self.named_tier(&request.target_tier)?;
        let requested_cycle = match &request.billing_cycle {
            Some(raw) => Some(
                BillingCycle::parse(raw)
                    .map_err(|e| ApiError::bad_request("invalid_billing_cycle", e.0))?,
            ),
            None => None,
        };
        let snapshot = self.limit_and_load(caller, true).await?;
        let sub_id = snapshot
            .live_subscription()
            .map(str::to_owned)
            .ok_or_else(no_subscription)?;
        if snapshot.profile.cancel_at_period_end {
            return Err(ApiError::conflict(
                "cancellation_pending",
                "the subscription ends at period end; resume it before changing plans",
            ));
        }
        // The stored profile's copy where it is current; Stripe's when it is not, or when the
        // stored copy would refuse or Stripe's answer contradicts it.
        let mut live = match LiveSubscription::from_profile(&snapshot.profile, self.stripe_now()) {
            Some(stored) => stored,
            None => self.live_from_stripe(&sub_id).await?,
        };
        let profile = &snapshot.profile;
        let scheduled = loop {
            match self
                .schedule_with(caller, profile, &live, target.clone(), requested_cycle)
                .await?
            {
                Some(done) => break done,
                None => {
                    info!(subscription = %live.id, "the stored copy does not decide; asking Stripe");
                    live = self.live_from_stripe(&sub_id).await?;
                }
            }
        };
        let (current, cycle) = match &scheduled {
            Scheduling::Scheduled { current, cycle, .. }
            | Scheduling::AlreadyPending { current, cycle, .. } => (current.clone(), *cycle),
        };
        let new_price = self
            .catalog
            .price(&target, cycle)
            .map_or(0, |p| p.unit_amount);
        let currency = self.catalog.currency.as_str().to_owned();
        let view = |effective_at: i64| DowngradeView {
            status: "scheduled",
            current_tier: current.0.clone(),
            target_tier: target.clone(),
            billing_cycle: cycle,
            effective_at: rfc3339(effective_at),
            new_price,
            currency: currency.clone(),
        };
        let (end, schedule) = match scheduled {
            Scheduling::AlreadyPending { effective_at, .. } => return Ok(view(effective_at)),
            Scheduling::Scheduled { end, schedule, .. } => (end, schedule),
        };
        let sub_id = live.id.clone();

        let cause = api_cause("downgrade", &caller.user_id, request_id);
        let mut snapshot = snapshot;
        let mut settle = true;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let mut scheduled = record(
                &snapshot.profile,
                ChangeKind::DowngradeScheduled,
                (target.clone(), Some(cycle)),
                now,
                &cause,
                "scheduled",
            );
            scheduled.due_at = Some(end);
            scheduled.pending = true;
            scheduled.stripe_refs = vec![sub_id.clone(), schedule.clone()];
            let mut next = snapshot.profile.clone();
            next.pending_change = Some(PendingChange {
                target_tier: target.clone(),
                billing_cycle: Some(cycle),
                effective_at: end,
                schedule_id: Some(schedule.clone()),
                change_id: Some(scheduled.change_id.clone()),
                scheduled_at: Some(self.stripe_now()),
            });
            let mut planned = Planned::new(next, "downgrade_scheduled");
            if let Some(previous) = pending_change_id(&snapshot.profile).filter(|_| settle) {
                planned.settle.push(previous);
                planned.records.push(record(
                    &snapshot.profile,
                    ChangeKind::ChangeWithdrawn,
                    (target.clone(), Some(cycle)),
                    now,
                    &cause,
                    "superseded",
                ));
            }
            planned.records.push(scheduled);
            planned.events.push((
                "subscription.downgrade_scheduled",
                json!({"from": current.0, "to": target, "billing_cycle": cycle, "effective_at": rfc3339(end)}),
            ));
            let mut fields = Map::new();
            fields.insert("tier".into(), json!(target));
            fields.insert("previous_tier".into(), json!(current.0));
            fields.insert("effective_at".into(), json!(rfc3339(end)));
            fields.insert("new_price".into(), json!(new_price));
            fields.insert("currency".into(), json!(currency));
            planned.email = Some(("downgrade_scheduled", fields));
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::NotPending => settle = false,
                Committed::Conflict => snapshot = self.load(&caller.user_id).await?,
                _ => {
                    info!(user_id = %caller.user_id, %target, %cycle, effective_at = end, "downgrade scheduled");
                    return Ok(view(end));
                }
            }
        }
        Err(busy())
    }

    /// Checks the downgrade against `live` and schedules it in Stripe (phase 0: the current
    /// price until period end, phase 1: the target's). A schedule made from the stored copy
    /// is checked against Stripe's answer: its first phase is the subscription as it is.
    /// `None`: the stored copy did not decide; read Stripe's and try again.
    async fn schedule_with(
        &self,
        caller: &Caller,
        profile: &BillingProfile,
        live: &LiveSubscription,
        target: Tier,
        requested_cycle: Option<BillingCycle>,
    ) -> Result<Option<Scheduling>, ApiError> {
        let refuse = |e: ApiError| {
            if live.from_profile {
                Ok(None)
            } else {
                Err(e)
            }
        };
        let current = live.plan.clone().unwrap_or((
            profile.tier.clone(),
            profile.billing_cycle.unwrap_or(BillingCycle::Monthly),
        ));
        let cycle = requested_cycle.unwrap_or(current.1);
        match classify(
            &self.catalog,
            (&current.0, Some(current.1)),
            (&target, cycle),
        ) {
            Transition::Downgrade => {}
            Transition::Invalid(why) => return refuse(ApiError::bad_request("invalid_plan", why)),
            Transition::Same => {
                return refuse(ApiError::bad_request(
                    "not_a_downgrade",
                    "you are already on that plan",
                ))
            }
            Transition::Upgrade => {
                return refuse(ApiError::bad_request(
                    "not_a_downgrade",
                    "that is an upgrade: use /api/v1/subscriptions/upgrade",
                ))
            }
        }
        if let Some(pending) = &profile.pending_change {
            if pending.target_tier == target && pending.billing_cycle == Some(cycle) {
                return Ok(Some(Scheduling::AlreadyPending {
                    current,
                    cycle,
                    effective_at: pending.effective_at,
                }));
            }
        }
        let (Some(_), Some((start, end))) = (&live.item_id, live.period) else {
            return refuse(no_subscription());
        };
        // Resolved before anything changes in Stripe: a plan without a price stops here.
        self.price_id(&target, cycle).await?;
        let (schedule, quantity) = match &live.schedule {
            Some(id) => (id.clone(), live.quantity),
            None => {
                let scope = IdempotencyScope::new([
                    "downgrade",
                    caller.user_id.as_str(),
                    &live.id,
                    &end.to_string(),
                ]);
                let created = match self
                    .stripe
                    .create_schedule_from_subscription(&live.id, &scope)
                    .await
                {
                    Ok(created) => created,
                    Err(e) if refused_as_stale(live, &e) => return Ok(None),
                    Err(e) => return Err(stripe_failure("create schedule", &e)),
                };
                let phase = created.phases.first();
                let phase_item = phase.and_then(|p| p.items.first());
                let as_stored = phase_item.map(|i| i.price.id()) == live.price_id.as_deref()
                    && phase.and_then(|p| p.start_date.zip(p.end_date)) == Some((start, end));
                if live.from_profile && !as_stored {
                    // Stripe's copy shows the schedule just made, and it is reused.
                    return Ok(None);
                }
                let quantity = phase_item.and_then(|i| i.quantity).or(live.quantity);
                (created.id, quantity)
            }
        };
        let Some(current_price) = live.price_id.clone() else {
            error!(subscription = %live.id, "a subscription item without a price");
            return Err(ApiError::unavailable());
        };
        self.with_price(&target, cycle, "schedule price change", |price| {
            let change = ScheduledPriceChange {
                current_price: current_price.clone(),
                phase_start: start,
                change_at: end,
                new_price: price,
                quantity: quantity.unwrap_or(1).max(1) as u32,
                metadata: Metadata::from([
                    ("user_id".to_owned(), caller.user_id.as_str().to_owned()),
                    ("tierflow_change".to_owned(), "downgrade".to_owned()),
                    ("target_tier".to_owned(), target.as_str().to_owned()),
                ]),
            };
            let schedule = &schedule;
            async move { self.stripe.schedule_price_change(schedule, &change).await }
        })
        .await?;
        Ok(Some(Scheduling::Scheduled {
            current,
            cycle,
            end,
            schedule,
        }))
    }

    /// Withdraws the caller's scheduled downgrade and releases its Stripe schedule.
    pub async fn withdraw_pending_change(
        &self,
        caller: &Caller,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let cause = api_cause("withdraw", &caller.user_id, request_id);
        let mut snapshot = self.limit_and_load(caller, false).await?;
        let mut released = false;
        for _ in 0..MAX_ATTEMPTS {
            let Some(pending) = snapshot.profile.pending_change.clone() else {
                return Err(ApiError::not_found(
                    "no_pending_change",
                    "there is no scheduled change to withdraw",
                ));
            };
            if !released {
                if let Some(schedule) = &pending.schedule_id {
                    if let Err(e) = self.stripe.release_schedule(schedule).await {
                        if e.is_transient() {
                            return Err(stripe_failure("release schedule", &e));
                        }
                        // Already released or completed: nothing left to undo in Stripe.
                        warn!(schedule, error = %e, "the schedule was not active");
                    }
                }
                released = true;
            }
            let mut next = snapshot.profile.clone();
            next.pending_change = None;
            let mut planned = Planned::new(next, "change_withdrawn");
            planned.settle = pending.change_id.iter().cloned().collect();
            let mut withdrawn = record(
                &snapshot.profile,
                ChangeKind::ChangeWithdrawn,
                (pending.target_tier.clone(), pending.billing_cycle),
                self.clock.now(),
                &cause,
                "withdrawn",
            );
            withdrawn.stripe_refs = pending.schedule_id.iter().cloned().collect();
            planned.records.push(withdrawn);
            planned.events.push((
                "subscription.downgrade_withdrawn",
                json!({"tier": snapshot.profile.tier, "withdrawn_target": pending.target_tier}),
            ));
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::Done(p) | Committed::Unchanged(p) => return Ok(self.view(&p)),
                Committed::AlreadyDone => {
                    return Ok(self.view(&self.load(&caller.user_id).await?.profile))
                }
                Committed::NotPending => {
                    error!(user_id = %caller.user_id, "the scheduled change was applied before it could be withdrawn");
                    return Err(ApiError::conflict(
                        "change_already_applied",
                        "the scheduled change has already taken effect",
                    ));
                }
                Committed::Conflict => snapshot = self.load(&caller.user_id).await?,
            }
        }
        Err(busy())
    }
}

/// How one try at scheduling a downgrade ended.
enum Scheduling {
    /// Scheduled in Stripe: `schedule` changes the price at `end`.
    Scheduled {
        current: (Tier, BillingCycle),
        cycle: BillingCycle,
        end: i64,
        schedule: String,
    },
    /// The same downgrade is already scheduled.
    AlreadyPending {
        current: (Tier, BillingCycle),
        cycle: BillingCycle,
        effective_at: i64,
    },
}
