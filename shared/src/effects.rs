//! What a change of a billing profile means to the rest of the world: the audit items, the
//! sync job, the domain events and the email. Pure: the same before/after always gives the same
//! effects, so the webhook and the API describe a change the same way.

use crate::domain::time::rfc3339;
use crate::domain::{access_for, Access, BillingProfile, Catalog, SubscriptionStatus};
use crate::ports::{ChangeKind, ChangeRecord, DomainEvent, Outbox, SyncJob};
use serde_json::{json, Map, Value};

/// Audit items plus the outbox for one profile change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Audit items, written in the same transaction as the profile.
    pub changes: Vec<ChangeRecord>,
    /// Sync jobs and domain events, published by the relay after the commit.
    pub outbox: Outbox,
}

impl Effects {
    /// True when the change touched nothing anyone else needs to hear about.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.outbox.is_empty()
    }

    /// Adds an email-only job (receipts, failures) to the outbox, merged into the state sync
    /// job when there is one so the user gets one message.
    pub fn add_email(
        &mut self,
        user: &BillingProfile,
        template: &str,
        fields: Map<String, Value>,
        cause: &str,
    ) {
        if let Some(job) = self
            .outbox
            .jobs
            .iter_mut()
            .find(|j| j.user_id == user.user_id)
        {
            if job.email.is_none() {
                job.targets.push(crate::ports::SyncTarget::Email);
                job.email = Some(template.to_owned());
                job.email_fields = fields;
                return;
            }
        }
        self.outbox.jobs.push(SyncJob {
            user_id: user.user_id.clone(),
            targets: vec![crate::ports::SyncTarget::Email],
            email: Some(template.to_owned()),
            email_fields: fields,
            cause: cause.to_owned(),
            stripe_action: None,
        });
    }

    /// As [`Effects::add_email`], but the message takes the place of the one the change itself
    /// would send (a won dispute says why access is back, not a plain confirmation).
    pub fn replace_email(
        &mut self,
        user: &BillingProfile,
        template: &str,
        fields: Map<String, Value>,
        cause: &str,
    ) {
        match self
            .outbox
            .jobs
            .iter_mut()
            .find(|j| j.user_id == user.user_id)
        {
            Some(job) if job.email.is_some() => {
                job.email = Some(template.to_owned());
                job.email_fields = fields;
            }
            _ => self.add_email(user, template, fields, cause),
        }
    }

    /// Adds a change the worker makes in Stripe, on the user's job when there is one (one job
    /// per event and user).
    pub fn add_stripe_action(
        &mut self,
        user: &BillingProfile,
        action: crate::ports::StripeAction,
        cause: &str,
    ) {
        match self
            .outbox
            .jobs
            .iter_mut()
            .find(|j| j.user_id == user.user_id)
        {
            Some(job) => job.stripe_action = Some(action),
            None => self.outbox.jobs.push(SyncJob {
                user_id: user.user_id.clone(),
                targets: vec![],
                email: None,
                email_fields: Map::new(),
                cause: cause.to_owned(),
                stripe_action: Some(action),
            }),
        }
    }

    /// Adds a domain event for the bus; its id is `{cause}:{detail_type}`, so a redelivered cause
    /// yields the same id.
    pub fn add_event(
        &mut self,
        user: &BillingProfile,
        detail_type: &str,
        detail: Value,
        cause: &str,
    ) {
        self.outbox.events.push(DomainEvent {
            id: format!("{cause}:{detail_type}"),
            detail_type: detail_type.to_owned(),
            user_id: user.user_id.clone(),
            detail,
        });
    }
}

