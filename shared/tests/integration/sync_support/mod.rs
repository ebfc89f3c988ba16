//! Servers for the sync tests: a recorder that answers from a closure, a fake Keycloak admin
//! API with users and injectable failures, a server that never answers, and the Lago emulator
//! (`infra/lago-emulator`) with the Stripe emulator behind it.
#![allow(dead_code)]
// Test scaffolding: a failure here should stop the test loudly.
#![allow(clippy::unwrap_used)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path and query, exactly as sent.
    pub target: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> (u16, String) + Send + Sync>;

#[derive(Clone)]
struct MockState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    responder: Responder,
}

/// An HTTP server on a free local port that records every request and answers with `responder`.
pub(crate) struct MockServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

async fn record(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let recorded = Recorded {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, body) = (state.responder)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
}

impl MockServer {
    pub(crate) async fn start(
        responder: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = MockState {
            requests: requests.clone(),
            responder: Arc::new(responder),
        };
        let app = axum::Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, requests }
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.target.starts_with(path_prefix))
            .count()
    }
}

/// A server that accepts connections and never answers (a hung dependency).
pub(crate) async fn start_hanging_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// Decodes `%XX` escapes (and `+` as space) of a form-encoded value.
pub(crate) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

pub(crate) const REALM: &str = "app";
pub(crate) const CLIENT_ID: &str = "tierflow-sync";
pub(crate) const CLIENT_SECRET: &str = "kc-test-secret";

/// A fake Keycloak admin API: the token endpoint and users by id, by email, and PUT.
pub(crate) struct FakeKeycloak {
    pub server: MockServer,
    users: Arc<Mutex<HashMap<String, Value>>>,
    failing: Arc<Mutex<HashSet<String>>>,
}

