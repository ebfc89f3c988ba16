//! Webhook endpoints and signed, ordered, retried deliveries.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::clock::real_now;
use crate::ids::splitmix64;
use crate::server::App;

/// A webhook endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// `we_...`.
    pub id: String,
    /// Creation time.
    pub created: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Signing secret (`whsec_...`).
    pub secret: String,
    /// Event types it receives (`*` for all).
    pub enabled_events: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Configured from the command line (survives `/_emulator/reset`).
    pub from_config: bool,
    /// Event ids waiting for delivery, in creation order.
    pub queue: VecDeque<String>,
    /// Wakes the endpoint's delivery task.
    pub notify: Arc<Notify>,
}

impl Endpoint {
    /// The webhook endpoint object (the secret only on creation, as Stripe does).
    pub fn to_json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": null,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": {},
            "status": "enabled",
            "url": self.url
        });
        if with_secret {
            v["secret"] = json!(self.secret);
        }
        v
    }

    fn wants(&self, kind: &str) -> bool {
        self.enabled_events.iter().any(|e| {
            e == "*"
                || e == kind
                || e.strip_suffix('*')
                    .is_some_and(|prefix| kind.starts_with(prefix))
        })
    }
}

/// Delivery knobs, settable through `/_emulator/webhooks/config`.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Share of events dropped (never delivered), 0.0–1.0.
    pub drop_rate: f64,
    /// Seed of the deterministic drop sequence.
    pub seed: u64,
    /// Attempts per event before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubles each retry.
    pub backoff_ms: u64,
    /// Deliveries held while paused.
    pub paused: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            drop_rate: 0.0,
            seed: 0,
            max_attempts: 5,
            backoff_ms: 200,
            paused: false,
        }
    }
}

/// One recorded delivery attempt (or a drop).
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    /// Event.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Endpoint.
    pub endpoint_id: String,
    /// 1-based attempt number (0 for drops).
    pub attempt: u32,
    /// HTTP status, if a response came back.
    pub status_code: Option<u16>,
    /// Connection error.
    pub error: Option<String>,
    /// Whether the endpoint acknowledged with a 2xx.
    pub delivered: bool,
    /// Dropped on purpose by the drop rate.
    pub dropped: bool,
    /// Real unix time of the attempt.
    pub at: i64,
}

impl DeliveryAttempt {
    /// JSON for `GET /_emulator/webhooks/deliveries`.
    pub fn to_json(&self) -> Value {
        json!({
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.endpoint_id,
            "attempt": self.attempt,
            "status_code": self.status_code,
            "error": self.error,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "at": self.at
        })
    }
}

/// Webhook state kept in the store.
#[derive(Debug, Default)]
pub struct Webhooks {
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Delivery configuration.
    pub config: DeliveryConfig,
    /// Attempts, oldest first.
    pub deliveries: Vec<DeliveryAttempt>,
    /// Draws taken from the drop sequence.
    draws: u64,
    /// Endpoints whose delivery task still has to be started.
    pub to_spawn: Vec<(String, Arc<Notify>)>,
}

impl Webhooks {
    /// Adds an endpoint and schedules its delivery task.
    pub fn add_endpoint(&mut self, endpoint: Endpoint) {
        self.to_spawn
            .push((endpoint.id.clone(), endpoint.notify.clone()));
        self.endpoints.push(endpoint);
    }

    /// Queues an event for every endpoint that wants it; returns how many will get it.
    pub fn enqueue(&mut self, event_id: &str, kind: &str) -> i64 {
        let mut pending = 0;
        for i in 0..self.endpoints.len() {
            if !self.endpoints[i].wants(kind) {
                continue;
            }
            if self.draw_drop() {
                let endpoint_id = self.endpoints[i].id.clone();
                self.deliveries.push(DeliveryAttempt {
                    event_id: event_id.to_string(),
                    event_type: kind.to_string(),
                    endpoint_id,
                    attempt: 0,
                    status_code: None,
                    error: None,
                    delivered: false,
                    dropped: true,
                    at: real_now(),
                });
                continue;
            }
            let ep = &mut self.endpoints[i];
            ep.queue.push_back(event_id.to_string());
            ep.notify.notify_one();
            pending += 1;
        }
        pending
    }

    fn draw_drop(&mut self) -> bool {
        if self.config.drop_rate <= 0.0 {
            return false;
        }
        self.draws += 1;
        let x = splitmix64(self.config.seed ^ self.draws.wrapping_mul(0xA24B_AED4_963E_E407));
        (x as f64 / u64::MAX as f64) < self.config.drop_rate
    }

    /// Sets the drop rate and restarts the deterministic drop sequence from `seed`.
    pub fn set_drops(&mut self, drop_rate: f64, seed: u64) {
        self.config.drop_rate = drop_rate.clamp(0.0, 1.0);
        self.config.seed = seed;
        self.draws = 0;
    }

    /// Wakes every delivery task (after resume).
    pub fn wake_all(&self) {
        for ep in &self.endpoints {
            ep.notify.notify_one();
        }
    }

    /// Drops endpoints created through the API, queues and the delivery log.
    pub fn reset(&mut self) {
        self.endpoints.retain(|e| e.from_config);
        for ep in &mut self.endpoints {
            ep.queue.clear();
        }
        self.deliveries.clear();
        self.draws = 0;
    }
}

