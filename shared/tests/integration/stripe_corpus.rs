//! Every Stripe object and event in the shared corpus (`../shared/corpus`, API versions
//! 2020-03-02 to 2025-04-30.basil) parses with the client types; the fields Tierflow reads are
//! basil's (older shapes parse, but their removed fields are not read), and every basil event
//! drives a decision.

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, UserId};
use tierflow::ports::{PaymentRecord, PaymentStatus};
use tierflow::stripe::{
    Charge, CheckoutSession, Customer, DeletedCustomer, Dispute, Event, EventObject, Invoice,
    PaymentIntent, Refund, Subscription,
};
use tierflow::webhook::decide::{decide, subject_of, Decision, Input, Policy};

/// The corpus directory, or `None` (with a message) when it is absent outside CI.
fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the Stripe corpus is missing at {}", dir.display());
    }
    eprintln!(
        "skipping: the Stripe corpus is not at {} (set CI to make this fail)",
        dir.display()
    );
    None
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no JSON files in {}", dir.display());
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Some fixtures are an event's `data` member (`{"object": {...}}`), not the bare object.
fn bare_object(value: Value) -> Value {
    match value.get("object") {
        Some(inner @ Value::Object(_)) => inner.clone(),
        _ => value,
    }
}

fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> T {
    T::deserialize(value).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn object_file(dir: &Path, name: &str) -> Value {
    bare_object(read(&dir.join("stripe-objects").join(name)))
}

fn event_file(dir: &Path, name: &str) -> Event {
    parse(&read(&dir.join("stripe-events").join(name)), name)
}

#[test]
fn every_object_parses_with_the_type_its_name_gives() {
    let Some(dir) = corpus() else { return };
    for path in json_files(&dir.join("stripe-objects")) {
        let name = file_name(&path);
        let kind = name.split("__").next().unwrap_or_default().to_owned();
        let value = bare_object(read(&path));
        match kind.as_str() {
            "charge" => {
                parse::<Charge>(&value, &name);
            }
            "checkout.session" => {
                parse::<CheckoutSession>(&value, &name);
            }
            "customer" => {
                parse::<Customer>(&value, &name);
            }
            "deleted_customer" => {
                let deleted: DeletedCustomer = parse(&value, &name);
                assert!(deleted.deleted, "{name}");
            }
            "dispute" => {
                parse::<Dispute>(&value, &name);
            }
            "event" => {
                parse::<Event>(&value, &name);
            }
            "invoice" => {
                parse::<Invoice>(&value, &name);
            }
            "payment_intent" => {
                parse::<PaymentIntent>(&value, &name);
            }
            "refund" => {
                parse::<Refund>(&value, &name);
            }
            "subscription" => {
                parse::<Subscription>(&value, &name);
            }
            other => panic!("{name}: no client type for corpus objects of kind {other:?}"),
        }
    }
}

/// The object family an event type is about, as its `data.object` must be typed.
fn expected_object(event_type: &str) -> &'static str {
    let families = [
        ("checkout.session.", "checkout.session"),
        ("customer.subscription.", "subscription"),
        ("customer.", "customer"),
        ("invoice.", "invoice"),
        ("charge.dispute.", "dispute"),
        ("charge.", "charge"),
        ("payment_intent.", "payment_intent"),
    ];
    families
        .iter()
        .find(|(prefix, _)| event_type.starts_with(prefix))
        .map(|(_, object)| *object)
        .unwrap_or_else(|| panic!("the corpus has an unexpected event type {event_type}"))
}

#[test]
fn every_event_and_its_object_parse() {
    let Some(dir) = corpus() else { return };
    for path in json_files(&dir.join("stripe-events")) {
        let name = file_name(&path);
        let event: Event = parse(&read(&path), &name);
        assert!(event.id.starts_with("evt_"), "{name}");
        assert_eq!(name.split("__").next(), Some(event.kind.as_str()), "{name}");
        assert!(event.created > 0, "{name}");
        assert_eq!(
            event.object_type(),
            Some(expected_object(&event.kind)),
            "{name}"
        );
        assert!(event.object_id().is_some(), "{name}");
        let object = event.object().unwrap_or_else(|e| panic!("{name}: {e}"));
        let typed_id = match &object {
            EventObject::CheckoutSession(o) => o.id.clone(),
            EventObject::Subscription(o) => o.id.clone(),
            EventObject::Customer(o) => o.id.clone(),
            EventObject::Invoice(o) => o.id.clone(),
            EventObject::Dispute(o) => o.id.clone(),
            EventObject::Charge(o) => o.id.clone(),
            EventObject::PaymentIntent(o) => o.id.clone(),
            other => panic!("{name}: typed as {other:?}"),
        };
        assert_eq!(Some(typed_id.as_str()), event.object_id(), "{name}");
    }
}

