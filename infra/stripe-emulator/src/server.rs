//! HTTP plumbing: authentication, parameter decoding, idempotency, and starting the server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::ApiError;
use crate::form::{self, Params};
use crate::objects::API_VERSION;
use crate::routes;
use crate::store::{RequestInfo, Store};
use crate::webhooks::{self, DeliveryConfig, Endpoint, Webhooks};

enum Idempotent {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: u16,
        body: Value,
    },
}

/// Shared server state.
pub struct App {
    store: Mutex<Store>,
    idempotency: Mutex<HashMap<String, Idempotent>>,
    /// Client for webhook deliveries.
    pub http: reqwest::Client,
}

impl App {
    /// Locks the store (a poisoned lock is recovered: state stays usable after a panic).
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn idempotency(&self) -> MutexGuard<'_, HashMap<String, Idempotent>> {
        self.idempotency.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets stored idempotent responses (on `/_emulator/reset`).
    pub fn clear_idempotency(&self) {
        self.idempotency().clear();
    }
}

/// A running emulator.
pub struct Emulator {
    addr: SocketAddr,
    url: String,
    webhook_secret: Option<String>,
    app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Emulator {
    /// Binds and starts serving in the background.
    pub async fn start(config: Config) -> std::io::Result<Emulator> {
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let public_url = config.public_url.clone().unwrap_or_else(|| url.clone());
        let mut hooks = Webhooks::default();
        hooks.config = DeliveryConfig {
            max_attempts: config.webhook_attempts,
            backoff_ms: config.webhook_backoff_ms,
            ..DeliveryConfig::default()
        };
        let mut store = Store::new(public_url, Webhooks::default());
        store.dunning = config.dunning.clone();
        if config.frozen_clock {
            store.clock = crate::clock::Clock::frozen();
        }
        let mut webhook_secret = None;
        if let Some(hook_url) = &config.webhook_url {
            let secret = config
                .webhook_secret
                .clone()
                .unwrap_or_else(|| format!("whsec_{}", store.ids.token(32)));
            webhook_secret = Some(secret.clone());
            hooks.add_endpoint(Endpoint {
                id: store.new_id("we_"),
                created: store.now(),
                url: hook_url.clone(),
                secret,
                enabled_events: vec!["*".into()],
                description: Some("configured at start".into()),
                from_config: true,
                queue: Default::default(),
                notify: Arc::new(Notify::new()),
            });
        }
        store.webhooks = hooks;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let app = Arc::new(App {
            store: Mutex::new(store),
            idempotency: Mutex::new(HashMap::new()),
            http,
        });
        webhooks::spawn_pending(&app);
        let router = Router::new().fallback(dispatch).with_state(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(Emulator {
            addr,
            url,
            webhook_secret,
            app,
            shutdown: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — the value for `STRIPE_API_BASE`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Signing secret of the endpoint configured at start.
    pub fn webhook_secret(&self) -> Option<&str> {
        self.webhook_secret.as_deref()
    }

    /// Shared state, for in-process inspection.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> std::io::Result<()> {
    let emulator = Emulator::start(config).await?;
    tracing::info!(url = %emulator.url(), "stripe emulator listening");
    if let Some(secret) = emulator.webhook_secret() {
        tracing::info!(secret_prefix = %&secret[..secret.len().min(10)], "webhook endpoint configured");
    }
    shutdown_signal().await?;
    tracing::info!("stripe emulator stopping");
    emulator.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what `kill` and process supervisors send).
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

fn json_response(status: u16, body: &Value, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("stripe-version", HeaderValue::from_static(API_VERSION));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v);
    }
    resp
}

fn error_response(e: &ApiError, request_id: &str) -> Response {
    json_response(e.status, &e.body(), request_id)
}

async fn dispatch(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = format!("req_{}", app.lock().ids.token(14));
    let mut resp = handle(&app, &method, &uri, &headers, &body, &request_id);
    webhooks::spawn_pending(&app);
    // Stripe's `Date` is its clock: here the emulator's, which advances with the test hooks.
    let now = app.lock().clock.now().max(0) as u64;
    let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now));
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert("date", v);
    }
    resp
}

