//! `GET /api/v1/billing/history?limit=&cursor=`: the caller's payments, newest first, from
//! DynamoDB only (a key-range query in the caller's partition, never a scan, never a Stripe
//! call), paged with a signed cursor bound to the caller.

use super::cursor;
use super::store_unavailable;
use crate::auth::Caller;
use crate::domain::time::rfc3339;
use crate::http::ApiError;
use crate::ports::{BillingStore, PaymentRecord, PaymentStatus};
use serde::Serialize;

/// Page size when the request names none.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page a request may ask for.
pub const MAX_LIMIT: u32 = 100;

/// One payment as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionView {
    /// The Stripe id of the payment (PaymentIntent, else invoice, else charge).
    pub id: String,
    /// `subscription` for an invoice of a subscription, `one_time` otherwise.
    pub kind: &'static str,
    /// Minor units of `currency`.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// `succeeded`, `failed`, `requires_action`, `refunded`, `partially_refunded`, `disputed`.
    pub status: PaymentStatus,
    /// Minor units refunded so far; 0 when none.
    pub amount_refunded: i64,
    /// Tax included in `amount` (Stripe Tax on an invoice), minor units; 0 without tax.
    pub tax: i64,
    /// The description given with a one-time payment; `None` for invoices.
    pub description: Option<String>,
    /// Stripe's card brand (`visa`, `mastercard`, …), once a charge shows it.
    pub card_brand: Option<String>,
    /// The card's last four digits, once a charge shows them.
    pub card_last4: Option<String>,
    /// The hosted invoice page, for invoice payments.
    pub invoice_url: Option<String>,
    /// The invoice as a PDF, for invoice payments.
    pub invoice_pdf: Option<String>,
    /// The receipt of the successful charge.
    pub receipt_url: Option<String>,
    /// RFC 3339: when Stripe created the payment.
    pub created_at: String,
    /// RFC 3339; `None` until it succeeds.
    pub paid_at: Option<String>,
    /// RFC 3339 of the latest refund; `None` when never refunded.
    pub refunded_at: Option<String>,
    /// Why the latest attempt failed, in Stripe's words when it gave any; `None` once paid.
    pub failure_reason: Option<String>,
}

impl From<PaymentRecord> for TransactionView {
    fn from(p: PaymentRecord) -> Self {
        Self {
            id: p.payment_id,
            kind: if p.subscription_id.is_some() {
                "subscription"
            } else {
                "one_time"
            },
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            amount_refunded: p.amount_refunded,
            tax: p.tax,
            description: p.description,
            card_brand: p.card_brand,
            card_last4: p.card_last4,
            invoice_url: p.invoice_url,
            invoice_pdf: p.invoice_pdf,
            receipt_url: p.receipt_url,
            created_at: rfc3339(p.created),
            paid_at: p.paid_at.map(rfc3339),
            refunded_at: p.refunded_at.map(rfc3339),
            failure_reason: p.failure_reason,
        }
    }
}

/// A page of history and the cursor of the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryView {
    /// At most the requested `limit`, newest first.
    pub transactions: Vec<TransactionView>,
    /// Opaque, signed and bound to the caller: pass it back as `cursor`.
    pub next_cursor: Option<String>,
}

/// The query parameters as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// `limit`, unparsed: [`parse_limit`] checks it.
    pub limit: Option<String>,
    /// `cursor` from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The page size: [`DEFAULT_LIMIT`] when absent, else an integer in `1..=MAX_LIMIT`.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
            )
        })
}

