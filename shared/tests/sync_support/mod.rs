//! HTTP mock servers for the sync tests: a recorder that answers from a closure, a fake
//! Keycloak admin API with users and injectable failures, and a server that never answers.
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
pub struct Recorded {
    pub method: String,
    /// Path and query, exactly as sent.
    pub target: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub fn path(&self) -> &str {
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
pub struct MockServer {
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
    pub async fn start(
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

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.target.starts_with(path_prefix))
            .count()
    }
}

/// A server that accepts connections and never answers (a hung dependency).
pub async fn start_hanging_server() -> String {
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
pub fn percent_decode(raw: &str) -> String {
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

pub const REALM: &str = "app";
pub const CLIENT_ID: &str = "tierflow-sync";
pub const CLIENT_SECRET: &str = "kc-test-secret";

/// A fake Keycloak admin API: the token endpoint and users by id, by email, and PUT.
pub struct FakeKeycloak {
    pub server: MockServer,
    users: Arc<Mutex<HashMap<String, Value>>>,
    failing: Arc<Mutex<HashSet<String>>>,
}

impl FakeKeycloak {
    pub async fn start() -> Self {
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
    pub fn add_user(&self, id: &str, email: &str) {
        self.users.lock().unwrap().insert(
            id.to_owned(),
            json!({
                "id": id, "username": id, "email": email, "firstName": "Ada", "lastName": "Lovelace",
                "enabled": true, "emailVerified": true,
                "attributes": {"locale": ["en"], "department": ["research"]}
            }),
        );
    }

    pub fn user(&self, id: &str) -> Option<Value> {
        self.users.lock().unwrap().get(id).cloned()
    }

    /// Makes every call about this user answer 500 (or stop doing so).
    pub fn set_failing(&self, id: &str, failing: bool) {
        let mut set = self.failing.lock().unwrap();
        if failing {
            set.insert(id.to_owned());
        } else {
            set.remove(id);
        }
    }

    pub fn config(&self) -> tierflow::sync::keycloak::KeycloakConfig {
        tierflow::sync::keycloak::KeycloakConfig {
            base_url: self.server.url.clone(),
            realm: REALM.into(),
            client_id: CLIENT_ID.into(),
            client_secret: tierflow::config::Secret::new(CLIENT_SECRET),
        }
    }
}

/// A Lago mock that accepts every documented call and records it.
pub async fn start_lago() -> MockServer {
    MockServer::start(|req| match (req.method.as_str(), req.path()) {
        ("POST", "/api/v1/customers") => (200, json!({"customer": {"lago_id": "c"}}).to_string()),
        ("POST", "/api/v1/subscriptions") => {
            (200, json!({"subscription": {"lago_id": "s"}}).to_string())
        }
        ("DELETE", p) if p.starts_with("/api/v1/subscriptions/") => (
            200,
            json!({"subscription": {"status": "terminated"}}).to_string(),
        ),
        _ => (
            404,
            json!({"status": 404, "error": "Not Found"}).to_string(),
        ),
    })
    .await
}

pub fn lago_config(url: &str) -> tierflow::sync::lago::LagoConfig {
    tierflow::sync::lago::LagoConfig {
        api_url: url.to_owned(),
        api_key: tierflow::config::Secret::new("lago-test-key"),
        stripe_provider_code: None,
    }
}
