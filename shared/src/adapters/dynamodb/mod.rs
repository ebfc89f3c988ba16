//! The billing store on one DynamoDB table (single-table design).
//!
//! | item | PK | SK | notes |
//! |---|---|---|---|
//! | profile | `USER#{user}` | `PROFILE` | `version` guards every write |
//! | change | `USER#{user}` | `CHANGE#{change_id}` | pending ones carry `GSI1PK=DUE`, `GSI1SK={due_at}#…` |
//! | payment | `USER#{user}` | `PAYMENT#{created}#{id}` | read newest first |
//! | payment ref | `PAYREF#{stripe id}` | `PAYREF` | a copy of the payment, written with it; `payment_sk` names the payment item |
//! | customer link | `CUSTOMER#{cus}` | `CUSTOMER` | created once per customer; `profile`: a copy of the profile as last written while it named this customer |
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

mod codec;
mod commit;

use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, UserId};
use crate::ports::{
    BillingStore, ChangeRecord, Commit, CommitError, CustomerOwner, DeliveryKeys, DeliveryReads,
    EventRecord, LagoWebhookRecord, PaymentPage, PaymentRecord, StoreError, SyncFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use codec::{decode_event, from_item, item_key, keyed, n, s, store_err, to_item, user_pk, Item};
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
    decode_event(image).map(Some)
}

/// The DynamoDB billing store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table` (its name, from `TABLE_NAME`) through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err("GetItem", e))?;
        Ok(out.item)
    }

    /// The items at `keys` (strongly consistent), found in as few `BatchGetItem` requests as
    /// DynamoDB allows (100 keys each), asking again for the keys it leaves unprocessed.
    async fn batch_get(
        &self,
        keys: &[(String, &str)],
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut unique: Vec<&(String, &str)> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let mut found = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_LIMIT) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|(pk, sk)| item_key(pk.clone(), sk))
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError(e.to_string()))?;
            for attempt in 0..=BATCH_GET_RETRIES {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| store_err("BatchGetItem", e))?;
                for item in out
                    .responses
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default()
                {
                    let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    if let (Some(pk), Some(sk)) = (key("PK"), key("SK")) {
                        found.insert((pk, sk), item);
                    }
                }
                match out
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&self.table))
                {
                    Some(rest) if !rest.keys.is_empty() => {
                        if attempt == BATCH_GET_RETRIES {
                            return Err(StoreError(format!(
                                "BatchGetItem left {} key(s) unprocessed after {BATCH_GET_RETRIES} retries",
                                rest.keys.len()
                            )));
                        }
                        // DynamoDB returns unprocessed keys when it throttles: back off.
                        tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                        pending = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// The payment a ref item names: its copy, or, for a ref written before refs carried one,
    /// the payment item it points at.
    async fn payment_from_ref(&self, pointer: Item) -> Result<Option<PaymentRecord>, StoreError> {
        if pointer.contains_key("payment_id") {
            return from_item(pointer).map(Some);
        }
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

/// Keys per `BatchGetItem` request, DynamoDB's limit.
const BATCH_GET_LIMIT: usize = 100;
/// How often unprocessed keys are asked for again before the read fails (and is retried).
const BATCH_GET_RETRIES: u32 = 4;

/// A customer link's user and its profile copy (absent on links from before copies).
fn customer_owner_from(mut link: Item) -> Result<Option<CustomerOwner>, StoreError> {
    let Some(user) = link
        .get("user_id")
        .and_then(|v| v.as_s().ok())
        .and_then(|u| UserId::parse(u).ok())
    else {
        return Ok(None);
    };
    let profile = match link.remove("profile") {
        Some(AttributeValue::M(copy)) => Some(from_item(copy)?),
        _ => None,
    };
    Ok(Some(CustomerOwner { user, profile }))
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

    async fn customer_owner(&self, customer_id: &str) -> Result<Option<CustomerOwner>, StoreError> {
        match self
            .get(format!("CUSTOMER#{customer_id}"), "CUSTOMER")
            .await?
        {
            Some(link) => customer_owner_from(link),
            None => Ok(None),
        }
    }

    async fn delivery_reads(&self, keys: &DeliveryKeys<'_>) -> Result<DeliveryReads, StoreError> {
        let event_key = keys.event_id.map(|id| (format!("EVENT#{id}"), "EVENT"));
        let ref_keys: Vec<(String, &str)> = keys
            .payment_refs
            .iter()
            .map(|stripe_id| (format!("PAYREF#{stripe_id}"), "PAYREF"))
            .collect();
        let customer_key = keys
            .customer_id
            .map(|customer| (format!("CUSTOMER#{customer}"), "CUSTOMER"));
        let profile_key = keys.user_id.map(|user| (user_pk(user), "PROFILE"));
        let wanted: Vec<(String, &str)> = event_key
            .iter()
            .chain(&ref_keys)
            .chain(&customer_key)
            .chain(&profile_key)
            .cloned()
            .collect();
        let mut found = self.batch_get(&wanted).await?;
        let mut take = |key: &Option<(String, &str)>| {
            key.as_ref()
                .and_then(|(pk, sk)| found.remove(&(pk.clone(), (*sk).to_owned())))
        };
        let event = take(&event_key).map(decode_event).transpose()?;
        let customer = match take(&customer_key) {
            Some(link) => customer_owner_from(link)?,
            None => None,
        };
        let profile = take(&profile_key).map(from_item).transpose()?;
        let mut payments = Vec::with_capacity(ref_keys.len());
        // A ref named twice finds its payment at both places, as the single reads would.
        for (pk, sk) in ref_keys {
            payments.push(match found.get(&(pk, sk.to_owned())) {
                Some(pointer) => self.payment_from_ref(pointer.clone()).await?,
                None => None,
            });
        }
        Ok(DeliveryReads {
            event,
            payments,
            customer,
            profile,
        })
    }

    async fn commit(&self, commit: Commit) -> Result<(), CommitError> {
        self.transact(commit).await
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
        match self.get(format!("PAYREF#{stripe_id}"), "PAYREF").await? {
            Some(pointer) => self.payment_from_ref(pointer).await,
            None => Ok(None),
        }
    }

    async fn event_record(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.get(format!("EVENT#{event_id}"), "EVENT")
            .await?
            .map(decode_event)
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
            .map(decode_event)
            .collect()
    }

    async fn count_in_window(&self, key: &str, window_end: UnixTime) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
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
            .set_key(Some(item_key(SYNC_FAILURE_PK.into(), &failure.key())))
            .send()
            .await
            .map_err(|e| store_err("DeleteItem", e))?;
        Ok(())
    }
}
