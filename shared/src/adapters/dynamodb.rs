//! The billing store on one DynamoDB table (single-table design).
//!
//! | item | PK | SK | notes |
//! |---|---|---|---|
//! | profile | `USER#{user}` | `PROFILE` | `version` guards every write |
//! | change | `USER#{user}` | `CHANGE#{change_id}` | pending ones carry `GSI1PK=DUE`, `GSI1SK={due_at}#…` |
//! | payment | `USER#{user}` | `PAYMENT#{created}#{id}` | read newest first |
//! | payment ref | `PAYREF#{stripe id}` | `PAYREF` | points at the payment item |
//! | customer link | `CUSTOMER#{cus}` | `CUSTOMER` | created once per customer |
//! | event record | `EVENT#{evt}` | `EVENT` | created once (a replay may replace a failed one); `outbox` when it has effects; failed ones carry `GSI2PK=FAILED`, `GSI2SK={updated_at}#{evt}`; TTL `expires_at` |
//! | rate counter | `RATE#{key}` | `WINDOW#{end}` | TTL `expires_at` |
//! | checkpoint | `CHECKPOINT#{name}` | `CHECKPOINT` | |
//! | Lago webhook | `LAGOHOOK#{unique key}` | `LAGOHOOK` | audit summary; TTL only when not audited |
//! | sync failure | `SYNCFAIL` | `{user}#{cause}#{message}` | a permanently failed sync job, until replayed |
//!
//! `GSI1` is sparse: only pending scheduled changes have its keys, so "what is due" is a
//! key-range query whose cost follows the due items, not the table. `GSI2` is sparse the same
//! way over failed event records, for the operator's `replay-events`.
//!
//! The table's stream (new images) carries each new event record to `outbox-relay`, which
//! publishes its `outbox`: the outbox is written in the same transaction as the state it
//! follows from, and the stream delivers it at least once, so neither is ever without the other.

use super::memory::payment_sort_key;
use crate::domain::{BillingProfile, UserId};
use crate::ports::{
    BillingStore, ChangeRecord, Commit, CommitError, EventRecord, EventStatus, LagoWebhookRecord,
    PaymentPage, PaymentRecord, StoreError, SyncFailure,
};
use crate::time::UnixTime;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

/// The partition of permanently failed sync jobs: few items, read only by the operator tool.
const SYNC_FAILURE_PK: &str = "SYNCFAIL";

/// Name of the sparse index over due scheduled changes.
pub const DUE_INDEX: &str = "GSI1";
/// Name of the sparse index over failed event records.
pub const FAILED_EVENTS_INDEX: &str = "GSI2";
/// The attribute of an event record that holds its outbox (JSON).
pub const OUTBOX_ATTRIBUTE: &str = "outbox";
/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

/// The event record in a new image from the table's stream, if the image is one (`None` for
/// every other item).
pub fn event_record_from_image(image: Item) -> Result<Option<EventRecord>, StoreError> {
    let is_event = image
        .get("SK")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some("EVENT");
    if !is_event {
        return Ok(None);
    }
    DynamoStore::decode_event(image).map(Some)
}

