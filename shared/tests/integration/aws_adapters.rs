//! The DynamoDB, SQS and EventBridge adapters against the local AWS emulator (moto server),
//! with the real aws-sdk clients pointed at it by endpoint URL.

use crate::support::tier;
use crate::support::{local_aws, stream_batch, unique, LocalAws};
use tierflow::adapters::aws::sdk_config_for_endpoint;
use tierflow::adapters::dynamodb::DynamoStore;
use tierflow::adapters::eventbridge::EventBridgeBus;
use tierflow::adapters::memory::{MemoryBus, MemoryQueue};
use tierflow::adapters::sqs::SqsSyncQueue;
use tierflow::domain::{BillingProfile, Tier, UserId};
use tierflow::ports::{
    BillingStore, ChangeKind, ChangeRecord, Commit, CommitError, DeliveryKeys, DeliveryReads,
    DomainEvent, EventBus, EventRecord, EventStatus, Outbox, PaymentRecord, PaymentStatus,
    ProfileWrite, SyncFailure, SyncJob, SyncQueue,
};

async fn store(aws: &LocalAws) -> DynamoStore {
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&cfg), &aws.table)
}

fn user() -> UserId {
    UserId::parse(&unique("user")).expect("a valid user id")
}

fn profile_write(user: &UserId, tier: Tier, expected_version: u64) -> Commit {
    let mut profile =
        BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
    profile.tier = tier;
    Commit {
        profile: Some(ProfileWrite {
            profile,
            expected_version,
        }),
        ..Default::default()
    }
}

fn event_record(id: &str, status: EventStatus) -> EventRecord {
    EventRecord {
        event_id: id.to_owned(),
        event_type: "customer.subscription.updated".into(),
        status,
        created: 1_700_000_000,
        payload_hash: "abc".into(),
        attempts: 1,
        detail: None,
        outbox: Outbox::default(),
        updated_at: 1_700_000_000,
        expires_at: 1_703_000_000,
    }
}

#[tokio::test]
async fn profile_writes_are_conditional_on_the_version_read() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    assert_eq!(store.profile(&u).await.unwrap(), None);

    store
        .commit(profile_write(&u, tier("starter"), 0))
        .await
        .unwrap();
    let err = store
        .commit(profile_write(&u, tier("enterprise"), 0))
        .await
        .unwrap_err();
    assert!(matches!(err, CommitError::ProfileConflict), "{err:?}");

    store
        .commit(profile_write(&u, tier("professional"), 1))
        .await
        .unwrap();
    let stale = store
        .commit(profile_write(&u, tier("enterprise"), 1))
        .await
        .unwrap_err();
    assert!(matches!(stale, CommitError::ProfileConflict), "{stale:?}");

    let p = store.profile(&u).await.unwrap().unwrap();
    assert_eq!((p.tier, p.version), (tier("professional"), 2));
}

#[tokio::test]
async fn a_second_record_of_one_event_fails_and_writes_nothing() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let evt = unique("evt");
    let mut first = profile_write(&u, tier("starter"), 0);
    first.event = Some(event_record(&evt, EventStatus::Completed));
    store.commit(first).await.unwrap();

    // Same event again, with a profile write that would otherwise succeed.
    let mut second = profile_write(&u, tier("enterprise"), 1);
    second.event = Some(event_record(&evt, EventStatus::Completed));
    let err = store.commit(second).await.unwrap_err();
    assert!(matches!(err, CommitError::EventAlreadyRecorded), "{err:?}");
    assert_eq!(
        store.profile(&u).await.unwrap().unwrap().tier,
        tier("starter"),
        "atomic: nothing written"
    );
    assert_eq!(
        store.event_record(&evt).await.unwrap().unwrap().status,
        EventStatus::Completed
    );
}