#[test]
fn the_openapi_event_about_an_unmodelled_object_still_parses() {
    let Some(dir) = corpus() else { return };
    let event: Event = parse(&object_file(&dir, "event__stripe-openapi.json"), "event");
    assert_eq!(event.object().unwrap(), EventObject::Other("plan".into()));
    assert_eq!(event.api_version, None);
}

#[test]
fn subscription_period_end_is_read_from_basil_items_only() {
    let Some(dir) = corpus() else { return };
    // (file, where it lives, expected end)
    let events = [
        (
            "customer.subscription.created__sync-engine__1.json",
            1_625_740_918,
        ),
        (
            "customer.subscription.updated__ruby-mock__1.json",
            1_650_998_505,
        ),
        (
            "customer.subscription.deleted__sync-engine__1.json",
            1_625_740_918,
        ),
    ];
    // Pre-basil: the period on the subscription itself, which basil removed and Tierflow
    // (pinned to basil) does not read.
    for (name, end) in events {
        let raw = read(&dir.join("stripe-events").join(name));
        assert_eq!(raw["data"]["object"]["current_period_end"], end, "{name}");
        let sub: Subscription = event_file(&dir, name).object_as().unwrap();
        assert_eq!(sub.current_period_end(), None, "{name}");
        assert!(sub.customer_id().starts_with("cus_"), "{name}");
        assert!(
            sub.primary_item().is_some_and(|i| i.id.starts_with("si_")),
            "{name}"
        );
    }
    // Basil: no top-level period, the item carries it.
    let objects = [
        ("subscription__stripe-openapi.json", 976_287_773),
        (
            "subscription__pay-rails__subscription.updated.json",
            1_488_987_924,
        ),
    ];
    for (name, end) in objects {
        let sub: Subscription = parse(&object_file(&dir, name), name);
        assert_eq!(sub.current_period_end(), Some(end), "{name}");
    }
    // Pay's hand-edited `created` fixture keeps the pre-basil top-level period only.
    let name = "subscription__pay-rails__subscription.created.json";
    let created: Subscription = parse(&object_file(&dir, name), name);
    assert_eq!(created.current_period_end(), None, "{name}");
    let openapi: Subscription = parse(
        &object_file(&dir, "subscription__stripe-openapi.json"),
        "openapi",
    );
    assert_eq!(
        openapi.price().map(|p| p.id.as_str()),
        Some("price_1PgafmB7WZ01zgkW6dKueIc5")
    );
    assert_eq!(openapi.price().and_then(|p| p.interval()), Some("month"));
    assert_eq!(openapi.cancel_at, Some(1_234_567_890));
    assert!(openapi.pending_update.is_some());

    // An expanded latest_invoice with only a few fields still parses.
    let updated: Subscription = parse(
        &object_file(&dir, "subscription__pay-rails__subscription.updated.json"),
        "pay updated",
    );
    let latest = updated.latest_invoice.as_ref().unwrap();
    assert_eq!(latest.id(), "in_1000");
    assert_eq!(
        latest.as_object().and_then(|i| i.status.as_deref()),
        Some("paid")
    );

    let scheduled: Subscription =
        event_file(&dir, "customer.subscription.created__ruby-mock__1.json")
            .object_as()
            .unwrap();
    assert_eq!(
        scheduled.schedule_id(),
        Some("sub_sched_000000000000000000000000")
    );
}