/// The DynamoDB billing store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn store_err<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        ),
        None => e.to_string(),
    };
    StoreError(format!("{op}: {detail}"))
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError(format!("encode: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError(format!("decode: {e}")))
}

fn keyed(mut item: Item, pk: String, sk: String) -> Item {
    item.insert("PK".into(), s(pk));
    item.insert("SK".into(), s(sk));
    item
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

fn due_sort_key(change: &ChangeRecord, due_at: UnixTime) -> String {
    format!(
        "{:012}#{}#{}",
        due_at.max(0),
        change.user_id,
        change.change_id
    )
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
    }

    fn profile_item(profile: &BillingProfile, version: u64) -> Result<Item, StoreError> {
        let mut p = profile.clone();
        p.version = version;
        let mut item = keyed(to_item(&p)?, user_pk(&p.user_id), "PROFILE".into());
        item.insert("item_type".into(), s("profile"));
        Ok(item)
    }

    fn change_item(change: &ChangeRecord) -> Result<Item, StoreError> {
        let mut item = keyed(
            to_item(change)?,
            user_pk(&change.user_id),
            format!("CHANGE#{}", change.change_id),
        );
        item.insert("item_type".into(), s("change"));
        if let (true, Some(due_at)) = (change.pending, change.due_at) {
            item.insert("GSI1PK".into(), s("DUE"));
            item.insert("GSI1SK".into(), s(due_sort_key(change, due_at)));
        }
        Ok(item)
    }

    pub(crate) fn event_item(record: &EventRecord) -> Result<Item, StoreError> {
        let mut item = to_item(record)?;
        item.remove("outbox");
        // The outbox is opaque to queries: one JSON attribute, present only when there is
        // something to publish (the stream filter of `outbox-relay` keys on it).
        if !record.outbox.is_empty() {
            let outbox = serde_json::to_string(&record.outbox)
                .map_err(|e| StoreError(format!("encode outbox: {e}")))?;
            item.insert(OUTBOX_ATTRIBUTE.into(), s(outbox));
        }
        let mut item = keyed(item, format!("EVENT#{}", record.event_id), "EVENT".into());
        item.insert("item_type".into(), s("stripe_event"));
        if record.status == EventStatus::Failed {
            item.insert("GSI2PK".into(), s("FAILED"));
            item.insert(
                "GSI2SK".into(),
                s(format!(
                    "{:012}#{}",
                    record.updated_at.max(0),
                    record.event_id
                )),
            );
        }
        Ok(item)
    }

    fn decode_event(mut item: Item) -> Result<EventRecord, StoreError> {
        let outbox = match item.remove(OUTBOX_ATTRIBUTE) {
            Some(AttributeValue::S(text)) => serde_json::from_str(&text)
                .map_err(|e| StoreError(format!("decode outbox: {e}")))?,
            _ => Default::default(),
        };
        let mut record: EventRecord = from_item(item)?;
        record.outbox = outbox;
        Ok(record)
    }

    fn put(&self, item: Item) -> aws_sdk_dynamodb::types::builders::PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }

    fn plain_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = self
            .put(item)
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err("GetItem", e))?;
        Ok(out.item)
    }

    /// Recorded sync failures in key order, all or one user's (keys start with the user id),
    /// at most `limit`.
    async fn query_sync_failures(
        &self,
        user: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<SyncFailure>, StoreError> {
        let mut failures = Vec::new();
        if limit == 0 {
            return Ok(failures);
        }
        let mut values = HashMap::from([(":pk".to_owned(), s(SYNC_FAILURE_PK))]);
        let condition = match user {
            Some(user) => {
                values.insert(":prefix".to_owned(), s(format!("{user}#")));
                "PK = :pk AND begins_with(SK, :prefix)"
            }
            None => "PK = :pk",
        };
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .limit((limit as usize - failures.len()).min(100) as i32)
                .send()
                .await
                .map_err(|e| store_err("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let body = item
                    .get("failure")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| StoreError("a sync failure item without its body".into()))?;
                failures.push(
                    serde_json::from_str(body)
                        .map_err(|e| StoreError(format!("decode sync failure: {e}")))?,
                );
            }
            start = out.last_evaluated_key;
            if start.is_none() || failures.len() >= limit as usize {
                return Ok(failures);
            }
        }
    }
}

/// What each item of a transaction was, to map a cancellation reason to a [`CommitError`].
#[derive(Clone, Copy)]
enum Guard {
    Profile,
    CustomerLink,
    Settle,
    Event,
    None,
}

#[async_trait]
impl BillingStore for DynamoStore {
    async fn profile(&self, user_id: &UserId) -> Result<Option<BillingProfile>, StoreError> {
        self.get(user_pk(user_id), "PROFILE")
            .await?
            .map(from_item)
            .transpose()
    }

    async fn user_for_customer(&self, customer_id: &str) -> Result<Option<UserId>, StoreError> {
        let item = self
            .get(format!("CUSTOMER#{customer_id}"), "CUSTOMER")
            .await?;
        Ok(item
            .and_then(|i| i.get("user_id").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|u| UserId::parse(&u).ok()))
    }

