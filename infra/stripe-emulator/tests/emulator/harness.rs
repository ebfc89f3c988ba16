//! Test harness: an in-process emulator, a small client, a catalog, and a webhook receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::Value;
use stripe_emulator::form::encode;
use stripe_emulator::{Config, Emulator};

pub(crate) const KEY: &str = "sk_test_emulator";

/// With `STRIPE_EMULATOR_RECORDING=FILE`, every exchange is appended to FILE in
/// `infra/stripe_recorder.py`'s format, for `infra/stripe_conformance.py` to hold the
/// emulator's answers to the SDK's types.
fn record_exchange(method: &reqwest::Method, url: &str, body: &str, status: u16, response: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    let Some(file) = std::env::var_os("STRIPE_EMULATOR_RECORDING") else {
        return;
    };
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path
        .find("/v1/")
        .or_else(|| path.find("/_emulator/"))
        .map_or(path, |i| &path[i..]);
    let line = serde_json::json!({
        "kind": "api",
        "method": method.as_str(),
        "path": path,
        "query": query,
        "headers": {"stripe-version": stripe_emulator::objects::API_VERSION, "user-agent": "stripe-emulator-tests"},
        "body": body,
        "status": status,
        "response": response,
    });
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    writeln!(out, "{line}").unwrap();
}

pub(crate) fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("stripe_emulator=debug"))
            .try_init();
    }
}

pub(crate) struct Harness {
    pub emu: Emulator,
    pub http: reqwest::Client,
}

