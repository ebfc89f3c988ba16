//! A completed Checkout: the first subscription, or a one-time payment.

use super::*;

pub(super) fn checkout_completed(
    event: &Event,
    session: &CheckoutSession,
    input: &Input<'_>,
    policy: Policy,
) -> Decision {
    let Some(customer) = session.customer_id() else {
        return Decision::Fail("the checkout session has no customer".into());
    };
    let links = vec![(customer.to_owned(), input.user_id.clone())];
    if !session.is_paid() {
        return Decision::Ignore("the checkout session is not paid yet".into());
    }
    match session.mode.as_deref() {
        Some("subscription") => {
            let Some(sub_id) = session.subscription_id() else {
                return Decision::Fail("a subscription checkout without a subscription".into());
            };
            let subscription = session
                .subscription
                .as_ref()
                .and_then(|s| s.as_object())
                .or(input.fetched_subscription.filter(|s| s.id == sub_id));
            let Some(subscription) = subscription else {
                return Decision::FetchSubscription(sub_id.to_owned());
            };
            let mut profile = input.profile.clone();
            profile.customer_id = Some(customer.to_owned());
            // The fetched subscription is Stripe's current truth: version it at this event.
            let version = IncomingVersion {
                object_id: &subscription.id,
                event_id: &event.id,
                created: event.created,
                status: &subscription.status,
                previous_status: None,
            };
            if order(profile.subscription_version.as_ref(), &version) != Order::Stale {
                if let Err(reason) =
                    apply_subscription(&mut profile, subscription, event, None, input, policy)
                {
                    return Decision::Fail(reason);
                }
            }
            Decision::Apply(Box::new(application(
                event,
                input,
                profile,
                vec![],
                links,
                format!("checkout completed: {sub_id}"),
            )))
        }
        Some("payment") => {
            let payment_id = session
                .payment_intent
                .as_ref()
                .map(|p| p.id().to_owned())
                .unwrap_or_else(|| session.id.clone());
            let mut payment = input
                .existing_payment
                .cloned()
                .unwrap_or_else(|| PaymentRecord {
                    user_id: input.user_id.clone(),
                    payment_id: payment_id.clone(),
                    stripe_refs: vec![payment_id.clone()],
                    created: session.created.unwrap_or(event.created),
                    amount: session.amount_total.unwrap_or(0),
                    currency: session.currency.clone().unwrap_or_default(),
                    status: PaymentStatus::Succeeded,
                    description: session.metadata.get("description").cloned(),
                    card_brand: None,
                    card_last4: None,
                    invoice_url: None,
                    invoice_pdf: None,
                    receipt_url: None,
                    paid_at: Some(event.created),
                    amount_refunded: 0,
                    refunded_at: None,
                    failure_reason: None,
                    subscription_id: None,
                    tax: 0,
                    version: 0,
                });
            add_ref(&mut payment, &session.id);
            let mut profile = input.profile.clone();
            profile
                .customer_id
                .get_or_insert_with(|| customer.to_owned());
            Decision::Apply(Box::new(application(
                event,
                input,
                profile,
                vec![payment],
                links,
                format!("one-time checkout paid: {payment_id}"),
            )))
        }
        other => Decision::Ignore(format!("checkout mode {other:?} changes no billing state")),
    }
}