#[test]
fn invoice_subscription_and_payment_are_read_in_basil_shapes_only() {
    let Some(dir) = corpus() else { return };
    let old: Invoice = event_file(&dir, "invoice.paid__sync-engine__1.json")
        .object_as()
        .unwrap();
    // Pre-basil fields (top-level subscription, line price and proration) are not read.
    assert_eq!(old.subscription_id(), None);
    assert_eq!(old.billing_reason.as_deref(), Some("subscription_cycle"));
    assert_eq!(old.paid_at(), Some(1_642_649_110));
    assert!(!old.lines.data[0].is_proration());
    assert_eq!(old.lines.data[0].price_id(), None);

    let failed_old: Invoice = event_file(&dir, "invoice.payment_failed__ruby-mock__1.json")
        .object_as()
        .unwrap();
    // Pre-basil invoices named their PaymentIntent and charge; basil's name them only in the
    // (expanded) payments.
    assert_eq!(failed_old.payment_intent_id(), None);
    assert_eq!(failed_old.charge_id(), None);
    assert_eq!(failed_old.attempt_count, Some(1));

    // Basil: subscription under parent.subscription_details, proration under line parents,
    // price under pricing.price_details.
    let basil: Invoice = parse(
        &object_file(&dir, "invoice__pay-rails__invoice.payment_failed.json"),
        "pay failed",
    );
    assert_eq!(basil.subscription_id(), Some("sub_1234"));
    assert_eq!(basil.payment_intent_id(), None);
    assert_eq!(basil.lines.data[0].price_id(), Some("price_1234"));
    assert!(!basil.lines.data[0].is_proration());
    assert_eq!(
        basil.lines.data[0].period.map(|p| p.end),
        Some(1_776_969_906)
    );

    let openapi: Invoice = parse(
        &object_file(&dir, "invoice__stripe-openapi.json"),
        "openapi",
    );
    assert_eq!(openapi.subscription_id(), Some("subscription"));
    assert!(openapi.lines.data[0].is_proration());
    assert_eq!(openapi.proration_amount(), 1000);
    assert_eq!(openapi.status.as_deref(), Some("draft"));

    let transitional: Invoice = parse(
        &object_file(
            &dir,
            "invoice__pay-rails__invoice.payment_action_required.json",
        ),
        "pay action required",
    );
    // Both layouts at once: only the basil one is read.
    assert_eq!(transitional.subscription_id(), Some("sub_1234"));
    assert_eq!(transitional.payment_intent_id(), None);

    let one_off: Invoice = parse(
        &object_file(&dir, "invoice__pay-rails__invoice.json"),
        "pay",
    );
    assert_eq!(one_off.subscription_id(), None);
    assert_eq!(one_off.charge_id(), None);
}

#[test]
fn payment_intents_name_their_charge_and_failure_in_every_version() {
    let Some(dir) = corpus() else { return };
    let cases = [
        (
            "payment_intent.payment_failed__lago-api__1.json",
            "2020-08-27",
        ),
        (
            "payment_intent.payment_failed__lago-api__2.json",
            "2024-09-30.acacia",
        ),
        (
            "payment_intent.payment_failed__lago-api__3.json",
            "2025-04-30.basil",
        ),
    ];
    for (name, version) in cases {
        let event = event_file(&dir, name);
        assert_eq!(event.api_version.as_deref(), Some(version), "{name}");
        let pi: PaymentIntent = event.object_as().unwrap();
        assert_eq!(
            pi.latest_charge_id(),
            Some("ch_3SVvxMQ8iJWBZFaM1YEcxCs2"),
            "{name}"
        );
        let error = pi.last_payment_error.as_ref().unwrap();
        assert_eq!(
            error.code.as_deref(),
            Some("authentication_required"),
            "{name}"
        );
        assert_eq!(
            error.decline_code.as_deref(),
            Some("authentication_not_handled"),
            "{name}"
        );
        assert_eq!(pi.customer_id(), Some("cus_TSOWyTkxXlWiTc"), "{name}");
        assert!(pi.client_secret.is_some(), "{name}");
    }
    // The oldest shape only embeds the charges (removed in 2022-11-15): not read.
    let old: PaymentIntent = event_file(&dir, "payment_intent.payment_failed__ruby-mock__1.json")
        .object_as()
        .unwrap();
    assert!(old.latest_charge_id().is_none());
    let decline = old.last_payment_error.unwrap();
    assert_eq!(decline.decline_code.as_deref(), Some("generic_decline"));
}

#[test]
fn charges_disputes_checkout_and_customers_expose_what_handlers_read() {
    let Some(dir) = corpus() else { return };
    let refunded: Charge = event_file(&dir, "charge.refunded__sync-engine__1.json")
        .object_as()
        .unwrap();
    assert!(refunded.is_fully_refunded());
    assert_eq!(refunded.customer_id(), Some("cus_J7Mkgr8mvbl1eK"));
    assert_eq!(
        refunded.payment_intent_id(),
        Some("pi_3Kl36gJDPojXS6LN02fQVtKR")
    );
    assert_eq!(
        refunded.card().and_then(|c| c.last4.as_deref()),
        Some("7572")
    );
    let refund_event = event_file(&dir, "charge.refunded__ruby-mock__1.json");
    assert!(refund_event.changed("refunded"));
    assert!(!refund_event.changed("customer"));

    let dispute: Dispute = event_file(&dir, "charge.dispute.created__sync-engine__1.json")
        .object_as()
        .unwrap();
    assert_eq!(dispute.charge_id(), Some("ch_1IqtGAJDPojXS6LNstgEfUji"));
    assert_eq!(dispute.amount, 1000);

    let session: CheckoutSession = parse(
        &object_file(
            &dir,
            "checkout.session__pay-rails__checkout.session.completed.json",
        ),
        "pay checkout",
    );
    assert_eq!(session.mode.as_deref(), Some("subscription"));
    assert_eq!(
        session.subscription_id(),
        Some("sub_1LNkeSKXBGcbgpbZ7jMqOPSi")
    );
    assert_eq!(session.customer_id(), Some("cus_M5wW9RPFk9xNZ5"));
    assert!(session.is_paid());

    let setup: CheckoutSession = event_file(&dir, "checkout.session.completed__ruby-mock__3.json")
        .object_as()
        .unwrap();
    assert_eq!(setup.mode.as_deref(), Some("setup"));
    assert!(setup.is_paid());
    let live = event_file(&dir, "checkout.session.completed__sync-engine__1.json");
    assert!(live.livemode);
    assert_eq!(live.data.previous_attributes, None);

    let deleted: Customer = event_file(&dir, "customer.deleted__sync-engine__1.json")
        .object_as()
        .unwrap();
    assert!(deleted.deleted);
    let deleted_event = event_file(&dir, "customer.deleted__ruby-mock__1.json");
    let customer: Customer = deleted_event.object_as().unwrap();
    assert_eq!(customer.default_payment_method_id(), None);
    assert_eq!(
        deleted_event.request.and_then(|r| r.id).as_deref(),
        Some("req_00000000000000")
    );
}

