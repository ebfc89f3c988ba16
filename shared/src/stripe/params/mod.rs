//! Request parameters for the calls Tierflow makes, each encoded by one pure `form()` so the
//! exact wire format is unit-tested and feeds the idempotency key.

mod catalog;
mod checkout;
mod customer;
mod event;
mod payment;
mod subscription;

pub use catalog::{NewPrice, NewProduct, ProductUpdate};
pub use checkout::{CheckoutMode, NewCheckoutSession, NewPortalSession, PortalConfigurationParams};
pub use customer::{CustomerUpdate, NewCustomer};
pub use event::{EventQuery, NewWebhookEndpoint};
pub use payment::{NewPaymentIntent, NewRefund};
pub use subscription::{
    NewTrialSubscription, PaymentBehavior, PriceChangePreview, ProrationBehavior,
    ScheduledPriceChange, SubscriptionPriceChange, TrialParams, SUBSCRIPTION_CHANGE_EXPAND,
    UPGRADE_PRORATION,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::objects::Metadata;
    use crate::stripe::STRIPE_API_VERSION;

    fn meta(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn subscription_checkout_carries_price_reference_and_metadata() {
        let params = NewCheckoutSession {
            mode: CheckoutMode::Subscription {
                price: "price_pro_m".into(),
                quantity: 1,
                metadata: meta(&[("user_id", "u1")]),
                trial: None,
            },
            customer: Some("cus_1".into()),
            customer_email: Some("ignored@example.com".into()),
            client_reference_id: Some("u1".into()),
            success_url: "https://app/ok?session_id={CHECKOUT_SESSION_ID}".into(),
            cancel_url: "https://app/cancel".into(),
            metadata: meta(&[("tier", "professional")]),
            promotion_code: None,
            allow_promotion_codes: true,
            automatic_tax: false,
        };
        assert_eq!(
            params.form().encode(),
            "mode=subscription&line_items[0][price]=price_pro_m&line_items[0][quantity]=1\
             &subscription_data[metadata][user_id]=u1&customer=cus_1&client_reference_id=u1\
             &success_url=https%3A%2F%2Fapp%2Fok%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D\
             &cancel_url=https%3A%2F%2Fapp%2Fcancel&metadata[tier]=professional\
             &allow_promotion_codes=true"
        );
        // A code applied up front: Stripe refuses allow_promotion_codes beside it.
        let mut with_code = params;
        with_code.promotion_code = Some("promo_1".into());
        let encoded = with_code.form().encode();
        assert!(
            encoded.ends_with("&discounts[0][promotion_code]=promo_1"),
            "{encoded}"
        );
    }

    #[test]
    fn a_card_less_trial_collects_a_card_only_if_required() {
        let trial = |missing: Option<&str>| NewCheckoutSession {
            mode: CheckoutMode::Subscription {
                price: "price_pro_m".into(),
                quantity: 1,
                metadata: Metadata::new(),
                trial: Some(TrialParams {
                    days: 14,
                    missing_payment_method: missing.map(str::to_owned),
                }),
            },
            customer: Some("cus_1".into()),
            customer_email: None,
            client_reference_id: None,
            success_url: "s".into(),
            cancel_url: "c".into(),
            metadata: Metadata::new(),
            promotion_code: None,
            allow_promotion_codes: false,
            automatic_tax: false,
        };
        assert_eq!(
            trial(Some("pause")).form().encode(),
            "mode=subscription&line_items[0][price]=price_pro_m&line_items[0][quantity]=1\
             &subscription_data[trial_period_days]=14\
             &subscription_data[trial_settings][end_behavior][missing_payment_method]=pause\
             &payment_method_collection=if_required&customer=cus_1&success_url=s&cancel_url=c"
        );
        assert_eq!(
            trial(None).form().encode(),
            "mode=subscription&line_items[0][price]=price_pro_m&line_items[0][quantity]=1\
             &subscription_data[trial_period_days]=14&customer=cus_1&success_url=s&cancel_url=c"
        );
        let direct = NewTrialSubscription {
            customer: "cus_1".into(),
            price: "price_pro_m".into(),
            trial: TrialParams {
                days: 7,
                missing_payment_method: Some("cancel".into()),
            },
            metadata: meta(&[("user_id", "u1")]),
        };
        assert_eq!(
            direct.form().encode(),
            "customer=cus_1&items[0][price]=price_pro_m&items[0][quantity]=1&trial_period_days=7\
             &trial_settings[end_behavior][missing_payment_method]=cancel\
             &payment_settings[save_default_payment_method]=on_subscription&metadata[user_id]=u1"
        );
    }

    #[test]
    fn payment_checkout_uses_inline_price_data() {
        let params = NewCheckoutSession {
            mode: CheckoutMode::Payment {
                amount: 2500,
                currency: "usd".into(),
                product_name: "Credits".into(),
                save_card: true,
                metadata: Metadata::new(),
            },
            customer: None,
            customer_email: Some("a@b.c".into()),
            client_reference_id: None,
            success_url: "s".into(),
            cancel_url: "c".into(),
            metadata: Metadata::new(),
            promotion_code: None,
            allow_promotion_codes: false,
            automatic_tax: false,
        };
        assert_eq!(
            params.form().encode(),
            "mode=payment&line_items[0][price_data][currency]=usd\
             &line_items[0][price_data][unit_amount]=2500\
             &line_items[0][price_data][product_data][name]=Credits&line_items[0][quantity]=1\
             &payment_intent_data[setup_future_usage]=off_session&customer_email=a%40b.c\
             &success_url=s&cancel_url=c"
        );
    }

    #[test]
    fn upgrade_prorates_now_and_waits_for_payment() {
        let params = SubscriptionPriceChange {
            item_id: "si_1".into(),
            price: "price_ent_m".into(),
            proration_behavior: ProrationBehavior::AlwaysInvoice,
            proration_date: Some(1_700_000_000),
            payment_behavior: Some(PaymentBehavior::PendingIfIncomplete),
            metadata: Metadata::new(),
            promotion_code: Some("promo_1".into()),
        };
        assert_eq!(
            params.form().encode(),
            "items[0][id]=si_1&items[0][price]=price_ent_m&proration_behavior=always_invoice\
             &proration_date=1700000000&payment_behavior=pending_if_incomplete\
             &discounts[0][promotion_code]=promo_1&expand[]=latest_invoice.payments&expand[]=discounts"
        );
    }

    #[test]
    fn preview_names_the_item_price_and_proration_instant() {
        let params = PriceChangePreview {
            customer: Some("cus_1".into()),
            subscription: "sub_1".into(),
            item_id: "si_1".into(),
            price: "price_2".into(),
            proration_date: 1_700_000_123,
            proration_behavior: ProrationBehavior::AlwaysInvoice,
            promotion_code: None,
        };
        assert_eq!(
            params.form().encode(),
            "customer=cus_1&subscription=sub_1&subscription_details[items][0][id]=si_1\
             &subscription_details[items][0][price]=price_2\
             &subscription_details[proration_date]=1700000123\
             &subscription_details[proration_behavior]=always_invoice"
        );
    }

    #[test]
    fn downgrade_schedule_has_two_phases_and_releases() {
        let params = ScheduledPriceChange {
            current_price: "price_pro_m".into(),
            phase_start: 100,
            change_at: 200,
            new_price: "price_starter_m".into(),
            quantity: 1,
            metadata: meta(&[("user_id", "u1")]),
        };
        assert_eq!(
            params.form().encode(),
            "end_behavior=release&proration_behavior=none\
             &phases[0][items][0][price]=price_pro_m&phases[0][items][0][quantity]=1\
             &phases[0][start_date]=100&phases[0][end_date]=200&phases[0][proration_behavior]=none\
             &phases[1][items][0][price]=price_starter_m&phases[1][items][0][quantity]=1\
             &phases[1][proration_behavior]=none&metadata[user_id]=u1"
        );
    }

    #[test]
    fn one_time_payment_enables_automatic_payment_methods() {
        let params = NewPaymentIntent {
            amount: 1234,
            currency: "eur".into(),
            customer: Some("cus_1".into()),
            description: Some("Extra seats".into()),
            metadata: meta(&[("user_id", "u1")]),
        };
        assert_eq!(
            params.form().encode(),
            "amount=1234&currency=eur&customer=cus_1&description=Extra+seats\
             &metadata[user_id]=u1&automatic_payment_methods[enabled]=true"
        );
    }

    #[test]
    fn event_pages_filter_by_time_and_type() {
        let query = EventQuery {
            created_after: Some(1_700_000_000),
            types: vec![
                "invoice.paid".into(),
                "customer.subscription.updated".into(),
            ],
            page_size: 500,
            ..EventQuery::default()
        };
        assert_eq!(
            query.form(Some("evt_9")).encode(),
            "limit=100&created[gt]=1700000000&types[]=invoice.paid\
             &types[]=customer.subscription.updated&starting_after=evt_9"
        );
        assert_eq!(EventQuery::default().form(None).encode(), "limit=100");
    }

    #[test]
    fn catalog_prices_can_take_over_a_lookup_key() {
        let params = NewPrice {
            product: "tierflow_starter".into(),
            unit_amount: 1900,
            currency: "usd".into(),
            interval: "month".into(),
            lookup_key: Some("tierflow_starter_monthly".into()),
            transfer_lookup_key: true,
            nickname: None,
            metadata: Metadata::new(),
        };
        assert_eq!(
            params.form().encode(),
            "product=tierflow_starter&unit_amount=1900&currency=usd&recurring[interval]=month\
             &lookup_key=tierflow_starter_monthly&transfer_lookup_key=true"
        );
    }

    #[test]
    fn small_forms_encode_as_documented() {
        assert_eq!(
            NewCustomer::for_user("u1", Some("a@b.c")).form().encode(),
            "email=a%40b.c&metadata[user_id]=u1"
        );
        let update = CustomerUpdate {
            default_payment_method: Some("pm_1".into()),
            ..CustomerUpdate::default()
        };
        assert_eq!(
            update.form().encode(),
            "invoice_settings[default_payment_method]=pm_1"
        );
        let portal = NewPortalSession {
            customer: "cus_1".into(),
            return_url: "https://app/billing".into(),
            configuration: Some("bpc_1".into()),
            flow: Some("payment_method_update".into()),
        };
        assert_eq!(
            portal.form().encode(),
            "customer=cus_1&return_url=https%3A%2F%2Fapp%2Fbilling&configuration=bpc_1\
             &flow_data[type]=payment_method_update"
        );
        let refund = NewRefund {
            payment_intent: Some("pi_1".into()),
            ..NewRefund::default()
        };
        assert_eq!(refund.form().encode(), "payment_intent=pi_1");
        let hook = NewWebhookEndpoint::new("http://127.0.0.1:9000/hook", &["invoice.paid"]);
        assert_eq!(
            hook.form().encode(),
            format!(
                "url=http%3A%2F%2F127.0.0.1%3A9000%2Fhook&enabled_events[]=invoice.paid&api_version={STRIPE_API_VERSION}"
            )
        );
        let product = ProductUpdate {
            active: Some(true),
            ..ProductUpdate::default()
        };
        assert_eq!(product.form().encode(), "active=true");
    }

    #[test]
    fn portal_configuration_limits_switches_to_the_catalog() {
        let config = PortalConfigurationParams {
            products: vec![(
                "tierflow_starter".into(),
                vec!["price_m".into(), "price_y".into()],
            )],
            proration_behavior: ProrationBehavior::AlwaysInvoice,
            metadata: Metadata::from([("tierflow_catalog".to_owned(), "portal".to_owned())]),
        };
        let encoded = config.form().encode();
        for wanted in [
            "features[subscription_cancel][mode]=at_period_end",
            "features[payment_method_update][enabled]=true",
            "features[subscription_update][proration_behavior]=always_invoice",
            "features[subscription_update][schedule_at_period_end][conditions][0][type]=decreasing_item_amount",
            "features[subscription_update][products][0][product]=tierflow_starter",
            "features[subscription_update][products][0][prices][]=price_m",
            "features[subscription_update][products][0][prices][]=price_y",
            "metadata[tierflow_catalog]=portal",
        ] {
            assert!(encoded.contains(wanted), "{wanted} in {encoded}");
        }
    }
}
