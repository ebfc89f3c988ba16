//! Items and keys: how each record of the billing store is laid out as a DynamoDB item, and how
//! an item reads back.

use super::{DynamoStore, OUTBOX_ATTRIBUTE};
use crate::adapters::memory::payment_sort_key;
use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, UserId};
use crate::ports::{ChangeRecord, EventRecord, EventStatus, PaymentRecord, StoreError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

/// One DynamoDB item, attribute name to value.
pub(super) type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A failed SDK call as a [`StoreError`] naming the operation and DynamoDB's code and message.
pub(super) fn store_err<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
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

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError(format!("encode: {e}")))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError(format!("decode: {e}")))
}

/// `item` with its table keys set.
pub(super) fn keyed(mut item: Item, pk: String, sk: String) -> Item {
    item.insert("PK".into(), s(pk));
    item.insert("SK".into(), s(sk));
    item
}

/// The key of the item at `pk`/`sk`, for reads, updates and deletes.
pub(super) fn item_key(pk: String, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

/// The partition of a user's profile, changes and payments.
pub(super) fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

/// `GSI1SK` of a pending change: due time first, zero-padded so keys sort by time.
fn due_sort_key(change: &ChangeRecord, due_at: UnixTime) -> String {
    format!(
        "{:012}#{}#{}",
        due_at.max(0),
        change.user_id,
        change.change_id
    )
}

/// The profile item, stamped with the `version` it is written at.
pub(super) fn profile_item(profile: &BillingProfile, version: u64) -> Result<Item, StoreError> {
    let mut p = profile.clone();
    p.version = version;
    let mut item = keyed(to_item(&p)?, user_pk(&p.user_id), "PROFILE".into());
    item.insert("item_type".into(), s("profile"));
    Ok(item)
}

/// The item that links a Stripe customer to its user.
pub(super) fn customer_link_item(customer: &str, user: &UserId) -> Item {
    keyed(
        HashMap::from([
            ("user_id".to_owned(), s(user.as_str())),
            ("item_type".to_owned(), s("customer_link")),
        ]),
        format!("CUSTOMER#{customer}"),
        "CUSTOMER".into(),
    )
}

/// A change item; a pending one with a due time also carries the due index's keys.
pub(super) fn change_item(change: &ChangeRecord) -> Result<Item, StoreError> {
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

/// A payment item and the ref items (one per Stripe id it answers to) that find it, at the
/// version after the one `payment` was read at. Each ref carries a copy of the payment,
/// rewritten with it in the same transaction: an event finds its payment in one read, not a
/// pointer and then the payment.
pub(super) fn payment_items(payment: &PaymentRecord) -> Result<(Item, Vec<Item>), StoreError> {
    let sk = format!("PAYMENT#{}", payment_sort_key(payment));
    let stored = PaymentRecord {
        version: payment.version + 1,
        ..payment.clone()
    };
    let mut item = keyed(to_item(&stored)?, user_pk(&payment.user_id), sk.clone());
    item.insert("item_type".into(), s("payment"));
    let mut refs = Vec::new();
    for stripe_ref in &payment.stripe_refs {
        let mut copy = keyed(
            to_item(&stored)?,
            format!("PAYREF#{stripe_ref}"),
            "PAYREF".into(),
        );
        copy.insert("payment_sk".into(), s(sk.clone()));
        copy.insert("item_type".into(), s("payment_ref"));
        refs.push(copy);
    }
    Ok((item, refs))
}

impl DynamoStore {
    /// The event record's item: its outbox as one JSON attribute, and the failed-events index's
    /// keys when it failed.
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
}

/// An event record read back from its item.
pub(super) fn decode_event(mut item: Item) -> Result<EventRecord, StoreError> {
    let outbox = match item.remove(OUTBOX_ATTRIBUTE) {
        Some(AttributeValue::S(text)) => {
            serde_json::from_str(&text).map_err(|e| StoreError(format!("decode outbox: {e}")))?
        }
        _ => Default::default(),
    };
    let mut record: EventRecord = from_item(item)?;
    record.outbox = outbox;
    Ok(record)
}