/// One page of the caller's payments, newest first.
pub async fn payment_history(
    store: &dyn BillingStore,
    cursor_key: &[u8],
    caller: &Caller,
    query: &HistoryQuery,
) -> Result<HistoryView, ApiError> {
    let limit = parse_limit(query.limit.as_deref())?;
    let user = &caller.user_id;
    let after = query
        .cursor
        .as_deref()
        .map(|c| cursor::decode(cursor_key, user, c))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))?;
    let page = store
        .payments(user, limit, after.as_deref())
        .await
        .map_err(|e| store_unavailable(&e))?;
    // A store may hand out a position after an exactly full last page (DynamoDB does); look one
    // item ahead so the client is never sent to an empty page.
    let next = match page.next {
        Some(next) if page.payments.len() as u32 >= limit => {
            let ahead = store
                .payments(user, 1, Some(&next))
                .await
                .map_err(|e| store_unavailable(&e))?;
            (!ahead.payments.is_empty()).then_some(next)
        }
        next => next,
    };
    Ok(HistoryView {
        transactions: page.payments.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|n| cursor::encode(cursor_key, user, &n)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::domain::UserId;
    use crate::ports::Commit;

    const KEY: &[u8] = b"history-test-key-of-thirty-two-bytes!";

    fn caller(id: &str) -> Caller {
        Caller {
            user_id: UserId::parse(id).unwrap(),
            email: None,
        }
    }

    fn payment(user: &UserId, n: i64) -> PaymentRecord {
        PaymentRecord {
            user_id: user.clone(),
            payment_id: format!("pi_{n:03}"),
            stripe_refs: vec![format!("pi_{n:03}_{user}")],
            created: 1_700_000_000 + n,
            amount: 100 * n,
            currency: "usd".into(),
            status: PaymentStatus::Succeeded,
            description: None,
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

    async fn seeded(user: &UserId, count: i64) -> MemoryStore {
        let store = MemoryStore::new();
        store
            .commit(Commit {
                payments: (1..=count).map(|n| payment(user, n)).collect(),
                ..Commit::default()
            })
            .await
            .unwrap();
        store
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(parse_limit(None).unwrap(), 20);
        assert_eq!(parse_limit(Some("100")).unwrap(), 100);
        assert_eq!(parse_limit(Some("1")).unwrap(), 1);
        for bad in ["0", "101", "-1", "2.5", "ten", "", "99999999999"] {
            assert_eq!(
                parse_limit(Some(bad)).unwrap_err().code,
                "invalid_limit",
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn pages_follow_each_other_newest_first_without_gaps() {
        let ada = caller("ada");
        let store = seeded(&ada.user_id, 5).await;
        let mut seen = Vec::new();
        let mut query = HistoryQuery {
            limit: Some("2".into()),
            cursor: None,
        };
        let mut pages = 0;
        loop {
            let page = payment_history(&store, KEY, &ada, &query).await.unwrap();
            pages += 1;
            seen.extend(page.transactions.iter().map(|t| t.id.clone()));
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["pi_005", "pi_004", "pi_003", "pi_002", "pi_001"]);
    }

    #[tokio::test]
    async fn an_exactly_full_last_page_has_no_next_cursor() {
        let ada = caller("ada");
        let store = seeded(&ada.user_id, 4).await;
        let first = payment_history(
            &store,
            KEY,
            &ada,
            &HistoryQuery {
                limit: Some("2".into()),
                cursor: None,
            },
        )
        .await
        .unwrap();
        let second = payment_history(
            &store,
            KEY,
            &ada,
            &HistoryQuery {
                limit: Some("2".into()),
                cursor: first.next_cursor,
            },
        )
        .await
        .unwrap();
        assert_eq!(second.transactions.len(), 2);
        assert_eq!(second.next_cursor, None);
    }

    #[tokio::test]
    async fn the_view_carries_rfc3339_times_and_the_kind() {
        let ada = caller("ada");
        let store = MemoryStore::new();
        let mut p = payment(&ada.user_id, 1);
        p.subscription_id = Some("sub_1".into());
        p.status = PaymentStatus::Refunded;
        p.refunded_at = Some(1_795_391_165);
        store
            .commit(Commit {
                payments: vec![p],
                ..Commit::default()
            })
            .await
            .unwrap();
        let page = payment_history(&store, KEY, &ada, &HistoryQuery::default())
            .await
            .unwrap();
        let t = serde_json::to_value(&page.transactions[0]).unwrap();
        assert_eq!(t["kind"], "subscription");
        assert_eq!(t["status"], "refunded");
        assert_eq!(t["refunded_at"], "2026-11-22T23:46:05Z");
        assert_eq!(t["created_at"], "2023-11-14T22:13:21Z");
        assert_eq!(t["invoice_url"], serde_json::Value::Null);
        assert_eq!(t["invoice_pdf"], serde_json::Value::Null);
        assert_eq!(t["receipt_url"], serde_json::Value::Null);
    }

    #[test]
    fn the_view_links_the_invoice_pdf_and_receipt() {
        let mut p = payment(&UserId::parse("ada").unwrap(), 1);
        p.invoice_pdf = Some("https://pay.example/invoice/in_1/pdf".into());
        p.receipt_url = Some("https://pay.example/receipts/ch_1".into());
        let t = serde_json::to_value(TransactionView::from(p)).unwrap();
        assert_eq!(t["invoice_pdf"], "https://pay.example/invoice/in_1/pdf");
        assert_eq!(t["receipt_url"], "https://pay.example/receipts/ch_1");
    }

    #[test]
    fn a_payment_stored_before_documents_were_recorded_still_decodes() {
        let mut stored = serde_json::to_value(payment(&UserId::parse("ada").unwrap(), 1)).unwrap();
        assert!(stored.get("invoice_pdf").is_none() && stored.get("receipt_url").is_none());
        stored["invoice_url"] = "https://pay.example/i/in_1".into();
        let p: PaymentRecord = serde_json::from_value(stored).unwrap();
        assert_eq!((p.invoice_pdf, p.receipt_url), (None, None));
        assert_eq!(p.invoice_url.as_deref(), Some("https://pay.example/i/in_1"));
    }
}
