//! An invoice paid, failed or waiting for 3-D Secure: the history item and the grace period.

use super::*;

pub(super) fn invoice_description(invoice: &Invoice) -> String {
    invoice
        .lines
        .data
        .iter()
        .filter_map(|l| l.description.clone())
        .next()
        .unwrap_or_else(|| "Subscription".to_owned())
}

/// The history item for an invoice, merged into the one already recorded under any of its ids.
pub(super) fn invoice_payment(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
    status: PaymentStatus,
    amount: i64,
) -> PaymentRecord {
    let refs = invoice_refs(invoice);
    let mut payment = input
        .existing_payment
        .cloned()
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: invoice.id.clone(),
            stripe_refs: vec![],
            created: invoice.created.unwrap_or(event.created),
            amount,
            currency: invoice.currency.clone().unwrap_or_default(),
            status,
            description: None,
            card_brand: None,
            card_last4: None,
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: None,
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
            tax: 0,
            version: 0,
        });
    for r in &refs {
        add_ref(&mut payment, r);
    }
    // A refund or dispute recorded earlier outranks a late payment event.
    if !payment.status.is_after_payment() {
        payment.status = status;
    }
    payment.amount = amount;
    payment.tax = invoice.tax_total();
    payment.description = Some(invoice_description(invoice));
    payment.invoice_url = invoice.hosted_invoice_url.clone().or(payment.invoice_url);
    payment.invoice_pdf = payment.invoice_pdf.or_else(|| invoice.invoice_pdf.clone());
    payment.subscription_id = invoice
        .subscription_id()
        .map(str::to_owned)
        .or(payment.subscription_id);
    payment
}

pub(super) fn invoice_paid(event: &Event, invoice: &Invoice, input: &Input<'_>) -> Decision {
    let mut payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::Succeeded,
        invoice.amount_paid,
    );
    payment.paid_at = invoice.paid_at().or(Some(event.created));
    payment.failure_reason = None;

    let mut profile = input.profile.clone();
    let pays_current = invoice.subscription_id().is_some()
        && invoice.subscription_id() == profile.subscription_id.as_deref();
    if pays_current
        && matches!(
            profile.status,
            SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid
        )
    {
        // Paying the open invoice makes Stripe's subscription active again; record it at this
        // event's time so an older past_due update cannot undo it.
        profile.status = SubscriptionStatus::Active;
        profile.grace_until = None;
        if let Some(v) = profile.subscription_version.as_mut() {
            if event.created >= v.created {
                v.created = event.created;
                v.event_id = event.id.clone();
                v.previous_status = Some(v.status.clone());
                v.status = "active".into();
            }
        }
    }
    let mut app = application(
        event,
        input,
        profile,
        vec![],
        vec![],
        format!("invoice {} paid", invoice.id),
    );
    // `invoice.paid` and `invoice.payment_succeeded` both arrive for one payment: one receipt.
    if event.kind == "invoice.paid" && invoice.amount_paid > 0 {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(invoice.amount_paid));
        fields.insert("currency".into(), json!(payment.currency));
        fields.insert("description".into(), json!(payment.description));
        fields.insert("invoice_url".into(), json!(payment.invoice_url));
        app.effects
            .add_email(&app.profile, "payment_receipt", fields, &event.id);
        app.effects.add_event(&app.profile, "payment.succeeded", json!({"payment_id": payment.payment_id, "amount": invoice.amount_paid, "currency": payment.currency}), &event.id);
    }
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

pub(super) fn invoice_failed(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let mut payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::Failed,
        invoice.amount_due,
    );
    payment.failure_reason = Some("the payment was declined".into());
    let grace_until = input
        .profile
        .grace_until
        .unwrap_or_else(|| grace_end(event.created, policy.grace_days));
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!("invoice {} failed", invoice.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(invoice.amount_due));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("grace_until".into(), json!(rfc3339(grace_until)));
    fields.insert("invoice_url".into(), json!(invoice.hosted_invoice_url));
    app.effects
        .add_email(&app.profile, "payment_failed", fields, &event.id);
    app.effects.add_event(&app.profile, "payment.failed", json!({"payment_id": payment.payment_id, "amount": invoice.amount_due, "grace_until": rfc3339(grace_until)}), &event.id);
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

pub(super) fn invoice_action_required(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
) -> Decision {
    let payment = invoice_payment(
        event,
        invoice,
        input,
        PaymentStatus::RequiresAction,
        invoice.amount_due,
    );
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!("invoice {} needs authentication", invoice.id),
    );
    let mut fields = Map::new();
    fields.insert("amount".into(), json!(invoice.amount_due));
    fields.insert("currency".into(), json!(payment.currency));
    fields.insert("action_url".into(), json!(invoice.hosted_invoice_url));
    app.effects
        .add_email(&app.profile, "action_required", fields, &event.id);
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}

/// The history item of the invoice a charge or dispute pays (Stripe named it), merged into the
/// one already recorded under the invoice's id: a subscription payment is one item.
pub(super) fn linked_invoice_payment(
    event: &Event,
    invoice: &Invoice,
    input: &Input<'_>,
) -> PaymentRecord {
    let amount = if invoice.amount_paid > 0 {
        invoice.amount_paid
    } else {
        invoice.amount_due
    };
    invoice_payment(event, invoice, input, PaymentStatus::Succeeded, amount)
}
