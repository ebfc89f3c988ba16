//! Charges, refunds and disputes: the history item, and revoking or restoring access.

use super::*;

/// Withdraws paid access for `reason` and says what Stripe must do so the customer is not billed
/// again: the change rides on the event's job, keyed by the event, so the worker makes it once.
pub(super) fn revoke(
    profile: &mut BillingProfile,
    reason: &str,
    action: RevocationAction,
    event: &Event,
    input: &Input<'_>,
) -> Option<StripeAction> {
    let change = match action {
        RevocationAction::CancelNow => Some(SubscriptionChange::CancelNow),
        // A subscription already ending needs nothing, and must not be resumed if the
        // revocation is undone.
        RevocationAction::CancelAtPeriodEnd if !profile.cancel_at_period_end => {
            Some(SubscriptionChange::CancelAtPeriodEnd)
        }
        RevocationAction::CancelAtPeriodEnd | RevocationAction::RevokeOnly => None,
    };
    let stripe_action = match (&profile.subscription_id, change) {
        (Some(subscription_id), Some(change)) if profile.status.is_live() => Some(StripeAction {
            subscription_id: subscription_id.clone(),
            change,
            requested_by: event.id.clone(),
        }),
        _ => None,
    };
    profile.revocation = Some(Revocation {
        reason: reason.into(),
        at: event.created,
        stripe_action: stripe_action.as_ref().map(|_| action),
    });
    profile.tier = input.catalog.free_tier().clone();
    profile.updated_at = input.now;
    stripe_action
}

/// The history item a dispute is about, with the dispute's ids added.
pub(super) fn disputed_payment(
    dispute: &Dispute,
    input: &Input<'_>,
    event: &Event,
) -> Option<PaymentRecord> {
    let mut payment = match input.linked_invoice {
        Some(invoice) => Some(linked_invoice_payment(event, invoice, input)),
        None => input.existing_payment.cloned(),
    }?;
    let intent = dispute.payment_intent.as_ref().map(|p| p.id());
    for r in [Some(dispute.id.as_str()), dispute.charge_id(), intent]
        .into_iter()
        .flatten()
    {
        add_ref(&mut payment, r);
    }
    Some(payment)
}