#[tokio::test]
async fn customers_link_to_one_user_only() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let (a, b) = (user(), user());
    let cus = unique("cus");
    let link = |u: &UserId| Commit {
        customer_links: vec![(cus.clone(), u.clone())],
        ..Default::default()
    };
    store.commit(link(&a)).await.unwrap();
    store.commit(link(&a)).await.unwrap();
    let err = store.commit(link(&b)).await.unwrap_err();
    assert!(
        matches!(err, CommitError::CustomerLinkedElsewhere),
        "{err:?}"
    );
    assert_eq!(store.user_for_customer(&cus).await.unwrap(), Some(a));
    assert_eq!(
        store.user_for_customer("cus_unknown_x").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_customers_link_carries_its_users_profile_as_last_written_with_that_customer() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let (u, other) = (user(), user());
    let (first, second) = (unique("cus"), unique("cus"));
    let with_customer = |customer: &str, tier: Tier, expected_version: u64| {
        let mut commit = profile_write(&u, tier, expected_version);
        if let Some(write) = commit.profile.as_mut() {
            write.profile.customer_id = Some(customer.to_owned());
        }
        commit
    };
    // Linked in the commit that first names the customer, and the copy is that profile.
    let mut linked = with_customer(&first, tier("starter"), 0);
    linked.customer_links = vec![(first.clone(), u.clone())];
    store.commit(linked).await.unwrap();
    let owner = store.customer_owner(&first).await.unwrap().expect("linked");
    assert_eq!(owner.user, u);
    let copy = owner.profile.expect("a copy");
    assert_eq!((copy.version, &copy.tier), (1, &tier("starter")));
    assert_eq!(Some(copy), store.profile(&u).await.unwrap());

    // A later write naming the customer (no link listed) refreshes the copy.
    store
        .commit(with_customer(&first, tier("professional"), 1))
        .await
        .unwrap();
    let copy = store.customer_owner(&first).await.unwrap().unwrap().profile;
    assert_eq!(
        copy.map(|p| (p.version, p.tier)),
        Some((2, tier("professional")))
    );

    // The profile moves to another customer: the first link keeps the older copy.
    store
        .commit(with_customer(&second, tier("enterprise"), 2))
        .await
        .unwrap();
    let old = store.customer_owner(&first).await.unwrap().unwrap().profile;
    assert_eq!(old.map(|p| p.version), Some(2));
    let new = store.customer_owner(&second).await.unwrap().unwrap();
    assert_eq!(
        (new.user, new.profile.map(|p| p.version)),
        (u.clone(), Some(3))
    );

    // A decision from the older copy cannot commit; one from the profile can.
    for (version, ok) in [(2, false), (3, true)] {
        let result = store
            .commit(Commit {
                profile_unchanged: Some((u.clone(), version)),
                event: Some(event_record(&unique("evt"), EventStatus::Ignored)),
                ..Default::default()
            })
            .await;
        match (ok, result) {
            (true, Ok(())) | (false, Err(CommitError::ProfileConflict)) => {}
            (_, other) => panic!("version {version}: {other:?}"),
        }
    }
    let absent = store
        .commit(Commit {
            profile_unchanged: Some((other.clone(), 0)),
            event: Some(event_record(&unique("evt"), EventStatus::Ignored)),
            ..Default::default()
        })
        .await;
    assert!(absent.is_ok(), "{absent:?}");

    // A profile naming another user's customer writes nothing.
    let mut taken = profile_write(&other, tier("starter"), 0);
    if let Some(write) = taken.profile.as_mut() {
        write.profile.customer_id = Some(first.clone());
    }
    let err = store.commit(taken).await.unwrap_err();
    assert!(
        matches!(err, CommitError::CustomerLinkedElsewhere),
        "{err:?}"
    );
    assert_eq!(store.profile(&other).await.unwrap(), None);
    assert_eq!(store.user_for_customer(&first).await.unwrap(), Some(u));
}

fn change(user: &UserId, id: &str, due_at: Option<i64>, pending: bool) -> ChangeRecord {
    ChangeRecord {
        user_id: user.clone(),
        change_id: id.to_owned(),
        kind: ChangeKind::DowngradeScheduled,
        from_tier: tier("enterprise"),
        to_tier: tier("starter"),
        billing_cycle: None,
        recorded_at: 1,
        due_at,
        pending,
        cause: "test".into(),
        amount: None,
        stripe_refs: vec![],
    }
}