impl FakeKeycloak {
    pub(crate) async fn start() -> Self {
        let users: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let failing: Arc<Mutex<HashSet<String>>> = Arc::default();
        let tokens = Arc::new(Mutex::new(0u32));
        let (u, f) = (users.clone(), failing.clone());
        let token_path = format!("/realms/{REALM}/protocol/openid-connect/token");
        let users_path = format!("/admin/realms/{REALM}/users");
        let server = MockServer::start(move |req| {
            if req.method == "POST" && req.target == token_path {
                let mut n = tokens.lock().unwrap();
                *n += 1;
                return (
                    200,
                    json!({"access_token": format!("token-{n}"), "expires_in": 300, "token_type": "Bearer"})
                        .to_string(),
                );
            }
            if req.header("authorization").is_none_or(|a| !a.starts_with("Bearer token-")) {
                return (401, r#"{"error":"HTTP 401 Unauthorized"}"#.into());
            }
            let Some(rest) = req.target.strip_prefix(&users_path) else {
                return (404, r#"{"error":"Not Found"}"#.into());
            };
            if let Some(query) = rest.strip_prefix('?') {
                let email = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("email="))
                    .map(percent_decode)
                    .unwrap_or_default();
                let found: Vec<Value> = u
                    .lock()
                    .unwrap()
                    .values()
                    .filter(|v| v["email"] == email.as_str())
                    .cloned()
                    .collect();
                return (200, Value::Array(found).to_string());
            }
            let id = rest.trim_start_matches('/').to_owned();
            if f.lock().unwrap().contains(&id) {
                return (500, r#"{"error":"unknown_error"}"#.into());
            }
            let mut users = u.lock().unwrap();
            match req.method.as_str() {
                "GET" => match users.get(&id) {
                    Some(user) => (200, user.to_string()),
                    None => (404, r#"{"error":"User not found"}"#.into()),
                },
                "PUT" => match users.get_mut(&id) {
                    Some(user) => {
                        *user = req.json();
                        (204, String::new())
                    }
                    None => (404, r#"{"error":"User not found"}"#.into()),
                },
                _ => (405, String::new()),
            }
        })
        .await;
        Self {
            server,
            users,
            failing,
        }
    }

    /// Adds a user with a few attributes Tierflow must never drop.
    pub(crate) fn add_user(&self, id: &str, email: &str) {
        self.users.lock().unwrap().insert(
            id.to_owned(),
            json!({
                "id": id, "username": id, "email": email, "firstName": "Ada", "lastName": "Lovelace",
                "enabled": true, "emailVerified": true,
                "attributes": {"locale": ["en"], "department": ["research"]}
            }),
        );
    }

    pub(crate) fn user(&self, id: &str) -> Option<Value> {
        self.users.lock().unwrap().get(id).cloned()
    }

    /// Makes every call about this user answer 500 (or stop doing so).
    pub(crate) fn set_failing(&self, id: &str, failing: bool) {
        let mut set = self.failing.lock().unwrap();
        if failing {
            set.insert(id.to_owned());
        } else {
            set.remove(id);
        }
    }

    pub(crate) fn config(&self) -> tierflow::sync::keycloak::KeycloakConfig {
        tierflow::sync::keycloak::KeycloakConfig {
            base_url: self.server.url.clone(),
            realm: REALM.into(),
            client_id: CLIENT_ID.into(),
            client_secret: tierflow::config::Secret::new(CLIENT_SECRET),
        }
    }
}

pub(crate) const LAGO_API_KEY: &str = "lago-test-key";
/// A Lago key with every permission but reading the webhook public key.
pub(crate) const LAGO_KEY_WITHOUT_PUBLIC_KEY: &str = "lago-key-without-public-key";
pub(crate) const STRIPE_SECRET_KEY: &str = "sk_test_tierflow_sync_tests";

/// How to start the Lago emulator.
#[derive(Debug, Clone, Default)]
pub(crate) struct LagoOptions {
    /// Where its Stripe connection points (the Stripe emulator).
    pub stripe_api_base: Option<String>,
    /// Where it delivers webhooks, and how it signs them (`jwt` or `hmac`).
    pub webhook_url: Option<String>,
    pub webhook_signature: Option<&'static str>,
    pub hmac_key: Option<String>,
    /// PEM file of the key that signs jwt webhooks.
    pub private_key_file: Option<std::path::PathBuf>,
}

/// The Lago emulator in a child process on a free port, with the catalog's plans (zero base
/// amount, as `infra/SYNCS.md` requires, each with one usage charge); stopped on drop.
pub(crate) struct LagoEmulator {
    pub url: String,
    child: std::process::Child,
    http: reqwest::Client,
}

/// The catalog's Lago plans, each with an `api_calls` usage charge.
pub(crate) const LAGO_PLANS: [&str; 3] = [
    "tierflow_starter",
    "tierflow_professional",
    "tierflow_enterprise",
];

impl LagoEmulator {
    pub(crate) async fn start(options: LagoOptions) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let script = root.join("infra/lago-emulator/lago_emulator.py");
        let mut command = std::process::Command::new("python3");
        command
            .arg(&script)
            .args(["--port", "0", "--api-key", LAGO_API_KEY])
            .arg("--restricted-key")
            .arg(format!(
                "{LAGO_KEY_WITHOUT_PUBLIC_KEY}=customer:read+write,subscription:read+write"
            ))
            .args(["--stripe-secret-key", STRIPE_SECRET_KEY])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(base) = &options.stripe_api_base {
            command.args(["--stripe-api-base", base]);
        }
        if let Some(url) = &options.webhook_url {
            command.args(["--webhook-url", url]);
            command.args([
                "--webhook-signature",
                options.webhook_signature.unwrap_or("jwt"),
            ]);
        }
        if let Some(key) = &options.hmac_key {
            command.args(["--hmac-key", key]);
        }
        if let Some(file) = &options.private_key_file {
            command.arg("--private-key").arg(file);
        }
        let mut child = command
            .spawn()
            .expect("python3 runs infra/lago-emulator/lago_emulator.py (pip: cryptography)");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            line
        })
        .await
        .unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("the Lago emulator did not start: {line:?}"))
            .to_owned();
        let emulator = Self {
            url,
            child,
            http: tierflow::adapters::https::integration_client().unwrap(),
        };
        for plan in LAGO_PLANS {
            emulator.create_usage_plan(plan).await;
        }
        emulator
    }

    async fn create_usage_plan(&self, code: &str) {
        let (status, metric) = self
            .post(
                "/api/v1/billable_metrics",
                json!({"billable_metric": {"name": "API calls", "code": format!("{code}_calls"),
                    "aggregation_type": "count_agg"}}),
            )
            .await;
        assert_eq!(status, 200, "{metric}");
        let (status, plan) = self
            .post(
                "/api/v1/plans",
                json!({"plan": {"name": code, "code": code, "interval": "monthly",
                    "amount_cents": 0, "amount_currency": "USD",
                    "charges": [{"billable_metric_id": metric["billable_metric"]["lago_id"],
                        "charge_model": "standard", "properties": {"amount": "0.05"}}]}}),
            )
            .await;
        assert_eq!(status, 200, "{plan}");
    }