pub(super) fn dispute_created(
    event: &Event,
    dispute: &Dispute,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let mut profile = input.profile.clone();
    let stripe_action = revoke(
        &mut profile,
        "dispute",
        policy.revocation.on_dispute,
        event,
        input,
    );
    let mut payments = vec![];
    if let Some(mut p) = disputed_payment(dispute, input, event) {
        p.status = PaymentStatus::Disputed;
        payments.push(p);
    }
    let mut app = application(
        event,
        input,
        profile,
        payments,
        vec![],
        format!("dispute {} opened", dispute.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(dispute.amount));
    fields.insert("currency".into(), json!(dispute.currency));
    fields.insert("reason".into(), json!(dispute.reason));
    app.effects
        .add_email(&app.profile, "dispute", fields, &event.id);
    if let Some(action) = stripe_action {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    Decision::Apply(Box::new(app))
}

/// A dispute decided: `won` (the payment stands) gives back the access the dispute took while
/// the subscription lives, resuming a subscription the revocation set to end; `lost` keeps the
/// revocation. The payment in the history shows the outcome either way.
pub(super) fn dispute_closed(
    event: &Event,
    dispute: &Dispute,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let outcome = dispute.status.as_deref().unwrap_or("closed");
    let won = outcome == "won";
    let mut profile = input.profile.clone();
    let revoked_by_dispute = profile
        .revocation
        .as_ref()
        .is_some_and(|r| r.reason == "dispute");
    let mut resume = None;
    if won && revoked_by_dispute {
        let revocation = profile.revocation.take();
        if let Some(sub_id) = profile.subscription_id.clone() {
            let Some(sub) = input.fetched_subscription.filter(|s| s.id == sub_id) else {
                return Decision::FetchSubscription(sub_id);
            };
            if let Err(reason) = apply_subscription(&mut profile, sub, event, None, input, policy) {
                return Decision::Fail(reason);
            }
            let ended_by_revocation = revocation.and_then(|r| r.stripe_action)
                == Some(RevocationAction::CancelAtPeriodEnd);
            if ended_by_revocation
                && sub.cancel_at_period_end
                && SubscriptionStatus::from_stripe(&sub.status).is_live()
            {
                resume = Some(StripeAction {
                    subscription_id: sub.id.clone(),
                    change: SubscriptionChange::Resume,
                    requested_by: event.id.clone(),
                });
            }
        }
        profile.updated_at = input.now;
    }
    let mut payments = vec![];
    if let Some(mut p) = disputed_payment(dispute, input, event) {
        match outcome {
            "won" => p.status = PaymentStatus::DisputeWon,
            "lost" => p.status = PaymentStatus::DisputeLost,
            _ => {}
        }
        payments.push(p);
    }
    let restored = won && revoked_by_dispute;
    let mut app = application(
        event,
        input,
        profile,
        payments,
        vec![],
        format!("dispute {} closed: {outcome}", dispute.id),
    );
    if restored {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(dispute.amount));
        fields.insert("currency".into(), json!(dispute.currency));
        app.effects
            .replace_email(&app.profile, "dispute_won", fields, &event.id);
    }
    if let Some(action) = resume {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    Decision::Apply(Box::new(app))
}

pub(super) fn charge_refunded(
    event: &Event,
    charge: &Charge,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let linked = input
        .linked_invoice
        .map(|invoice| linked_invoice_payment(event, invoice, input));
    let mut payment = linked
        .or_else(|| input.existing_payment.cloned())
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: charge.payment_intent_id().unwrap_or(&charge.id).to_owned(),
            stripe_refs: vec![],
            created: charge.created.unwrap_or(event.created),
            amount: charge.amount,
            currency: charge.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: charge.description.clone(),
            card_brand: charge.card().and_then(|c| c.brand.clone()),
            card_last4: charge.card().and_then(|c| c.last4.clone()),
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: charge.created,
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
            tax: 0,
            version: 0,
        });
    for r in charge_refs(charge) {
        add_ref(&mut payment, &r);
    }
    add_receipt(&mut payment, charge);
    let full = charge.is_fully_refunded();
    payment.amount_refunded = charge.amount_refunded;
    payment.refunded_at = Some(event.created);
    if !payment.status.is_disputed() {
        payment.status = if full {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
    }
    let mut profile = input.profile.clone();
    let refunds_current_subscription = full
        && payment.subscription_id.is_some()
        && payment.subscription_id == profile.subscription_id;
    let stripe_action = refunds_current_subscription
        .then(|| {
            revoke(
                &mut profile,
                "refund",
                policy.revocation.on_full_refund,
                event,
                input,
            )
        })
        .flatten();
    let mut app = application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!(
            "charge {} refunded ({})",
            charge.id,
            if full { "full" } else { "partial" }
        ),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(charge.amount_refunded));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("full".into(), json!(full));
    app.effects
        .add_email(&app.profile, "refund", fields, &event.id);
    if let Some(action) = stripe_action {
        app.effects
            .add_stripe_action(&app.profile, action, &event.id);
    }
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

/// A successful charge carries the card: it fills brand and last4 into the payment it belongs
/// to, creating the history item when the charge arrives before its payment intent or invoice
/// event (which then merge into it: a subscription payment's item is keyed by its invoice, as
/// Stripe named it, so every order gives one item). Receipts and domain events come from
/// those events.
pub(super) fn charge_succeeded(event: &Event, charge: &Charge, input: &Input<'_>) -> Decision {
    let linked = input.linked_invoice.map(|invoice| {
        let mut p = linked_invoice_payment(event, invoice, input);
        p.paid_at = p.paid_at.or(charge.created).or(Some(event.created));
        p
    });
    let mut payment = linked
        .or_else(|| input.existing_payment.cloned())
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: charge.payment_intent_id().unwrap_or(&charge.id).to_owned(),
            stripe_refs: vec![],
            created: charge.created.unwrap_or(event.created),
            amount: charge.amount,
            currency: charge.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: charge.description.clone(),
            card_brand: None,
            card_last4: None,
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: charge.created.or(Some(event.created)),
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
            tax: 0,
            version: 0,
        });
    for r in charge_refs(charge) {
        add_ref(&mut payment, &r);
    }
    add_receipt(&mut payment, charge);
    if let Some(card) = charge.card() {
        payment.card_brand = card.brand.clone().or(payment.card_brand);
        payment.card_last4 = card.last4.clone().or(payment.card_last4);
    }
    Decision::Apply(Box::new(application(
        event,
        input,
        input.profile.clone(),
        vec![payment],
        vec![],
        format!("charge {} succeeded", charge.id),
    )))
}