#[tokio::test]
async fn the_sparse_index_returns_only_due_pending_changes() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let now = 2_000_000_000;
    let changes = vec![
        change(&u, "c1-due", Some(now - 10), true),
        change(&u, "c2-due-now", Some(now), true),
        change(&u, "c3-future", Some(now + 10), true),
        change(&u, "c4-settled", Some(now - 20), false),
        change(&u, "c5-audit-only", None, false),
    ];
    store
        .commit(Commit {
            changes,
            ..Default::default()
        })
        .await
        .unwrap();

    let mine = |v: Vec<ChangeRecord>| -> Vec<String> {
        v.into_iter()
            .filter(|c| c.user_id == u)
            .map(|c| c.change_id)
            .collect()
    };
    assert_eq!(
        mine(store.due_changes(now, 100).await.unwrap()),
        vec!["c1-due", "c2-due-now"]
    );

    // Settling removes it from the index; settling twice is refused.
    let settle = Commit {
        settle_changes: vec![(u.clone(), "c1-due".into())],
        ..Default::default()
    };
    store.commit(settle.clone()).await.unwrap();
    assert!(matches!(
        store.commit(settle).await.unwrap_err(),
        CommitError::ChangeNotPending
    ));
    assert_eq!(
        mine(store.due_changes(now, 100).await.unwrap()),
        vec!["c2-due-now"]
    );
    assert_eq!(store.changes(&u, 10).await.unwrap().len(), 5);
}

fn payment(user: &UserId, n: i64) -> PaymentRecord {
    PaymentRecord {
        user_id: user.clone(),
        payment_id: format!("pi_{n:03}"),
        stripe_refs: vec![format!("pi_{n:03}-{user}"), format!("ch_{n:03}-{user}")],
        created: 1_700_000_000 + n,
        amount: 100 * n,
        currency: "usd".into(),
        status: PaymentStatus::Succeeded,
        description: Some(format!("payment {n}")),
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        invoice_url: None,
        invoice_pdf: None,
        receipt_url: None,
        paid_at: Some(1_700_000_000 + n),
        amount_refunded: 0,
        refunded_at: None,
        failure_reason: None,
        subscription_id: None,
        tax: 0,
        version: 0,
    }
}