/// Describes the change from `before` to `after`, caused by `cause` (a Stripe event id or an
/// API request id) at `now`; the catalog says which tier is free and how tiers rank.
pub fn describe_change(
    catalog: &Catalog,
    before: &BillingProfile,
    after: &BillingProfile,
    now: i64,
    cause: &str,
) -> Effects {
    let mut effects = Effects::default();
    let record = |kind: ChangeKind, effects: &mut Effects| {
        effects.changes.push(ChangeRecord {
            user_id: after.user_id.clone(),
            change_id: format!("{now:012}#{cause}#{}", effects.changes.len()),
            kind,
            from_tier: before.tier.clone(),
            to_tier: after.tier.clone(),
            billing_cycle: after.billing_cycle,
            recorded_at: now,
            due_at: None,
            pending: false,
            cause: cause.to_owned(),
            amount: None,
            stripe_refs: vec![],
        });
    };

    let (access_before, access_after) = (
        access_for(before, catalog, now),
        access_for(after, catalog, now),
    );
    let mut email: Option<&str> = None;

    if before.tier != after.tier {
        let kind = if catalog.is_free(&after.tier) {
            ChangeKind::Canceled
        } else if catalog.is_free(&before.tier) {
            ChangeKind::Subscribed
        } else if catalog.ranks_above(&after.tier, &before.tier) {
            ChangeKind::Upgraded
        } else {
            ChangeKind::Downgraded
        };
        record(kind, &mut effects);
        email = match kind {
            ChangeKind::Subscribed | ChangeKind::Upgraded => Some("subscription_confirmed"),
            ChangeKind::Downgraded => Some("downgrade_applied"),
            _ if after.revocation.is_none() => Some("subscription_canceled"),
            _ => None,
        };
        effects.add_event(
            after,
            "subscription.tier_changed",
            json!({"from": before.tier, "to": after.tier, "billing_cycle": after.billing_cycle}),
            cause,
        );
    }
    if access_before != access_after {
        let kind = match access_after {
            Access::Revoked => ChangeKind::AccessRevoked,
            Access::Grace => ChangeKind::GraceStarted,
            Access::Active => ChangeKind::AccessRestored,
        };
        record(kind, &mut effects);
        let detail_type = match access_after {
            Access::Revoked => "access.revoked",
            Access::Grace => "access.grace_started",
            Access::Active => "access.restored",
        };
        effects.add_event(
            after,
            detail_type,
            json!({
                "access": access_after,
                "reason": after.revocation.as_ref().map(|r| r.reason.clone()),
                "grace_until": after.grace_until.map(rfc3339),
            }),
            cause,
        );
    }
    if before.cancel_at_period_end != after.cancel_at_period_end && !catalog.is_free(&after.tier) {
        let scheduled = after.cancel_at_period_end;
        record(
            if scheduled {
                ChangeKind::CancellationScheduled
            } else {
                ChangeKind::Resumed
            },
            &mut effects,
        );
        email = email.or(Some(if scheduled {
            "cancellation_scheduled"
        } else {
            "resumed"
        }));
        effects.add_event(
            after,
            if scheduled {
                "subscription.cancellation_scheduled"
            } else {
                "subscription.resumed"
            },
            json!({"ends_at": after.current_period_end.map(rfc3339)}),
            cause,
        );
    }
    let trialing = |p: &BillingProfile| p.status == SubscriptionStatus::Trialing;
    if !trialing(before) && trialing(after) {
        record(ChangeKind::TrialStarted, &mut effects);
        email = Some("trial_started");
        effects.add_event(
            after,
            "trial.started",
            json!({"tier": after.tier, "trial_end": after.trial_end.map(rfc3339)}),
            cause,
        );
    } else if trialing(before) && after.status == SubscriptionStatus::Active {
        record(ChangeKind::TrialConverted, &mut effects);
        email = email.or(Some("subscription_confirmed"));
        effects.add_event(
            after,
            "trial.converted",
            json!({"tier": after.tier, "billing_cycle": after.billing_cycle}),
            cause,
        );
    } else if trialing(before)
        && (after.status == SubscriptionStatus::Paused || !after.status.is_live())
    {
        let outcome = if after.status == SubscriptionStatus::Paused {
            "paused"
        } else {
            "canceled"
        };
        record(ChangeKind::TrialExpired, &mut effects);
        email = Some("trial_expired");
        effects.add_event(
            after,
            "trial.expired",
            json!({"tier": before.tier, "outcome": outcome}),
            cause,
        );
    }
    if before.status != after.status && effects.changes.is_empty() {
        record(ChangeKind::StatusChanged, &mut effects);
    }

    // Keycloak and Lago mirror tier, status, ids and period: sync when any of them moved.
    let synced_fields_changed = before.tier != after.tier
        || before.status != after.status
        || before.customer_id != after.customer_id
        || before.subscription_id != after.subscription_id
        || before.current_period_end != after.current_period_end
        || before.billing_cycle != after.billing_cycle
        || access_before != access_after;
    if synced_fields_changed {
        effects
            .outbox
            .jobs
            .push(SyncJob::state(after.user_id.clone(), cause));
    }
    if let Some(template) = email {
        let mut fields = Map::new();
        fields.insert("tier".into(), json!(after.tier));
        fields.insert("previous_tier".into(), json!(before.tier));
        if let Some(end) = after.trial_end {
            fields.insert("trial_end".into(), json!(rfc3339(end)));
        }
        if let Some(end) = after.current_period_end {
            fields.insert("period_end".into(), json!(rfc3339(end)));
        }
        effects.add_email(after, template, fields, cause);
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::Revocation;
    use crate::domain::tier::tier;
    use crate::domain::{SubscriptionStatus, UserId};
    use crate::ports::SyncTarget;

    fn free() -> BillingProfile {
        BillingProfile::new_free(
            UserId::parse("u1").unwrap(),
            &crate::domain::Catalog::built_in(),
        )
    }

    fn paid(tier: crate::domain::Tier) -> BillingProfile {
        let mut p = free();
        p.tier = tier;
        p.status = SubscriptionStatus::Active;
        p.subscription_id = Some("sub_1".into());
        p.customer_id = Some("cus_1".into());
        p.current_period_end = Some(2_000_000);
        p
    }

    fn kinds(e: &Effects) -> Vec<ChangeKind> {
        e.changes.iter().map(|c| c.kind).collect()
    }

    fn detail_types(e: &Effects) -> Vec<&str> {
        e.outbox
            .events
            .iter()
            .map(|d| d.detail_type.as_str())
            .collect()
    }

    #[test]
    fn subscribing_is_audited_synced_published_and_emailed() {
        let e = describe_change(
            &crate::domain::Catalog::built_in(),
            &free(),
            &paid(tier("professional")),
            100,
            "evt_1",
        );
        assert_eq!(kinds(&e), [ChangeKind::Subscribed]);
        assert_eq!(detail_types(&e), ["subscription.tier_changed"]);
        assert_eq!(e.outbox.jobs.len(), 1);
        let job = &e.outbox.jobs[0];
        assert_eq!(
            job.targets,
            [SyncTarget::Keycloak, SyncTarget::Lago, SyncTarget::Email]
        );
        assert_eq!(job.email.as_deref(), Some("subscription_confirmed"));
        assert_eq!(e.outbox.events[0].id, "evt_1:subscription.tier_changed");
    }

    #[test]
    fn change_table() {
        let mut past_due = paid(tier("starter"));
        past_due.status = SubscriptionStatus::PastDue;
        past_due.grace_until = Some(1_000);
        let mut expired_grace = past_due.clone();
        expired_grace.grace_until = Some(50);
        let mut disputed = paid(tier("starter"));
        disputed.tier = tier("free");
        disputed.revocation = Some(Revocation {
            reason: "dispute".into(),
            at: 100,
            stripe_action: None,
        });
        let mut canceling = paid(tier("starter"));
        canceling.cancel_at_period_end = true;

        type Case<'a> = (
            &'a str,
            BillingProfile,
            BillingProfile,
            Vec<ChangeKind>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "upgrade",
                paid(tier("starter")),
                paid(tier("enterprise")),
                vec![ChangeKind::Upgraded],
                vec!["subscription.tier_changed"],
            ),
            (
                "downgrade",
                paid(tier("enterprise")),
                paid(tier("starter")),
                vec![ChangeKind::Downgraded],
                vec!["subscription.tier_changed"],
            ),
            (
                "deleted",
                paid(tier("starter")),
                free(),
                vec![ChangeKind::Canceled],
                vec!["subscription.tier_changed"],
            ),
            (
                "grace starts",
                paid(tier("starter")),
                past_due.clone(),
                vec![ChangeKind::GraceStarted],
                vec!["access.grace_started"],
            ),
            (
                "grace ran out",
                past_due,
                expired_grace,
                vec![ChangeKind::AccessRevoked],
                vec!["access.revoked"],
            ),
            (
                "dispute",
                paid(tier("starter")),
                disputed,
                vec![ChangeKind::Canceled, ChangeKind::AccessRevoked],
                vec!["subscription.tier_changed", "access.revoked"],
            ),
            (
                "cancel at period end",
                paid(tier("starter")),
                canceling.clone(),
                vec![ChangeKind::CancellationScheduled],
                vec!["subscription.cancellation_scheduled"],
            ),
            (
                "resume",
                canceling,
                paid(tier("starter")),
                vec![ChangeKind::Resumed],
                vec!["subscription.resumed"],
            ),
            (
                "nothing",
                paid(tier("starter")),
                paid(tier("starter")),
                vec![],
                vec![],
            ),
        ];
        for (name, before, after, want_kinds, want_events) in cases {
            let e = describe_change(
                &crate::domain::Catalog::built_in(),
                &before,
                &after,
                100,
                "evt",
            );
            assert_eq!(kinds(&e), want_kinds, "{name}");
            assert_eq!(detail_types(&e), want_events, "{name}");
        }
    }

    #[test]
    fn an_unchanged_profile_has_no_effects() {
        assert!(describe_change(
            &crate::domain::Catalog::built_in(),
            &paid(tier("starter")),
            &paid(tier("starter")),
            1,
            "evt"
        )
        .is_empty());
    }
}
