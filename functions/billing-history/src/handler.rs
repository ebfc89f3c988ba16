use lambda_http::Request;
use std::sync::Arc;
use tierflow::auth::Authenticator;
use tierflow::config::Secret;
use tierflow::http::{query_param, reply, ApiError, Reply};
use tierflow::ports::BillingStore;
use tierflow::service::payments::history::HistoryView;
use tierflow::service::payments::history::{payment_history, HistoryQuery};
use tierflow::service::payments::CursorConfig;
use tierflow::wiring::{Core, InitError};

/// What the handler needs, built once at init.
pub(crate) struct Deps {
    pub store: Arc<dyn BillingStore>,
    pub auth: Authenticator,
    pub cursor_key: Secret,
}

impl Deps {
    pub(crate) async fn from_env() -> Result<Self, InitError> {
        let cursor = CursorConfig::from_env()?;
        let auth = Authenticator::from_env()?;
        Ok(Self {
            store: Arc::new(Core::load().await.store()?),
            auth,
            cursor_key: cursor.key,
        })
    }
}

pub(crate) async fn handle(deps: &Deps, req: Request) -> Reply {
    reply(history(deps, &req).await)
}

async fn history(deps: &Deps, req: &Request) -> Result<HistoryView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let query = HistoryQuery {
        limit: query_param(req, "limit"),
        cursor: query_param(req, "cursor"),
    };
    payment_history(
        deps.store.as_ref(),
        deps.cursor_key.expose().as_bytes(),
        &caller,
        &query,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::collections::HashSet;
    use tierflow::domain::UserId;
    use tierflow::ports::{Commit, PaymentRecord, PaymentStatus};
    use tierflow_testkit::{anonymous, as_user, body, request, Harness};

    const SAMPLE: &str = include_str!("../../../events/billing-history.json");
    const ADA: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";
    const BOB: &str = "b0b00000-0000-4000-8000-000000000b0b";

    fn deps(h: &Harness) -> Deps {
        Deps {
            store: h.store.clone(),
            auth: Authenticator::ApiGateway,
            cursor_key: h.cursor_key(),
        }
    }

    fn payment(user: &str, n: i64) -> PaymentRecord {
        PaymentRecord {
            user_id: UserId::parse(user).unwrap(),
            payment_id: format!("pi_{user}_{n:03}"),
            stripe_refs: vec![format!("pi_{user}_{n:03}"), format!("ch_{user}_{n:03}")],
            created: 1_795_000_000 + n * 60,
            amount: 1000 + n,
            currency: "usd".into(),
            status: PaymentStatus::Succeeded,
            description: Some(format!("payment {n}")),
            card_brand: Some("visa".into()),
            card_last4: Some("4242".into()),
            invoice_url: None,
            invoice_pdf: None,
            receipt_url: None,
            paid_at: Some(1_795_000_000 + n * 60),
            amount_refunded: 0,
            refunded_at: None,
            failure_reason: None,
            subscription_id: None,
            tax: 0,
            version: 0,
        }
    }

    /// A harness whose store holds `count` payments for each `(user, count)`.
    async fn seeded(pairs: &[(&str, i64)]) -> Harness {
        let h = Harness::start().await;
        let payments = pairs
            .iter()
            .flat_map(|(user, count)| (1..=*count).map(move |n| payment(user, n)))
            .collect();
        h.store
            .commit(Commit {
                payments,
                ..Commit::default()
            })
            .await
            .unwrap();
        h
    }

    /// The sample as `sub`, with exactly `query` as its query string.
    fn history_request(sub: &str, query: &[(&str, &str)]) -> Request {
        request(&as_user(SAMPLE, sub), None, Some(query))
    }

    async fn call(deps: &Deps, req: Request) -> (u16, Value) {
        let resp = handle(deps, req).await.unwrap();
        (resp.status().as_u16(), body(&resp))
    }

    #[tokio::test]
    async fn the_sample_request_answers_the_newest_payments_first() {
        let h = seeded(&[(ADA, 3), (BOB, 2)]).await;
        let (status, body) = call(&deps(&h), request(SAMPLE, None, None)).await;
        assert_eq!(status, 200, "{body}");
        let t = body["transactions"].as_array().unwrap();
        let ids: Vec<&str> = t.iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                format!("pi_{ADA}_003"),
                format!("pi_{ADA}_002"),
                format!("pi_{ADA}_001")
            ]
        );
        assert_eq!(body["next_cursor"], Value::Null);
        assert_eq!(t[0]["amount"], 1003);
        assert_eq!(t[0]["currency"], "usd");
        assert_eq!(t[0]["status"], "succeeded");
        assert_eq!(t[0]["card_brand"], "visa");
        assert_eq!(t[0]["card_last4"], "4242");
        assert_eq!(t[0]["kind"], "one_time");
        assert_eq!(t[0]["paid_at"], "2026-11-18T11:09:40Z");
        assert_eq!(t[0]["refunded_at"], Value::Null);
    }

    #[tokio::test]
    async fn forty_five_payments_page_through_in_three_pages() {
        let h = seeded(&[(ADA, 45), (BOB, 7)]).await;
        let deps = deps(&h);
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let (status, body) = call(&deps, history_request(ADA, &query)).await;
            assert_eq!(status, 200, "{body}");
            let page = body["transactions"].as_array().unwrap();
            sizes.push(page.len());
            seen.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(sizes, [20, 20, 5]);
        let expected: Vec<String> = (1..=45).rev().map(|n| format!("pi_{ADA}_{n:03}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 45);
    }

    #[tokio::test]
    async fn limits_out_of_bounds_are_400() {
        let h = seeded(&[(ADA, 3)]).await;
        let deps = deps(&h);
        for limit in ["0", "101", "-5", "abc", "1.5"] {
            let (status, body) = call(&deps, history_request(ADA, &[("limit", limit)])).await;
            assert_eq!(status, 400, "{limit}: {body}");
            assert_eq!(body["error"]["code"], "invalid_limit");
        }
        let (status, body) = call(&deps, history_request(ADA, &[("limit", "100")])).await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = call(&deps, history_request(ADA, &[("limit", "2")])).await;
        assert_eq!(body["transactions"].as_array().unwrap().len(), 2);
        assert!(body["next_cursor"].is_string());
    }

    #[tokio::test]
    async fn bad_cursors_are_400() {
        let h = seeded(&[(ADA, 3)]).await;
        let deps = deps(&h);
        let (_, body) = call(&deps, history_request(ADA, &[("limit", "1")])).await;
        let good = body["next_cursor"].as_str().unwrap().to_owned();
        let tampered = {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            parts[1] = "MDAxNzk1MDAwMDAwI3BpX3g".into();
            parts.join(".")
        };
        for cursor in ["garbage", "v1.AAAA.BBBB", tampered.as_str()] {
            let (status, body) = call(&deps, history_request(ADA, &[("cursor", cursor)])).await;
            assert_eq!(status, 400, "{cursor}: {body}");
            assert_eq!(body["error"]["code"], "invalid_cursor");
        }
        let (status, _) = call(
            &deps,
            history_request(ADA, &[("limit", "1"), ("cursor", &good)]),
        )
        .await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn another_users_cursor_is_rejected() {
        let h = seeded(&[(ADA, 3), (BOB, 3)]).await;
        let deps = deps(&h);
        let (_, body) = call(&deps, history_request(BOB, &[("limit", "1")])).await;
        let bobs = body["next_cursor"].as_str().unwrap().to_owned();
        let (status, body) = call(&deps, history_request(ADA, &[("cursor", &bobs)])).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_cursor");
    }

    #[tokio::test]
    async fn a_caller_without_payments_has_an_empty_history() {
        let h = seeded(&[(BOB, 2)]).await;
        let (status, body) = call(&deps(&h), history_request(ADA, &[])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"transactions": [], "next_cursor": null}));
    }

    #[tokio::test]
    async fn unauthenticated_is_401_and_an_outage_503() {
        let h = seeded(&[(ADA, 1)]).await;
        let deps = deps(&h);
        let req = anonymous(SAMPLE);
        assert_eq!(call(&deps, req).await.0, 401);
        h.store.set_unavailable(true);
        assert_eq!(call(&deps, history_request(ADA, &[])).await.0, 503);
    }
}