    /// The client configuration for this emulator, with the all-permission key.
    pub(crate) fn config(&self) -> tierflow::sync::lago::LagoConfig {
        lago_config(&self.url)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(LAGO_API_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// The customer as Lago holds it, or `None`.
    pub(crate) async fn customer(&self, external_id: &str) -> Option<Value> {
        let (status, body) = self.get(&format!("/api/v1/customers/{external_id}")).await;
        (status == 200).then(|| body["customer"].clone())
    }

    /// Every subscription of the customer, in creation order, whatever its status.
    pub(crate) async fn subscriptions(&self, customer: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/v1/subscriptions?external_customer_id={customer}&status[]=active\
                 &status[]=pending&status[]=terminated&status[]=canceled"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body["subscriptions"].as_array().unwrap().clone()
    }

    /// The customer's invoices.
    pub(crate) async fn invoices(&self, customer: &str) -> Vec<Value> {
        let (_, body) = self
            .get(&format!("/api/v1/invoices?external_customer_id={customer}"))
            .await;
        body["invoices"].as_array().unwrap().clone()
    }

    /// Records a usage event on the subscription.
    pub(crate) async fn usage(&self, subscription: &str, plan: &str, transaction_id: &str) {
        let (status, body) = self
            .post(
                "/api/v1/events",
                json!({"event": {"transaction_id": transaction_id,
                    "external_subscription_id": subscription, "code": format!("{plan}_calls")}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The webhook deliveries, once none is pending.
    pub(crate) async fn webhooks(&self) -> Vec<Value> {
        let (_, body) = self.get("/_emulator/webhooks?wait_idle=1").await;
        body["webhooks"].as_array().unwrap().clone()
    }

    /// How many API calls of `method` to `path` the emulator received.
    pub(crate) async fn count(&self, method: &str, path: &str) -> usize {
        let (_, body) = self.get("/_emulator/calls").await;
        body["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["method"] == method && c["path"] == path)
            .count()
    }

    /// Makes the next `count` calls of `method` to paths under `path` answer `status`.
    pub(crate) async fn fail_next(&self, method: &str, path: &str, status: u16, count: u32) {
        self.post(
            "/_emulator/faults",
            json!({"method": method, "path": path, "status": status, "count": count}),
        )
        .await;
    }
}

impl Drop for LagoEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Stripe emulator in this process, for the Stripe customers Lago is linked to.
pub(crate) struct StripeSide {
    pub emulator: stripe_emulator::Emulator,
    http: reqwest::Client,
}

impl StripeSide {
    pub(crate) async fn start() -> Self {
        let emulator = stripe_emulator::Emulator::start(stripe_emulator::Config {
            port: 0,
            ..Default::default()
        })
        .await
        .unwrap();
        Self {
            emulator,
            http: tierflow::adapters::https::integration_client().unwrap(),
        }
    }

    pub(crate) fn url(&self) -> String {
        self.emulator.url().to_owned()
    }

    /// Creates a Stripe customer and returns its id.
    pub(crate) async fn create_customer(&self, email: &str) -> String {
        let body: Value = self
            .http
            .post(format!("{}/v1/customers", self.url()))
            .bearer_auth(STRIPE_SECRET_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("email={}", email.replace('@', "%40")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Deletes the Stripe customer (as a person in Stripe's dashboard would).
    pub(crate) async fn delete_customer(&self, id: &str) {
        let status = self
            .http
            .delete(format!("{}/v1/customers/{id}", self.url()))
            .bearer_auth(STRIPE_SECRET_KEY)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }

    /// The Stripe customer as Stripe holds it.
    pub(crate) async fn customer(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/v1/customers/{id}", self.url()))
            .bearer_auth(STRIPE_SECRET_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub(crate) fn lago_config(url: &str) -> tierflow::sync::lago::LagoConfig {
    tierflow::sync::lago::LagoConfig {
        api_url: url.to_owned(),
        api_key: tierflow::config::Secret::new(LAGO_API_KEY),
        stripe_provider_code: None,
    }
}