    async fn commit(&self, commit: Commit) -> Result<(), CommitError> {
        let mut items: Vec<TransactWriteItem> = Vec::new();
        let mut guards: Vec<Guard> = Vec::new();

        if let Some(write) = &commit.profile {
            let item = Self::profile_item(&write.profile, write.expected_version + 1)?;
            let put = if write.expected_version == 0 {
                self.put(item)
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
            } else {
                self.put(item)
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":expected", n(write.expected_version))
                    .build()
            }
            .map_err(|e| StoreError(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
            guards.push(Guard::Profile);
        }
        for (customer, user) in &commit.customer_links {
            let item = keyed(
                HashMap::from([
                    ("user_id".to_owned(), s(user.as_str())),
                    ("item_type".to_owned(), s("customer_link")),
                ]),
                format!("CUSTOMER#{customer}"),
                "CUSTOMER".into(),
            );
            let put = self
                .put(item)
                .condition_expression("attribute_not_exists(PK) OR user_id = :u")
                .expression_attribute_values(":u", s(user.as_str()))
                .build()
                .map_err(|e| StoreError(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
            guards.push(Guard::CustomerLink);
        }
        for (user, change_id) in &commit.settle_changes {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(
                    user_pk(user),
                    &format!("CHANGE#{change_id}"),
                )))
                .update_expression("SET pending = :f REMOVE GSI1PK, GSI1SK")
                .condition_expression("pending = :t")
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .build()
                .map_err(|e| StoreError(e.to_string()))?;
            items.push(TransactWriteItem::builder().update(update).build());
            guards.push(Guard::Settle);
        }
        for change in &commit.changes {
            items.push(self.plain_put(Self::change_item(change)?)?);
            guards.push(Guard::None);
        }
        for payment in &commit.payments {
            let sk = format!("PAYMENT#{}", payment_sort_key(payment));
            let mut item = keyed(to_item(payment)?, user_pk(&payment.user_id), sk.clone());
            item.insert("item_type".into(), s("payment"));
            items.push(self.plain_put(item)?);
            guards.push(Guard::None);
            for stripe_ref in &payment.stripe_refs {
                let pointer = keyed(
                    HashMap::from([
                        ("user_id".to_owned(), s(payment.user_id.as_str())),
                        ("payment_sk".to_owned(), s(sk.clone())),
                        ("item_type".to_owned(), s("payment_ref")),
                    ]),
                    format!("PAYREF#{stripe_ref}"),
                    "PAYREF".into(),
                );
                items.push(self.plain_put(pointer)?);
                guards.push(Guard::None);
            }
        }
        if let Some(event) = &commit.event {
            let put = self.put(Self::event_item(event)?);
            let put = if event.attempts > 1 {
                // A replay: only over the failed record it read, never over a newer one.
                put.condition_expression("#st = :failed AND attempts = :previous")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":failed", s("failed"))
                    .expression_attribute_values(":previous", n(event.attempts - 1))
            } else {
                put.condition_expression("attribute_not_exists(PK)")
            }
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
            items.push(TransactWriteItem::builder().put(put).build());
            guards.push(Guard::Event);
        }
        if items.is_empty() {
            return Ok(());
        }

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc)) = err.as_service_error() {
                    let reasons = tc.cancellation_reasons();
                    let failed = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if let Some(index) = failed {
                        return Err(match guards.get(index).copied().unwrap_or(Guard::None) {
                            Guard::Profile => CommitError::ProfileConflict,
                            Guard::CustomerLink => CommitError::CustomerLinkedElsewhere,
                            Guard::Settle => CommitError::ChangeNotPending,
                            Guard::Event => CommitError::EventAlreadyRecorded,
                            Guard::None => CommitError::Store(StoreError("unexpected condition failure".into())),
                        });
                    }
                }
                Err(CommitError::Store(store_err("TransactWriteItems", err)))
            }
        }
    }

    async fn changes(&self, user_id: &UserId, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user_id)))
            .expression_attribute_values(":prefix", s("CHANGE#"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| store_err("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn due_changes(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        // `~` sorts after every digit and `#`, so this bound includes every key due at `now`.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("GSI1PK = :due AND GSI1SK <= :now")
            .expression_attribute_values(":due", s("DUE"))
            .expression_attribute_values(":now", s(format!("{:012}#~", now.max(0))))
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| store_err("Query", e))?;
        // One unreadable item must not hold back every other due change.
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| match from_item::<ChangeRecord>(item) {
                Ok(change) => Some(change),
                Err(e) => {
                    tracing::error!(error = %e, "skipping an unreadable scheduled change");
                    None
                }
            })
            .collect())
    }

    async fn payments(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
    ) -> Result<PaymentPage, StoreError> {
        let pk = user_pk(user_id);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s("PAYMENT#"))
            .scan_index_forward(false)
            .limit(limit as i32);
        if let Some(after) = after {
            query = query
                .exclusive_start_key("PK", s(pk))
                .exclusive_start_key("SK", s(format!("PAYMENT#{after}")));
        }
        let out = query.send().await.map_err(|e| store_err("Query", e))?;
        let payments: Vec<PaymentRecord> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        // DynamoDB may return a LastEvaluatedKey on an exactly full last page; the next page is
        // then empty, which the caller handles like any page.
        let next = out
            .last_evaluated_key
            .and_then(|k| k.get("SK").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|sk| sk.strip_prefix("PAYMENT#").map(str::to_owned));
        Ok(PaymentPage { payments, next })
    }

    async fn payment_by_ref(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let Some(pointer) = self.get(format!("PAYREF#{stripe_id}"), "PAYREF").await? else {
            return Ok(None);
        };
        let (Some(user), Some(sk)) = (
            pointer.get("user_id").and_then(|v| v.as_s().ok()),
            pointer.get("payment_sk").and_then(|v| v.as_s().ok()),
        ) else {
            return Ok(None);
        };
        self.get(format!("USER#{user}"), sk)
            .await?
            .map(from_item)
            .transpose()
    }

    async fn event_record(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.get(format!("EVENT#{event_id}"), "EVENT")
            .await?
            .map(Self::decode_event)
            .transpose()
    }

    async fn failed_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(FAILED_EVENTS_INDEX)
            .key_condition_expression("GSI2PK = :failed")
            .expression_attribute_values(":failed", s("FAILED"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(|e| store_err("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(Self::decode_event)
            .collect()
    }

    async fn count_in_window(&self, key: &str, window_end: UnixTime) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                format!("RATE#{key}"),
                &format!("WINDOW#{window_end}"),
            )))
            .update_expression("ADD #c :one SET #ttl = :ttl")
            .expression_attribute_names("#c", "count")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(window_end + 60))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_err("UpdateItem", e))?;
        Ok(out
            .attributes
            .and_then(|a| a.get("count").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|c| c.parse().ok())
            .unwrap_or(1))
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .get(format!("CHECKPOINT#{name}"), "CHECKPOINT")
            .await?
            .and_then(|i| i.get("value").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|v| v.parse().ok()))
    }

    async fn set_checkpoint(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let item = keyed(
            HashMap::from([
                ("value".to_owned(), n(value)),
                ("item_type".to_owned(), s("checkpoint")),
            ]),
            format!("CHECKPOINT#{name}"),
            "CHECKPOINT".into(),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_err("PutItem", e))?;
        Ok(())
    }
    async fn record_lago_webhook(&self, record: &LagoWebhookRecord) -> Result<bool, StoreError> {
        let mut item = to_item(record)?;
        // The summary is opaque to queries (and may hold nulls): keep it one JSON attribute.
        let summary = serde_json::to_string(&record.summary)
            .map_err(|e| StoreError(format!("encode summary: {e}")))?;
        item.insert("summary".into(), s(summary));
        let mut item = keyed(
            item,
            format!("LAGOHOOK#{}", record.unique_key),
            "LAGOHOOK".into(),
        );
        item.insert("item_type".into(), s("lago_webhook"));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_err("PutItem", e)),
        }
    }

    async fn record_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        // The job's email fields may hold nulls: keep the whole failure one JSON attribute.
        let body = serde_json::to_string(failure)
            .map_err(|e| StoreError(format!("encode sync failure: {e}")))?;
        let item = keyed(
            HashMap::from([
                ("failure".to_owned(), s(body)),
                ("item_type".to_owned(), s("sync_failure")),
            ]),
            SYNC_FAILURE_PK.into(),
            failure.key(),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_err("PutItem", e))?;
        Ok(())
    }

    async fn sync_failures(&self, limit: u32) -> Result<Vec<SyncFailure>, StoreError> {
        self.query_sync_failures(None, limit).await
    }

    async fn user_sync_failures(&self, user: &UserId) -> Result<Vec<SyncFailure>, StoreError> {
        self.query_sync_failures(Some(user), u32::MAX).await
    }

    async fn clear_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(SYNC_FAILURE_PK.into(), &failure.key())))
            .send()
            .await
            .map_err(|e| store_err("DeleteItem", e))?;
        Ok(())
    }
}
