//! The payment history use case over the real DynamoDB adapter, against the local AWS emulator:
//! newest first, paged by signed cursors, inside the caller's own partition only.

use crate::support::{local_aws, unique, LocalAws};
use std::collections::HashSet;
use tierflow::adapters::aws::sdk_config_for_endpoint;
use tierflow::adapters::dynamodb::DynamoStore;
use tierflow::auth::Caller;
use tierflow::domain::UserId;
use tierflow::ports::{BillingStore, Commit, PaymentRecord, PaymentStatus};
use tierflow::service::payments::history::{payment_history, HistoryQuery, HistoryView};

const KEY: &[u8] = b"payments-history-adapter-test-key!!";

async fn store(aws: &LocalAws) -> DynamoStore {
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&cfg), &aws.table)
}

fn caller() -> Caller {
    Caller {
        user_id: UserId::parse(&unique("history")).expect("a valid user id"),
        email: None,
    }
}

fn payment(user: &UserId, n: i64) -> PaymentRecord {
    PaymentRecord {
        user_id: user.clone(),
        payment_id: format!("pi_{user}_{n:03}"),
        stripe_refs: vec![format!("pi_{user}_{n:03}"), format!("ch_{user}_{n:03}")],
        // Several payments share a second, as Stripe's one-second `created` allows.
        created: 1_790_000_000 + n / 3,
        amount: 500 + n,
        currency: "usd".into(),
        status: if n % 7 == 0 {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::Succeeded
        },
        description: Some(format!("payment {n}")),
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        invoice_url: None,
        invoice_pdf: None,
        receipt_url: None,
        paid_at: Some(1_790_000_000 + n / 3),
        amount_refunded: 0,
        refunded_at: None,
        failure_reason: None,
        subscription_id: None,
        tax: 0,
        version: 0,
    }
}

async fn seed(store: &DynamoStore, user: &UserId, count: i64) {
    let all: Vec<PaymentRecord> = (1..=count).map(|n| payment(user, n)).collect();
    // Each payment writes its item and one pointer per ref: keep transactions small.
    for chunk in all.chunks(10) {
        store
            .commit(Commit {
                payments: chunk.to_vec(),
                ..Commit::default()
            })
            .await
            .expect("seed payments");
    }
}

async fn page(
    store: &DynamoStore,
    who: &Caller,
    limit: Option<&str>,
    cursor: Option<String>,
) -> HistoryView {
    payment_history(
        store,
        KEY,
        who,
        &HistoryQuery {
            limit: limit.map(str::to_owned),
            cursor,
        },
    )
    .await
    .expect("a history page")
}

/// Every page from the first, as (sizes, ids in order).
async fn all_pages(store: &DynamoStore, who: &Caller) -> (Vec<usize>, Vec<String>) {
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let view = page(store, who, None, cursor).await;
        sizes.push(view.transactions.len());
        ids.extend(view.transactions.into_iter().map(|t| t.id));
        match view.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (sizes, ids),
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
}

#[tokio::test]
async fn forty_five_payments_page_through_in_three_pages_without_duplicates_or_gaps() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let ada = caller();
    let bob = caller();
    seed(&store, &ada.user_id, 45).await;
    seed(&store, &bob.user_id, 5).await;

    let (sizes, ids) = all_pages(&store, &ada).await;
    assert_eq!(sizes, [20, 20, 5]);
    let expected: Vec<String> = (1..=45)
        .rev()
        .map(|n| payment(&ada.user_id, n).payment_id)
        .collect();
    assert_eq!(ids, expected, "newest first, each exactly once");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 45);
}

#[tokio::test]
async fn an_exactly_full_last_page_ends_the_paging() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let ada = caller();
    seed(&store, &ada.user_id, 40).await;
    // DynamoDB hands out a LastEvaluatedKey after a full page even when nothing follows.
    let (sizes, ids) = all_pages(&store, &ada).await;
    assert_eq!(sizes, [20, 20]);
    assert_eq!(ids.len(), 40);
}

#[tokio::test]
async fn cursors_only_work_for_their_user_and_pages_stay_in_the_partition() {
    let Some(aws) = local_aws() else { return };
    let store = store(&aws).await;
    let ada = caller();
    let bob = caller();
    seed(&store, &ada.user_id, 3).await;
    seed(&store, &bob.user_id, 3).await;

    let bobs_first = page(&store, &bob, Some("1"), None).await;
    let bobs_cursor = bobs_first.next_cursor.expect("more of bob's payments");
    let err = payment_history(
        &store,
        KEY,
        &ada,
        &HistoryQuery {
            limit: None,
            cursor: Some(bobs_cursor.clone()),
        },
    )
    .await
    .expect_err("bob's cursor is not ada's");
    assert_eq!(err.status, 400);
    assert_eq!(err.code, "invalid_cursor");

    let bobs_rest = page(&store, &bob, Some("100"), Some(bobs_cursor)).await;
    assert_eq!(bobs_rest.transactions.len(), 2);
    assert_eq!(bobs_rest.next_cursor, None);
    let adas = page(&store, &ada, Some("100"), None).await;
    let bobs_ids: HashSet<String> = (1..=3)
        .map(|n| payment(&bob.user_id, n).payment_id)
        .collect();
    assert_eq!(adas.transactions.len(), 3);
    assert!(adas.transactions.iter().all(|t| !bobs_ids.contains(&t.id)));
}