pub(crate) struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Harness {
    pub(crate) async fn start() -> Harness {
        Harness::with_config(Config::default()).await
    }

    pub(crate) async fn with_config(mut config: Config) -> Harness {
        init_tracing();
        config.port = 0;
        let emu = Emulator::start(config).await.unwrap();
        Harness {
            emu,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.url())
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        pairs: &[(&str, &str)],
        key: Option<&str>,
        idem: Option<&str>,
    ) -> Resp {
        let mut url = self.url(path);
        let mut sent = String::new();
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(i) = idem {
            req = req.header("Idempotency-Key", i);
        }
        if !pairs.is_empty() {
            if method == reqwest::Method::GET {
                let sep = if path.contains('?') { '&' } else { '?' };
                url = format!("{}{sep}{}", self.url(path), encode(pairs));
                req = self.http.request(method.clone(), url.clone());
                if let Some(k) = key {
                    req = req.bearer_auth(k);
                }
            } else {
                sent = encode(pairs);
                req = req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(sent.clone());
            }
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        record_exchange(&method, &url, &sent, status, &text);
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            body,
            headers,
        }
    }

    pub(crate) async fn post_status(&self, path: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .send(reqwest::Method::POST, path, pairs, Some(KEY), None)
            .await;
        (r.status, r.body)
    }

    pub(crate) async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Value {
        let (status, body) = self.post_status(path, pairs).await;
        assert_eq!(status, 200, "POST {path} {pairs:?} -> {body:#}");
        body
    }

    pub(crate) async fn get_status(&self, path: &str) -> (u16, Value) {
        let r = self
            .send(reqwest::Method::GET, path, &[], Some(KEY), None)
            .await;
        (r.status, r.body)
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let (status, body) = self.get_status(path).await;
        assert_eq!(status, 200, "GET {path} -> {body:#}");
        body
    }

    /// The PaymentIntent of an invoice retrieved with `expand[]=payments` (basil's invoices
    /// name it only in their payments).
    pub(crate) async fn invoice_intent(&self, invoice: &Value) -> Value {
        let id = invoice["payments"]["data"][0]["payment"]["payment_intent"]
            .as_str()
            .unwrap_or_else(|| panic!("an invoice with its payments expanded: {invoice:#}"));
        self.get(&format!("/v1/payment_intents/{id}")).await
    }

    pub(crate) async fn delete(&self, path: &str, pairs: &[(&str, &str)]) -> Value {
        let r = self
            .send(reqwest::Method::DELETE, path, pairs, Some(KEY), None)
            .await;
        assert_eq!(r.status, 200, "DELETE {path} -> {:#}", r.body);
        r.body
    }

    /// Every event, oldest first.
    pub(crate) async fn all_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/v1/events?limit=100&starting_after={a}"),
                None => "/v1/events?limit=100".to_string(),
            };
            let page = self.get(&path).await;
            let data = page["data"].as_array().unwrap().clone();
            after = data.last().map(|e| e["id"].as_str().unwrap().to_string());
            out.extend(data);
            if page["has_more"] != true {
                break;
            }
        }
        out.reverse();
        out
    }

    pub(crate) async fn event_count(&self) -> usize {
        self.all_events().await.len()
    }

    /// Events recorded after the first `skip`, oldest first.
    pub(crate) async fn events_after(&self, skip: usize) -> Vec<Value> {
        self.all_events().await.into_iter().skip(skip).collect()
    }

    pub(crate) async fn now(&self) -> i64 {
        self.get("/_emulator/clock").await["now"].as_i64().unwrap()
    }

    pub(crate) async fn advance_to(&self, t: i64) -> Value {
        self.post("/_emulator/clock/advance", &[("to", &t.to_string())])
            .await
    }

    pub(crate) async fn catalog(&self) -> Catalog {
        let mut ids = Vec::new();
        for (product, name, prices) in [
            (
                "prod_starter",
                "Starter",
                [
                    ("starter_monthly", 1900, "month"),
                    ("starter_yearly", 19000, "year"),
                ],
            ),
            (
                "prod_professional",
                "Professional",
                [
                    ("professional_monthly", 4900, "month"),
                    ("professional_yearly", 49000, "year"),
                ],
            ),
            (
                "prod_enterprise",
                "Enterprise",
                [
                    ("enterprise_monthly", 9900, "month"),
                    ("enterprise_yearly", 99000, "year"),
                ],
            ),
        ] {
            self.post("/v1/products", &[("id", product), ("name", name)])
                .await;
            for (key, amount, interval) in prices {
                let p = self
                    .post(
                        "/v1/prices",
                        &[
                            ("product", product),
                            ("currency", "usd"),
                            ("unit_amount", &amount.to_string()),
                            ("recurring[interval]", interval),
                            ("lookup_key", key),
                        ],
                    )
                    .await;
                ids.push(p["id"].as_str().unwrap().to_string());
            }
        }
        self.post(
            "/v1/products",
            &[("id", "prod_credits"), ("name", "Credits")],
        )
        .await;
        let one_time = self
            .post(
                "/v1/prices",
                &[
                    ("product", "prod_credits"),
                    ("currency", "usd"),
                    ("unit_amount", "2500"),
                ],
            )
            .await;
        Catalog {
            starter_monthly: ids[0].clone(),
            starter_yearly: ids[1].clone(),
            professional_monthly: ids[2].clone(),
            professional_yearly: ids[3].clone(),
            enterprise_monthly: ids[4].clone(),
            credits: one_time["id"].as_str().unwrap().to_string(),
        }
    }

    /// A customer subscribed through Checkout with `token`; answers the subscription.
    pub(crate) async fn subscribe(&self, price: &str, token: &str) -> Value {
        let session = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("customer_email", "ada@example.com"),
                    ("line_items[0][price]", price),
                    ("line_items[0][quantity]", "1"),
                    (
                        "success_url",
                        "http://localhost/ok?session_id={CHECKOUT_SESSION_ID}",
                    ),
                    ("subscription_data[metadata][user_id]", "user-1"),
                ],
            )
            .await;
        let id = session["id"].as_str().unwrap();
        let done = self
            .post(
                &format!("/_emulator/checkout/sessions/{id}/complete"),
                &[("payment_method", token)],
            )
            .await;
        let sub = done["subscription"].as_str().unwrap();
        self.get(&format!("/v1/subscriptions/{sub}")).await
    }
}

pub(crate) struct Catalog {
    pub starter_monthly: String,
    pub starter_yearly: String,
    pub professional_monthly: String,
    pub professional_yearly: String,
    pub enterprise_monthly: String,
    pub credits: String,
}

pub(crate) fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:#}"))
}

/// A webhook receiver that records requests and answers statuses from a script
/// (then 200 once the script runs out).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    pub script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub(crate) async fn start(script: Vec<u16>) -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        *r.script.lock().unwrap() = script.into_iter().rev().collect();
        let app = Router::new().fallback(record).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, addr)
    }

    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }

    pub(crate) async fn wait_for(&self, n: usize) {
        for _ in 0..200 {
            if self.received.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "receiver got {} requests, expected {n}",
            self.received.lock().unwrap().len()
        );
    }
}

async fn record(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.received
        .lock()
        .unwrap()
        .push((headers, String::from_utf8_lossy(&body).into_owned()));
    let code = r.script.lock().unwrap().pop().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}
