//! A PaymentIntent settled: a one-time payment's history item.

use super::*;

pub(super) fn payment_intent_settled(
    event: &Event,
    pi: &PaymentIntent,
    input: &Input<'_>,
) -> Decision {
    if input
        .existing_payment
        .is_some_and(|p| p.subscription_id.is_some())
    {
        return Decision::Ignore("an invoice payment: the invoice events record it".into());
    }
    // Since basil a PaymentIntent no longer names its invoice, so only intents Tierflow created
    // (they carry the user id) or already recorded are one-time payments; any other is an
    // invoice's or a Checkout's, recorded by those events (one receipt, not two).
    if input.existing_payment.is_none() && !pi.metadata.contains_key("user_id") {
        return Decision::Ignore(
            "not a one-time payment Tierflow created: its invoice or checkout records it".into(),
        );
    }
    let succeeded = event.kind == "payment_intent.succeeded";
    let charge = pi.latest_charge.as_ref().and_then(|c| c.as_object());
    let mut payment = input
        .existing_payment
        .cloned()
        .unwrap_or_else(|| PaymentRecord {
            user_id: input.user_id.clone(),
            payment_id: pi.id.clone(),
            stripe_refs: vec![],
            created: pi.created.unwrap_or(event.created),
            amount: pi.amount,
            currency: pi.currency.clone().unwrap_or_default(),
            status: PaymentStatus::Succeeded,
            description: pi.description.clone(),
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
    add_ref(&mut payment, &pi.id);
    if let Some(c) = pi.latest_charge.as_ref() {
        add_ref(&mut payment, c.id());
    }
    if let Some(c) = charge {
        add_ref(&mut payment, &c.id);
        add_receipt(&mut payment, c);
        payment.card_brand = c
            .card()
            .and_then(|k| k.brand.clone())
            .or(payment.card_brand);
        payment.card_last4 = c
            .card()
            .and_then(|k| k.last4.clone())
            .or(payment.card_last4);
    }
    if !payment.status.is_after_payment() {
        payment.status = if succeeded {
            PaymentStatus::Succeeded
        } else {
            PaymentStatus::Failed
        };
    }
    if succeeded {
        payment.paid_at = Some(event.created);
        payment.failure_reason = None;
    } else {
        payment.failure_reason = pi
            .last_payment_error
            .as_ref()
            .and_then(|e| e.message.clone())
            .or(Some("the payment failed".into()));
    }
    let mut app = application(
        event,
        input,
        input.profile.clone(),
        vec![],
        vec![],
        format!(
            "payment {} {}",
            pi.id,
            if succeeded { "succeeded" } else { "failed" }
        ),
    );
    if succeeded {
        let mut fields = Map::new();
        fields.insert("amount".into(), json!(pi.amount));
        fields.insert("currency".into(), json!(payment.currency));
        fields.insert("description".into(), json!(payment.description));
        app.effects
            .add_email(&app.profile, "payment_receipt", fields, &event.id);
    }
    app.effects.add_event(
        &app.profile,
        if succeeded { "payment.succeeded" } else { "payment.failed" },
        json!({"payment_id": payment.payment_id, "amount": pi.amount, "currency": payment.currency}),
        &event.id,
    );
    app.payments.push(payment);
    Decision::Apply(Box::new(app))
}