#[tokio::test]
async fn payments_page_newest_first_without_gaps() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let other = user();
    store
        .commit(Commit {
            payments: (1..=7).map(|n| payment(&u, n)).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .commit(Commit {
            payments: vec![payment(&other, 99)],
            ..Default::default()
        })
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.payments(&u, 3, after.as_deref()).await.unwrap();
        seen.extend(page.payments.iter().map(|p| p.created - 1_700_000_000));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);

    let by_ref = store
        .payment_by_ref(&format!("ch_004-{u}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_ref.amount, 400);
    assert_eq!(store.payment_by_ref("ch_nope").await.unwrap(), None);
}

#[tokio::test]
async fn every_ref_finds_the_payment_as_last_written_and_an_older_pointer_still_resolves() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let mut paid = payment(&u, 5);
    store
        .commit(Commit {
            payments: vec![paid.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    // Refunded, and known by one more id (its invoice): every ref reads the new state.
    paid.version = 1;
    paid.status = PaymentStatus::Refunded;
    paid.amount_refunded = paid.amount;
    paid.stripe_refs.push(format!("in_005-{u}"));
    store
        .commit(Commit {
            payments: vec![paid.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    paid.version = 2;
    for stripe_ref in &paid.stripe_refs {
        assert_eq!(
            store.payment_by_ref(stripe_ref).await.unwrap().as_ref(),
            Some(&paid),
            "{stripe_ref}"
        );
    }

    // A ref as releases before the copy wrote it: a pointer to the payment item.
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let sk = format!(
        "PAYMENT#{}",
        tierflow::adapters::memory::payment_sort_key(&paid)
    );
    let attr = aws_sdk_dynamodb::types::AttributeValue::S;
    client
        .put_item()
        .table_name(&aws.table)
        .item("PK", attr(format!("PAYREF#legacy-{u}")))
        .item("SK", attr("PAYREF".into()))
        .item("user_id", attr(u.as_str().to_owned()))
        .item("payment_sk", attr(sk))
        .item("item_type", attr("payment_ref".into()))
        .send()
        .await
        .expect("legacy pointer");
    assert_eq!(
        store
            .payment_by_ref(&format!("legacy-{u}"))
            .await
            .unwrap()
            .as_ref(),
        Some(&paid)
    );
}

#[tokio::test]
async fn a_payment_is_written_only_over_the_version_read_and_a_new_one_only_under_free_ids() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let write = |payment: &PaymentRecord| Commit {
        payments: vec![payment.clone()],
        ..Default::default()
    };
    let new = payment(&u, 6);
    store.commit(write(&new)).await.unwrap();
    let stored = store
        .payment_by_ref(&new.stripe_refs[0])
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.version, 1);

    // Recorded as new again (another event decided it at the same time): refused.
    assert!(matches!(
        store.commit(write(&new)).await.unwrap_err(),
        CommitError::PaymentConflict
    ));
    // New under another key, but one of its ids already names a payment: refused too.
    let mut elsewhere = payment(&u, 7);
    elsewhere.stripe_refs.push(new.stripe_refs[1].clone());
    assert!(matches!(
        store.commit(write(&elsewhere)).await.unwrap_err(),
        CommitError::PaymentConflict
    ));
    assert_eq!(
        store
            .payment_by_ref(&elsewhere.stripe_refs[0])
            .await
            .unwrap(),
        None
    );

    // Over the version read: once; the second writer read the same version and is refused.
    let mut refunded = stored.clone();
    refunded.status = PaymentStatus::Refunded;
    store.commit(write(&refunded)).await.unwrap();
    let mut late = stored.clone();
    late.card_brand = Some("amex".into());
    assert!(matches!(
        store.commit(write(&late)).await.unwrap_err(),
        CommitError::PaymentConflict
    ));
    let now = store
        .payment_by_ref(&new.stripe_refs[1])
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((now.status, now.version), (PaymentStatus::Refunded, 2));

    // An item written before payments carried a version reads as version 1 and is writable
    // over it.
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let legacy = payment(&u, 8);
    store.commit(write(&legacy)).await.unwrap();
    let sk = format!(
        "PAYMENT#{}",
        tierflow::adapters::memory::payment_sort_key(&legacy)
    );
    let attr = aws_sdk_dynamodb::types::AttributeValue::S;
    client
        .update_item()
        .table_name(&aws.table)
        .key("PK", attr(format!("USER#{u}")))
        .key("SK", attr(sk.clone()))
        .update_expression("REMOVE version")
        .send()
        .await
        .expect("an unversioned item");
    let page = store.payments(&u, 10, None).await.unwrap();
    let unversioned = page
        .payments
        .iter()
        .find(|p| p.payment_id == legacy.payment_id)
        .expect("listed")
        .clone();
    assert_eq!(unversioned.version, 1);
    let mut updated = unversioned;
    updated.status = PaymentStatus::Refunded;
    store.commit(write(&updated)).await.unwrap();
}

/// `delivery_reads` in one `BatchGetItem` (chunked past DynamoDB's 100 keys) finds exactly
/// what the single reads find, in the order of its keys, a ref named twice and absent keys too.
#[tokio::test]
async fn a_deliverys_batched_reads_find_what_the_single_reads_find() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let customer = unique("cus");
    let mut first = profile_write(&u, tier("professional"), 0);
    if let Some(write) = first.profile.as_mut() {
        write.profile.customer_id = Some(customer.clone());
    }
    first.customer_links = vec![(customer.clone(), u.clone())];
    first.payments = vec![payment(&u, 1), payment(&u, 2)];
    let event_id = unique("evt");
    first.event = Some(event_record(&event_id, EventStatus::Completed));
    store.commit(first).await.unwrap();

    let known = [format!("ch_002-{u}"), format!("pi_001-{u}")];
    let mut refs: Vec<String> = (0..120).map(|n| format!("ch_unknown_{n}-{u}")).collect();
    refs.insert(3, known[0].clone());
    refs.push(known[1].clone());
    refs.push(known[0].clone());
    let read = store
        .delivery_reads(&DeliveryKeys {
            event_id: Some(&event_id),
            payment_refs: &refs,
            customer_id: Some(&customer),
            user_id: Some(&u),
        })
        .await
        .unwrap();

    assert_eq!(read.event, store.event_record(&event_id).await.unwrap());
    assert!(read.event.is_some());
    assert_eq!(
        read.customer,
        store.customer_owner(&customer).await.unwrap()
    );
    assert_eq!(
        read.customer.as_ref().map(|owner| owner.user.clone()),
        Some(u.clone())
    );
    assert_eq!(read.profile, store.profile(&u).await.unwrap());
    assert_eq!(read.payments.len(), refs.len());
    for (stripe_ref, payment) in refs.iter().zip(&read.payments) {
        let single = store.payment_by_ref(stripe_ref).await.unwrap();
        assert_eq!(payment, &single, "{stripe_ref}");
    }
    assert_eq!(read.payments[3].as_ref().map(|p| p.amount), Some(200));
    assert_eq!(read.payments[121].as_ref().map(|p| p.amount), Some(100));
    assert_eq!(read.payments[122].as_ref().map(|p| p.amount), Some(200));

    // Nothing to read, and keys nobody wrote.
    assert_eq!(
        store
            .delivery_reads(&DeliveryKeys::default())
            .await
            .unwrap(),
        DeliveryReads::default()
    );
    let stranger = user();
    let none = store
        .delivery_reads(&DeliveryKeys {
            event_id: Some("evt_never_seen"),
            payment_refs: &["pi_never_seen".to_owned()],
            customer_id: Some("cus_never_seen"),
            user_id: Some(&stranger),
        })
        .await
        .unwrap();
    assert_eq!(
        none,
        DeliveryReads {
            payments: vec![None],
            ..DeliveryReads::default()
        }
    );
}

#[tokio::test]
async fn a_committed_outbox_rides_the_tables_stream_to_the_relay() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let u = user();
    let (with_outbox, without) = (unique("evt"), unique("evt"));
    let mut record = event_record(&with_outbox, EventStatus::Completed);
    record
        .outbox
        .jobs
        .push(SyncJob::state(u.clone(), &with_outbox));
    let mut commit = profile_write(&u, tier("starter"), 0);
    commit.event = Some(record);
    store.commit(commit).await.unwrap();
    store
        .commit(Commit {
            event: Some(event_record(&without, EventStatus::Ignored)),
            ..Default::default()
        })
        .await
        .unwrap();
    let reread = store.event_record(&with_outbox).await.unwrap().unwrap();
    assert_eq!(
        reread.outbox.jobs.len(),
        1,
        "the outbox survives the round trip"
    );

    // What Lambda's event source mapping hands outbox-relay: this test's records only (other
    // tests share the table).
    let ours = [format!("EVENT#{with_outbox}"), format!("EVENT#{without}")];
    let batch = stream_batch(&aws, |pk| ours.contains(&pk.to_owned())).await;
    assert_eq!(batch.records.len(), 2, "both records are on the stream");
    let (queue, bus) = (MemoryQueue::new(), MemoryBus::new());
    let response = tierflow::outbox::relay_stream(batch, &queue, &bus).await;
    assert!(response.batch_item_failures.is_empty());
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1, "only the record with an outbox publishes");
    assert_eq!(
        (jobs[0].user_id.clone(), jobs[0].cause.clone()),
        (u, with_outbox)
    );
}

#[tokio::test]
async fn counters_and_checkpoints() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let key = unique("checkout");
    for want in 1..=3 {
        assert_eq!(store.count_in_window(&key, 60).await.unwrap(), want);
    }
    assert_eq!(
        store.count_in_window(&key, 120).await.unwrap(),
        1,
        "a new window starts at one"
    );
    let name = unique("cp");
    assert_eq!(store.checkpoint(&name).await.unwrap(), None);
    store.set_checkpoint(&name, 42).await.unwrap();
    assert_eq!(store.checkpoint(&name).await.unwrap(), Some(42));
}

#[tokio::test]
async fn sync_failures_are_recorded_listed_replaced_and_cleared() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let user = user();
    let mut fields = serde_json::Map::new();
    fields.insert("amount".into(), serde_json::Value::Null);
    let job = SyncJob::state(user.clone(), "evt_1").with_email("receipt", fields);
    let failure = |reason: &str| SyncFailure {
        job: job.clone(),
        reason: reason.into(),
        failed_at: 1_800_000_000,
    };
    store.record_sync_failure(&failure("first")).await.unwrap();
    store.record_sync_failure(&failure("second")).await.unwrap();
    let state_only = SyncFailure {
        job: SyncJob::state(user.clone(), "evt_1"),
        ..failure("state")
    };
    store.record_sync_failure(&state_only).await.unwrap();

    let mine = |all: Vec<SyncFailure>| -> Vec<SyncFailure> {
        all.into_iter().filter(|f| f.job.user_id == user).collect()
    };
    let listed = mine(store.sync_failures(1000).await.unwrap());
    assert_eq!(
        listed.len(),
        2,
        "one record per job, the latest reason wins"
    );
    assert!(listed.contains(&failure("second")));
    assert!(listed.contains(&state_only));

    let mut others = failure("another user's");
    others.job.user_id = UserId::parse(&format!("{user}-other")).unwrap();
    store.record_sync_failure(&others).await.unwrap();
    let of_user = store.user_sync_failures(&user).await.unwrap();
    assert_eq!(of_user.len(), 2, "{of_user:?}");
    assert!(of_user.iter().all(|f| f.job.user_id == user));

    store.clear_sync_failure(&state_only).await.unwrap();
    assert_eq!(
        mine(store.sync_failures(1000).await.unwrap()),
        [failure("second")]
    );
}