/// `Stripe-Signature` header value for a payload, signed as Stripe signs: HMAC-SHA256 keyed
/// with the whole `whsec_...` string over `"{t}.{payload}"`.
pub fn signature_header(secret: &str, timestamp: i64, payload: &str) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

/// Hex HMAC-SHA256 of `"{t}.{payload}"`.
pub fn sign(secret: &str, timestamp: i64, payload: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Starts the delivery tasks of endpoints added since the last call.
pub fn spawn_pending(app: &Arc<App>) {
    let pending = std::mem::take(&mut app.lock().webhooks.to_spawn);
    for (endpoint_id, notify) in pending {
        let app = app.clone();
        tokio::spawn(async move { run_endpoint(app, endpoint_id, notify).await });
    }
}

struct Job {
    event_id: String,
    event_type: String,
    url: String,
    secret: String,
    body: String,
    max_attempts: u32,
    backoff_ms: u64,
}

fn next_job(app: &App, endpoint_id: &str) -> Result<Option<Job>, ()> {
    let store = app.lock();
    let ep = store
        .webhooks
        .endpoints
        .iter()
        .find(|e| e.id == endpoint_id)
        .ok_or(())?;
    if store.webhooks.config.paused {
        return Ok(None);
    }
    let Some(event_id) = ep.queue.front() else {
        return Ok(None);
    };
    let Some(event) = store.events.get(event_id) else {
        return Ok(None);
    };
    Ok(Some(Job {
        event_id: event_id.clone(),
        event_type: event.kind.clone(),
        url: ep.url.clone(),
        secret: ep.secret.clone(),
        body: event.to_json().to_string(),
        max_attempts: store.webhooks.config.max_attempts.max(1),
        backoff_ms: store.webhooks.config.backoff_ms,
    }))
}

async fn run_endpoint(app: Arc<App>, endpoint_id: String, notify: Arc<Notify>) {
    loop {
        let job = match next_job(&app, &endpoint_id) {
            Err(()) => return,
            Ok(job) => job,
        };
        let Some(job) = job else {
            // A stale entry for a reset event must not block the queue.
            drop_stale_head(&app, &endpoint_id);
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            continue;
        };
        let delivered = deliver(&app, &endpoint_id, &job).await;
        let mut store = app.lock();
        if let Some(ep) = store
            .webhooks
            .endpoints
            .iter_mut()
            .find(|e| e.id == endpoint_id)
        {
            if ep.queue.front() == Some(&job.event_id) {
                ep.queue.pop_front();
            }
        }
        if delivered {
            if let Some(ev) = store.events.get_mut(&job.event_id) {
                ev.pending_webhooks = (ev.pending_webhooks - 1).max(0);
            }
        }
    }
}

fn drop_stale_head(app: &App, endpoint_id: &str) {
    let mut store = app.lock();
    let stale = store
        .webhooks
        .endpoints
        .iter()
        .find(|e| e.id == endpoint_id)
        .and_then(|e| e.queue.front().cloned())
        .filter(|id| store.events.get(id).is_none());
    if stale.is_some() {
        if let Some(ep) = store
            .webhooks
            .endpoints
            .iter_mut()
            .find(|e| e.id == endpoint_id)
        {
            ep.queue.pop_front();
        }
    }
}

async fn deliver(app: &App, endpoint_id: &str, job: &Job) -> bool {
    for attempt in 1..=job.max_attempts {
        let t = real_now();
        let result = app
            .http
            .post(&job.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "Stripe-Signature",
                signature_header(&job.secret, t, &job.body),
            )
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(job.body.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(resp) => (Some(resp.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        tracing::debug!(event_id = %job.event_id, attempt, ?status, "webhook delivery");
        app.lock().webhooks.deliveries.push(DeliveryAttempt {
            event_id: job.event_id.clone(),
            event_type: job.event_type.clone(),
            endpoint_id: endpoint_id.to_string(),
            attempt,
            status_code: status,
            error,
            delivered: ok,
            dropped: false,
            at: t,
        });
        if ok {
            return true;
        }
        if attempt < job.max_attempts {
            let delay = job.backoff_ms.saturating_mul(1 << (attempt - 1).min(16));
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    tracing::warn!(event_id = %job.event_id, endpoint_id, "webhook delivery gave up");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_stripe() {
        // Stripe's scheme: hex(HMAC_SHA256(key = secret, "{t}.{payload}")).
        let header = signature_header("whsec_test_secret", 12345, "{\"id\":\"evt_test\"}");
        assert!(header.starts_with("t=12345,v1="));
        assert_eq!(header.len(), "t=12345,v1=".len() + 64);
        assert_eq!(
            sign("whsec_test_secret", 12345, "{\"id\":\"evt_test\"}"),
            sign("whsec_test_secret", 12345, "{\"id\":\"evt_test\"}")
        );
        assert_ne!(sign("whsec_a", 1, "x"), sign("whsec_b", 1, "x"));
    }

    #[test]
    fn drops_are_deterministic_for_a_seed() {
        let run = |seed| {
            let mut w = Webhooks::default();
            w.set_drops(0.5, seed);
            (0..64).map(|_| w.draw_drop()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let dropped = run(7).iter().filter(|d| **d).count();
        assert!((16..=48).contains(&dropped), "{dropped}");
    }
}
