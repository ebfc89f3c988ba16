use lambda_http::Request;
use tierflow::http::{header, reply, require_post, ApiError, Receipt, Reply};
use tierflow::webhook::delivery::handle_delivery;
use tierflow::wiring::WebhookRoute;

pub(crate) async fn handle(deps: &WebhookRoute, req: Request) -> Reply {
    reply(receive(deps, &req).await)
}

async fn receive(deps: &WebhookRoute, req: &Request) -> Result<Receipt, ApiError> {
    require_post(req, "Stripe")?;
    let now = deps.processor.clock.now();
    let signature = header(req, "stripe-signature");
    handle_delivery(
        &deps.processor,
        &deps.config,
        signature,
        req.body().as_ref(),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use std::sync::Arc;
    use tierflow::config::Secret;
    use tierflow::config::WebhookConfig;
    use tierflow::ports::{BillingStore, EventStatus};
    use tierflow::time::FixedClock;
    use tierflow::webhook::signature::sign;
    use tierflow::webhook::Processor;

    use tierflow_testkit::{unreachable_stripe, Harness};

    const SECRET: &str = "whsec_handler_test";

    /// The testkit's harness, with the webhook's dependencies over its store at a fixed time.
    struct Webhook {
        kit: Harness,
        deps: WebhookRoute,
    }

    impl std::ops::Deref for Webhook {
        type Target = Harness;
        fn deref(&self) -> &Harness {
            &self.kit
        }
    }

    /// The webhook at `now`. Its Stripe is unreachable: no Stripe call is expected, so any
    /// fails at once (see [`harness_with_stripe`]).
    async fn harness(now: i64) -> Webhook {
        harness_at(now, false).await
    }

    /// The webhook at `now` with the harness's Stripe emulator, for events that ask Stripe.
    async fn harness_with_stripe(now: i64) -> Webhook {
        harness_at(now, true).await
    }

    async fn harness_at(now: i64, reaches_stripe: bool) -> Webhook {
        let kit = Harness::start().await;
        let stripe: Arc<dyn tierflow::ports::StripeApi> = if reaches_stripe {
            kit.stripe.clone()
        } else {
            Arc::new(unreachable_stripe())
        };
        let deps = WebhookRoute {
            processor: Processor {
                stripe,
                clock: Arc::new(FixedClock::at(now)),
                ..kit.processor(kit.store.clone(), Default::default())
            },
            config: WebhookConfig {
                secrets: vec![Secret::new(SECRET)],
                tolerance_seconds: 300,
            },
        };
        Webhook { kit, deps }
    }

    /// The sample function-URL event with `body` signed at `t` (or a given header).
    fn delivery(body: &str, signature: Option<String>) -> Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/stripe-webhook.json")).unwrap();
        event["body"] = body.into();
        match signature {
            Some(sig) => event["headers"]["stripe-signature"] = sig.into(),
            None => {
                event["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("stripe-signature");
            }
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn body(resp: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(resp.body().as_ref()).unwrap()
    }

    fn subscription_event(id: &str, created: i64, status: &str) -> String {
        serde_json::json!({
            "id": id, "object": "event", "type": "customer.subscription.updated", "created": created,
            "api_version": "2025-04-30.basil", "livemode": false,
            "data": {"object": {
                "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
                "metadata": {"user_id": "user-1"}, "cancel_at_period_end": false,
                "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                    "current_period_start": created, "current_period_end": created + 2_592_000,
                    "price": {"id": "price_pro_m", "object": "price", "lookup_key": "tierflow_professional_monthly",
                        "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}}]}
            }}
        })
        .to_string()
    }

    #[tokio::test]
    async fn the_sample_event_applies_and_a_duplicate_does_not() {
        let now = 1_795_391_165;
        let h = harness(now).await;
        let payload = subscription_event("evt_sample_1", now - 5, "active");
        let sig = sign(SECRET, now, payload.as_bytes());
        let resp = handle(&h.deps, delivery(&payload, Some(sig.clone())))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", body(&resp));
        assert_eq!(body(&resp)["outcome"], "applied");
        let user = tierflow::domain::UserId::parse("user-1").unwrap();
        let profile = h.store.profile(&user).await.unwrap().unwrap();
        assert_eq!(profile.tier, tierflow_testkit::tier("professional"));
        h.relay().await;
        assert_eq!(h.queue.jobs().len(), 1);
        assert_eq!(h.bus.events().len(), 1);
        assert_eq!(
            h.store
                .event_record("evt_sample_1")
                .await
                .unwrap()
                .unwrap()
                .status,
            EventStatus::Completed
        );

        let again = handle(&h.deps, delivery(&payload, Some(sig)))
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(body(&again)["outcome"], "duplicate");
        h.relay().await;
        assert_eq!(h.queue.jobs().len(), 1, "no second sync job");
        assert_eq!(h.bus.events().len(), 1, "no second domain event");
    }

    #[tokio::test]
    async fn bad_signatures_are_400_and_record_nothing() {
        let now = 1_795_391_165;
        let h = harness(now).await;
        let payload = subscription_event("evt_forged", now, "active");
        let cases = [
            None,
            Some(sign("whsec_other", now, payload.as_bytes())),
            Some(sign(SECRET, now - 301, payload.as_bytes())),
            Some("t=abc,v1=00".to_owned()),
        ];
        for sig in cases {
            let resp = handle(&h.deps, delivery(&payload, sig.clone()))
                .await
                .unwrap();
            assert_eq!(resp.status(), 400, "{sig:?}");
            assert_eq!(body(&resp)["error"]["code"], "invalid_signature");
        }
        assert_eq!(h.store.event_record("evt_forged").await.unwrap(), None);
        assert!(h.store.take_stream().is_empty());
    }

    #[tokio::test]
    async fn signed_bodies_that_are_not_events_are_400() {
        let now = 1_795_391_165;
        let h = harness(now).await;
        for payload in [
            "not json",
            r#"{"hello":"world"}"#,
            r#"{"id":"evt_x","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered"}"#,
        ] {
            let sig = sign(SECRET, now, payload.as_bytes());
            let resp = handle(&h.deps, delivery(payload, Some(sig))).await.unwrap();
            assert_eq!(resp.status(), 400, "{payload}");
        }
    }

    #[tokio::test]
    async fn a_store_outage_is_500_so_stripe_retries() {
        let now = 1_795_391_165;
        let h = harness(now).await;
        h.store.set_unavailable(true);
        let payload = subscription_event("evt_outage", now, "active");
        let sig = sign(SECRET, now, payload.as_bytes());
        let resp = handle(&h.deps, delivery(&payload, Some(sig)))
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(body(&resp)["error"]["code"], "retry_later");
    }

    #[tokio::test]
    async fn a_delivery_writes_its_outbox_with_the_state_and_publishes_nothing_itself() {
        let now = 1_795_391_165;
        let h = harness(now).await;
        // The queue and the bus are down: the delivery does not need them.
        h.queue.set_unavailable(true);
        h.bus.set_unavailable(true);
        let payload = subscription_event("evt_outbox", now, "active");
        let sig = sign(SECRET, now, payload.as_bytes());
        let resp = handle(&h.deps, delivery(&payload, Some(sig)))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}", body(&resp));
        assert_eq!(body(&resp)["outcome"], "applied");
        let stream = h.store.take_stream();
        assert_eq!(stream.len(), 1, "one new record rides the stream");
        assert_eq!(stream[0].event_id, "evt_outbox");
        assert_eq!(stream[0].status, EventStatus::Completed);
        assert_eq!(stream[0].outbox.jobs.len(), 1);
        assert_eq!(stream[0].outbox.events.len(), 1);
        assert!(h.queue.jobs().is_empty() && h.bus.events().is_empty());
    }

    #[tokio::test]
    async fn only_post_is_accepted() {
        let h = harness(1).await;
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/stripe-webhook.json")).unwrap();
        event["requestContext"]["http"]["method"] = "GET".into();
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(handle(&h.deps, req).await.unwrap().status(), 405);
    }

    fn corpus_dir() -> Option<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/stripe-events");
        if dir.is_dir() {
            return Some(dir);
        }
        assert!(
            std::env::var("CI").is_err(),
            "CI must have ../shared/corpus beside the repo"
        );
        eprintln!("skipping: ../shared/corpus is not beside the repository");
        None
    }

    /// Every corpus event through the handler: signed, delivered, and its outcome asserted.
    /// Ids are rewritten to be unique (the corpus reuses them); every customer in the corpus is
    /// linked to one Tierflow user first, as a checkout would have done. A charge or dispute of
    /// an unknown payment asks Stripe which invoice its PaymentIntent pays: an emulator, which
    /// knows none of the corpus's, answers that it pays none.
    #[tokio::test]
    async fn every_corpus_event_is_handled_as_expected() {
        let Some(dir) = corpus_dir() else { return };
        let now = 1_795_391_165;
        let h = harness_with_stripe(now).await;
        let user = tierflow::domain::UserId::parse("corpus-user").unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut links = Vec::new();
        for f in &files {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            let o = &v["data"]["object"];
            let customer = if o["object"] == "customer" {
                o["id"].as_str()
            } else {
                o["customer"].as_str()
            };
            if let Some(c) = customer {
                links.push((c.to_owned(), user.clone()));
            }
        }
        links.sort();
        links.dedup();
        h.store
            .commit(tierflow::ports::Commit {
                customer_links: links,
                ..Default::default()
            })
            .await
            .unwrap();

        // (file, outcome, detail fragment): foreign prices without a lookup key and objects
        // naming no known customer are permanent failures a person can see and replay; payment
        // intents without a customer reach their user through a payment recorded earlier.
        let expected = [
            (
                "charge.dispute.created__ruby-mock__1",
                "failed",
                "no Tierflow user",
            ),
            (
                "charge.dispute.created__sync-engine__1",
                "failed",
                "no Tierflow user",
            ),
            (
                "charge.refunded__ruby-mock__1",
                "failed",
                "no Tierflow user",
            ),
            ("charge.refunded__sync-engine__1", "applied", ""),
            ("checkout.session.completed__ruby-mock__1", "applied", ""),
            (
                "checkout.session.completed__ruby-mock__2",
                "applied",
                "one-time checkout paid",
            ),
            (
                "checkout.session.completed__ruby-mock__3",
                "ignored",
                "setup",
            ),
            ("checkout.session.completed__sync-engine__1", "applied", ""),
            ("customer.deleted__ruby-mock__1", "applied", ""),
            ("customer.deleted__sync-engine__1", "applied", ""),
            (
                "customer.subscription.created__ruby-mock__1",
                "failed",
                "lookup key",
            ),
            (
                "customer.subscription.created__sync-engine__1",
                "failed",
                "lookup key",
            ),
            ("customer.subscription.deleted__ruby-mock__1", "applied", ""),
            (
                "customer.subscription.deleted__sync-engine__1",
                "applied",
                "",
            ),
            (
                "customer.subscription.updated__ruby-mock__1",
                "failed",
                "lookup key",
            ),
            (
                "customer.subscription.updated__sync-engine__1",
                "failed",
                "lookup key",
            ),
            ("invoice.paid__ruby-mock__1", "applied", ""),
            ("invoice.paid__sync-engine__1", "applied", ""),
            (
                "invoice.payment_action_required__ruby-mock__1",
                "applied",
                "",
            ),
            ("invoice.payment_failed__ruby-mock__1", "applied", ""),
            ("invoice.payment_succeeded__ruby-mock__1", "applied", ""),
            (
                "payment_intent.payment_failed__lago-api__1",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.payment_failed__lago-api__2",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.payment_failed__lago-api__3",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.payment_failed__ruby-mock__1",
                "applied",
                "failed",
            ),
            (
                "payment_intent.payment_failed__sync-engine__1",
                "applied",
                "failed",
            ),
            (
                "payment_intent.succeeded__lago-api__1",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.succeeded__lago-api__2",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.succeeded__lago-api__3",
                "ignored",
                "not a one-time payment Tierflow created",
            ),
            (
                "payment_intent.succeeded__ruby-mock__1",
                "applied",
                "succeeded",
            ),
            (
                "payment_intent.succeeded__sync-engine__1",
                "applied",
                "succeeded",
            ),
        ];
        assert_eq!(files.len(), expected.len());
        let mut mismatches = Vec::new();
        for (i, (file, (name, want, reason))) in files.iter().zip(expected).enumerate() {
            assert_eq!(file.file_stem().unwrap().to_str().unwrap(), name);
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            let id = format!("evt_corpus_{i:02}");
            v["id"] = id.clone().into();
            let payload = v.to_string();
            let sig = sign(SECRET, now, payload.as_bytes());
            let resp = handle(&h.deps, delivery(&payload, Some(sig)))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{name}: {:?}", body(&resp));
            let record = h.store.event_record(&id).await.unwrap().unwrap();
            let detail = record.detail.unwrap_or_default();
            if body(&resp)["outcome"] != want || !detail.contains(reason) {
                mismatches.push(format!("{name}: {} ({detail})", body(&resp)["outcome"]));
            }
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }

    /// The corpus subscription events, with their price given one of the catalog's lookup keys
    /// (as if it were Tierflow's price), apply in every API version's shape; their pre-basil
    /// top-level period is not read (Tierflow is pinned to basil, whose items carry it).
    #[tokio::test]
    async fn corpus_subscriptions_apply_with_our_prices() {
        let Some(dir) = corpus_dir() else { return };
        let now = 1_795_391_165;
        for source in ["ruby-mock", "sync-engine"] {
            let h = harness(now).await;
            let path = dir.join(format!("customer.subscription.created__{source}__1.json"));
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let item = &mut v["data"]["object"]["items"]["data"][0];
            item["price"]["lookup_key"] = "tierflow_starter_yearly".into();
            v["data"]["object"]["metadata"]["user_id"] = "corpus-user".into();
            v["id"] = format!("evt_sub_{source}").into();
            let payload = v.to_string();
            let resp = handle(
                &h.deps,
                delivery(&payload, Some(sign(SECRET, now, payload.as_bytes()))),
            )
            .await
            .unwrap();
            assert_eq!(body(&resp)["outcome"], "applied", "{source}");
            let user = tierflow::domain::UserId::parse("corpus-user").unwrap();
            let p = h.store.profile(&user).await.unwrap().unwrap();
            assert_eq!(p.tier, tierflow_testkit::tier("starter"), "{source}");
            assert_eq!(
                p.billing_cycle,
                Some(tierflow::domain::BillingCycle::Yearly),
                "{source}"
            );
            assert_eq!(
                p.current_period_end, None,
                "{source}: no pre-basil period is read"
            );
        }
    }
}
