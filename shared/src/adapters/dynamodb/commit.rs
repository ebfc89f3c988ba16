//! [`Commit`] as one DynamoDB transaction: every item's guard (a condition), and a
//! cancellation mapped back to the guard that failed.

use super::codec::{
    change_item, customer_link_item, item_key, n, payment_items, profile_item, s, store_err,
    to_item, user_pk, Item,
};
use super::DynamoStore;
use crate::domain::UserId;
use crate::ports::{Commit, CommitError, StoreError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};

/// What each item of a transaction was, to map a cancellation reason to a [`CommitError`].
#[derive(Clone, Copy)]
enum Guard {
    Profile,
    CustomerLink,
    Settle,
    Event,
    Payment,
    None,
}

impl DynamoStore {
    fn put(&self, item: Item) -> PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }

    /// A payment item written only over the version it was read at (0: absent; 1 also
    /// matches an item stored before payments carried a version).
    fn versioned_payment_put(
        &self,
        item: Item,
        read_version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = self.put(item);
        let put = match read_version {
            0 => put.condition_expression("attribute_not_exists(PK)"),
            1 => put
                .condition_expression("attribute_not_exists(#v) OR #v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", n(1)),
            v => put
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", n(v)),
        }
        .build()
        .map_err(|e| StoreError(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn plain_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = self
            .put(item)
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes everything in `commit` or nothing ([`crate::ports::BillingStore::commit`]).
    pub(super) async fn transact(&self, commit: Commit) -> Result<(), CommitError> {
        let mut items: Vec<TransactWriteItem> = Vec::new();
        let mut guards: Vec<Guard> = Vec::new();

        if let Some(write) = &commit.profile {
            let item = profile_item(&write.profile, write.expected_version + 1)?;
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
        if let (Some((user, version)), None) = (&commit.profile_unchanged, &commit.profile) {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(item_key(user_pk(user), "PROFILE")));
            let check = if *version == 0 {
                check.condition_expression("attribute_not_exists(PK)")
            } else {
                check
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":expected", n(*version))
            }
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
            guards.push(Guard::Profile);
        }
        // The profile's own customer link carries a copy of the profile, written with it: an
        // event about the customer finds its user and their profile in one read.
        let own_customer = match &commit.profile {
            Some(write) => write
                .profile
                .customer_id
                .as_ref()
                .map(|customer| {
                    let mut copy = write.profile.clone();
                    copy.version = write.expected_version + 1;
                    to_item(&copy).map(|item| (customer.clone(), copy.user_id, item))
                })
                .transpose()?,
            None => None,
        };
        let mut links: Vec<(&String, &UserId)> =
            commit.customer_links.iter().map(|(c, u)| (c, u)).collect();
        if let Some((customer, user, _)) = &own_customer {
            if !links.contains(&(customer, user)) {
                links.push((customer, user));
            }
        }
        for (customer, user) in links {
            let mut item = customer_link_item(customer, user);
            if let Some((own, owner, copy)) = &own_customer {
                if own == customer && owner == user {
                    item.insert("profile".into(), AttributeValue::M(copy.clone()));
                }
            }
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
                .set_key(Some(item_key(
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
            items.push(self.plain_put(change_item(change)?)?);
            guards.push(Guard::None);
        }
        for payment in &commit.payments {
            let (payment_item, refs) = payment_items(payment)?;
            items.push(self.versioned_payment_put(payment_item, payment.version)?);
            guards.push(Guard::Payment);
            for item in refs {
                if payment.version == 0 {
                    // A new payment: no payment answers to any of its Stripe ids yet (another
                    // event may have recorded it a moment ago, perhaps under another key).
                    let put = self
                        .put(item)
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(|e| StoreError(e.to_string()))?;
                    items.push(TransactWriteItem::builder().put(put).build());
                    guards.push(Guard::Payment);
                } else {
                    items.push(self.plain_put(item)?);
                    guards.push(Guard::None);
                }
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
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    err.as_service_error()
                {
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
                            Guard::Payment => CommitError::PaymentConflict,
                            Guard::None => CommitError::Store(StoreError(
                                "unexpected condition failure".into(),
                            )),
                        });
                    }
                }
                Err(CommitError::Store(store_err("TransactWriteItems", err)))
            }
        }
    }
}