fn decode_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiError> {
    let mut params = Params::new(form::decode(uri.query().unwrap_or(""))?);
    if body.is_empty() {
        return Ok(params);
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = String::from_utf8_lossy(body);
    let from_body = if is_json {
        Params::new(
            serde_json::from_str(&text)
                .map_err(|e| ApiError::invalid(format!("Invalid JSON body: {e}"), None))?,
        )
    } else {
        Params::new(form::decode(&text)?)
    };
    let mut merged = from_body;
    merged.merge(std::mem::take(&mut params));
    Ok(merged)
}

fn check_auth(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::auth(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.".into(),
        ));
    };
    let key = if let Some(k) = value.strip_prefix("Bearer ") {
        k.trim().to_string()
    } else if let Some(b) = value.strip_prefix("Basic ") {
        let decoded = base64_decode(b.trim()).unwrap_or_default();
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    if key.starts_with("sk_test_") && key.len() > "sk_test_".len() {
        return Ok(());
    }
    let shown = if key.len() > 4 {
        format!(
            "{}{}",
            "*".repeat(key.len().min(12) - 4),
            &key[key.len() - 4..]
        )
    } else {
        key
    };
    Err(ApiError::auth(format!("Invalid API Key provided: {shown}")))
}

fn base64_decode(s: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
        }
    }
    String::from_utf8(out).ok()
}

fn handle(
    app: &Arc<App>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let path = uri.path();
    if let Some(page) = crate::pages::serve(app, method, path, body) {
        return page;
    }
    let params = match decode_params(uri, headers, body) {
        Ok(p) => p,
        Err(e) => return error_response(&e, request_id),
    };
    let is_api = path.starts_with("/v1/");
    if is_api {
        if let Err(e) = check_auth(headers) {
            return error_response(&e, request_id);
        }
    }
    let idem_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .filter(|_| is_api && method == Method::POST);
    let fingerprint = format!("{method} {path} {}", params.canonical());
    if let Some(key) = &idem_key {
        let mut table = app.idempotency();
        match table.get(key) {
            Some(Idempotent::Done {
                fingerprint: f,
                status,
                body,
            }) if *f == fingerprint => {
                let mut resp = json_response(*status, body, request_id);
                resp.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                if let Ok(v) = HeaderValue::from_str(key) {
                    resp.headers_mut().insert("idempotency-key", v);
                }
                return resp;
            }
            Some(Idempotent::InFlight { fingerprint: f }) if *f == fingerprint => {
                let e = ApiError::idempotency(
                    409,
                    Some("idempotency_key_in_use"),
                    "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.".into(),
                );
                return error_response(&e, request_id);
            }
            Some(_) => {
                let e = ApiError::idempotency(
                    400,
                    None,
                    format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
                );
                return error_response(&e, request_id);
            }
            None => {
                table.insert(
                    key.clone(),
                    Idempotent::InFlight {
                        fingerprint: fingerprint.clone(),
                    },
                );
            }
        }
    }
    let result = {
        let mut store = app.lock();
        store.request = is_api.then(|| RequestInfo {
            id: request_id.to_string(),
            idempotency_key: idem_key.clone(),
        });
        let result = routes::route(app, &mut store, method, path, &params);
        store.request = None;
        result
    };
    let (status, body) = match result {
        Ok(body) => (200, body),
        Err(e) => {
            tracing::debug!(%method, path, status = e.status, message = %e.message, "request failed");
            (e.status, e.body())
        }
    };
    if let Some(key) = idem_key {
        let mut table = app.idempotency();
        // Stripe saves results once an endpoint started executing; validation failures are not saved.
        if status == 200 || status == 402 {
            table.insert(
                key.clone(),
                Idempotent::Done {
                    fingerprint,
                    status,
                    body: body.clone(),
                },
            );
        } else {
            table.remove(&key);
        }
        let mut resp = json_response(status, &body, request_id);
        if let Ok(v) = HeaderValue::from_str(&key) {
            resp.headers_mut().insert("idempotency-key", v);
        }
        return resp;
    }
    json_response(status, &body, request_id)
}