async fn sqs(aws: &LocalAws) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config_for_endpoint(&aws.endpoint).await)
}

#[tokio::test]
async fn sync_jobs_round_trip_and_failed_messages_reach_the_dlq() {
    let Some(aws) = local_aws() else { return };
    let client = sqs(&aws).await;
    // A queue of this test's own with the template's redrive policy, so parallel tests don't race.
    let dlq_attrs = client
        .get_queue_attributes()
        .queue_url(&aws.sync_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive = dlq_attrs.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]
        .clone();
    let policy: serde_json::Value = serde_json::from_str(&redrive).unwrap();
    let max_receives = policy["maxReceiveCount"].as_u64().unwrap();
    assert_eq!(
        max_receives, 5,
        "template.yaml's redrive policy reached the emulator"
    );

    let dlq_url = client
        .create_queue()
        .queue_name(unique("dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let url = client
        .create_queue()
        .queue_name(unique("sync"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let queue = SqsSyncQueue::new(client.clone(), &url);
    let u = user();
    let jobs: Vec<SyncJob> = (0..12)
        .map(|i| SyncJob::state(u.clone(), format!("evt_{i}")))
        .collect();
    queue.enqueue(&jobs).await.unwrap();

    let mut received = Vec::new();
    while received.len() < 12 {
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = out.messages.unwrap_or_default();
        assert!(!msgs.is_empty(), "all 12 jobs arrive");
        for m in msgs {
            let job: SyncJob = serde_json::from_str(m.body().unwrap()).unwrap();
            received.push(job.cause);
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    received.sort();
    assert_eq!(received.len(), 12);

    // One job that keeps failing: received max_receives times without being deleted.
    queue
        .enqueue(&[SyncJob::state(u.clone(), "poison")])
        .await
        .unwrap();
    for _ in 0..max_receives {
        let out = client
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        assert_eq!(out.messages.unwrap_or_default().len(), 1);
    }
    let after = client
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert!(
        after.messages.unwrap_or_default().is_empty(),
        "moved off the queue"
    );
    let dead = client
        .receive_message()
        .queue_url(&dlq_url)
        .send()
        .await
        .unwrap();
    let dead = dead.messages.unwrap_or_default();
    assert_eq!(dead.len(), 1, "landed in the DLQ");
    let job: SyncJob = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(job.cause, "poison");
}

#[tokio::test]
async fn domain_events_reach_a_rule_target_on_the_bus() {
    let Some(aws) = local_aws() else { return };
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    let sqs_client = sqs(&aws).await;
    let events_client = aws_sdk_eventbridge::Client::new(&cfg);

    let target_url = sqs_client
        .create_queue()
        .queue_name(unique("bus-target"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let target_arn = sqs_client
        .get_queue_attributes()
        .queue_url(&target_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let rule = unique("tier-changed");
    events_client
        .put_rule()
        .name(&rule)
        .event_bus_name(&aws.bus)
        .event_pattern(
            r#"{"source":["tierflow.billing"],"detail-type":["subscription.tier_changed"]}"#,
        )
        .send()
        .await
        .unwrap();
    events_client
        .put_targets()
        .rule(&rule)
        .event_bus_name(&aws.bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(&target_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let bus = EventBridgeBus::new(events_client.clone(), &aws.bus);
    let u = user();
    let event = |detail_type: &str, id: &str| DomainEvent {
        id: id.to_owned(),
        detail_type: detail_type.to_owned(),
        user_id: u.clone(),
        detail: serde_json::json!({"from": "starter", "to": "professional"}),
    };
    bus.publish(&[
        event("subscription.tier_changed", "evt_a"),
        event("access.revoked", "evt_b"),
    ])
    .await
    .unwrap();

    let out = sqs_client
        .receive_message()
        .queue_url(&target_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let msgs = out.messages.unwrap_or_default();
    assert_eq!(msgs.len(), 1, "the pattern matches only tier_changed");
    let envelope: serde_json::Value = serde_json::from_str(msgs[0].body().unwrap()).unwrap();
    assert_eq!(envelope["source"], "tierflow.billing");
    assert_eq!(envelope["detail-type"], "subscription.tier_changed");
    assert_eq!(envelope["detail"]["user_id"], u.as_str());
    assert_eq!(envelope["detail"]["event_id"], "evt_a");
    assert_eq!(envelope["detail"]["to"], "professional");
}