/// Every basil event of the corpus (Lago's PaymentIntents: one-time payments Tierflow did not
/// create) goes through [`decide`]: a stranger's intent is left alone, and one the history
/// already holds (found through the subject's refs) is settled with the event's outcome.
#[test]
fn every_basil_event_drives_a_decision() {
    let Some(dir) = corpus() else { return };
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    let profile = BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
    let mut types = std::collections::BTreeSet::new();
    for path in json_files(&dir.join("stripe-events")) {
        let name = file_name(&path);
        let event = event_file(&dir, &name);
        if event.api_version.as_deref() != Some("2025-04-30.basil") {
            continue;
        }
        let object = event.object().expect("typed object");
        let subject = subject_of(&object);
        assert!(subject.customer_id.is_some(), "{name}");
        let known = PaymentRecord {
            user_id: user.clone(),
            payment_id: subject.payment_refs[0].clone(),
            stripe_refs: subject.payment_refs.clone(),
            created: event.created,
            amount: 0,
            currency: "usd".into(),
            status: PaymentStatus::RequiresAction,
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
        };
        let input = |existing| Input {
            catalog: &catalog,
            user_id: &user,
            profile: &profile,
            existing_payment: existing,
            linked_invoice: None,
            fetched_subscription: None,
            fetched_at: 0,
            now: event.created,
        };
        let stranger = decide(&event, &object, &input(None), policy);
        assert!(
            matches!(stranger, Decision::Ignore(_)),
            "{name}: {stranger:?}"
        );
        let Decision::Apply(app) = decide(&event, &object, &input(Some(&known)), policy) else {
            panic!("{name}: a known payment is settled");
        };
        let want = match event.kind.as_str() {
            "payment_intent.succeeded" => PaymentStatus::Succeeded,
            "payment_intent.payment_failed" => PaymentStatus::Failed,
            other => panic!("{name}: no expectation for {other}"),
        };
        assert_eq!(app.payments[0].status, want, "{name}");
        assert!(
            app.payments[0]
                .stripe_refs
                .iter()
                .any(|r| r.starts_with("ch_")),
            "{name}: the latest charge is linked"
        );
        types.insert(event.kind.clone());
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["payment_intent.payment_failed", "payment_intent.succeeded"]
    );
}

/// Stripe's own documents, as live events carry them, land on the history item: the paid
/// invoice's PDF and the refunded charge's receipt.
#[test]
fn real_invoices_and_charges_give_the_history_its_documents() {
    let Some(dir) = corpus() else { return };
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    let profile = BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
    let cases = [
        ("invoice.paid__sync-engine__1.json", "invoice_pdf"),
        ("charge.refunded__sync-engine__1.json", "receipt_url"),
    ];
    for (name, field) in cases {
        let event = event_file(&dir, name);
        let object = event.object().expect("typed object");
        let input = Input {
            catalog: &catalog,
            user_id: &user,
            profile: &profile,
            existing_payment: None,
            linked_invoice: None,
            fetched_subscription: None,
            fetched_at: 0,
            now: event.created,
        };
        let Decision::Apply(app) = decide(&event, &object, &input, policy) else {
            panic!("{name}: applied");
        };
        let recorded = serde_json::to_value(&app.payments[0]).expect("record");
        let sent = &read(&dir.join("stripe-events").join(name))["data"]["object"][field];
        assert!(
            sent.as_str()
                .is_some_and(|u| u.starts_with("https://pay.stripe.com/")),
            "{name}: {sent}"
        );
        assert_eq!(&recorded[field], sent, "{name}");
    }
}
