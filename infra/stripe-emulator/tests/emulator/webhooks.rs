//! Signed webhook deliveries: order, signature, retries, drops, pause/resume, and the official
//! Python SDK's verification.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use stripe_emulator::Config;

use crate::harness::{s, Harness, Receiver};

const SECRET: &str = "whsec_test_emulator_secret";

async fn with_receiver(script: Vec<u16>, attempts: u32) -> (Harness, Receiver) {
    let (receiver, addr) = Receiver::start(script).await;
    let config = Config {
        webhook_url: Some(format!("http://{addr}/stripe/webhook")),
        webhook_secret: Some(SECRET.into()),
        webhook_attempts: attempts,
        webhook_backoff_ms: 20,
        ..Config::default()
    };
    (Harness::with_config(config).await, receiver)
}

fn verify(header: &str, body: &str, secret: &str) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    sigs.contains(&expected)
}

#[tokio::test]
async fn deliveries_are_signed_ordered_and_complete() {
    let (h, rx) = with_receiver(vec![], 3).await;
    assert_eq!(h.emu.webhook_secret(), Some(SECRET));
    for i in 0..4 {
        h.post("/v1/customers", &[("email", &format!("c{i}@example.com"))])
            .await;
    }
    rx.wait_for(4).await;
    let received = rx.received.lock().unwrap().clone();
    for (headers, body) in &received {
        let sig = headers.get("stripe-signature").unwrap().to_str().unwrap();
        assert!(verify(sig, body, SECRET), "bad signature {sig}");
        assert!(!verify(sig, body, "whsec_other"));
        let t: i64 = sig.split(',').next().unwrap()[2..].parse().unwrap();
        assert!(
            (t - stripe_emulator::clock::real_now()).abs() < 60,
            "signed with real time"
        );
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/json; charset=utf-8"
        );
    }
    let emails: Vec<Value> = rx
        .bodies()
        .iter()
        .map(|b| b["data"]["object"]["email"].clone())
        .collect();
    assert_eq!(
        emails,
        [
            "c0@example.com",
            "c1@example.com",
            "c2@example.com",
            "c3@example.com"
        ]
    );
    let event = &rx.bodies()[0];
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "customer.created");
    let stored = h.get(&format!("/v1/events/{}", s(event, "id"))).await;
    assert_eq!(stored["pending_webhooks"], 0);
    let deliveries = h.get("/_emulator/webhooks/deliveries").await;
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 4);
    assert!(deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["delivered"] == true && d["status_code"] == 200));
}

#[tokio::test]
async fn failed_deliveries_are_retried_in_order() {
    let (h, rx) = with_receiver(vec![500, 503], 5).await;
    let first = h
        .post("/v1/customers", &[("email", "first@example.com")])
        .await;
    h.post("/v1/customers", &[("email", "second@example.com")])
        .await;
    rx.wait_for(4).await;
    let bodies = rx.bodies();
    let ids: Vec<&str> = bodies
        .iter()
        .map(|b| b["data"]["object"]["id"].as_str().unwrap())
        .collect();
    // Three attempts at the first event, then the second: per-endpoint order holds.
    assert_eq!(ids[..3], [first["id"].as_str().unwrap(); 3]);
    assert_eq!(bodies[3]["data"]["object"]["email"], "second@example.com");
    let deliveries = h.get("/_emulator/webhooks/deliveries").await;
    let attempts: Vec<(i64, i64, bool)> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap(),
                d["status_code"].as_i64().unwrap(),
                d["delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, 500, false),
            (2, 503, false),
            (3, 200, true),
            (1, 200, true)
        ]
    );
}

#[tokio::test]
async fn drop_rate_pause_and_resume() {
    let (h, rx) = with_receiver(vec![], 2).await;
    h.post(
        "/_emulator/webhooks/config",
        &[("drop_rate", "1.0"), ("seed", "42")],
    )
    .await;
    h.post("/v1/customers", &[("email", "dropped@example.com")])
        .await;
    let events = h.get("/v1/events").await;
    assert_eq!(
        events["data"].as_array().unwrap().len(),
        1,
        "dropped events stay in the Events API"
    );
    let deliveries = h.get("/_emulator/webhooks/deliveries").await;
    assert_eq!(deliveries["data"][0]["dropped"], true);

    // The same seed drops the same events.
    let dropped_first = dropped_positions(&h).await;
    let dropped_second = dropped_positions(&h).await;
    assert_eq!(dropped_first, dropped_second);
    let dropped_count = dropped_first.len();
    assert!(dropped_count > 0 && dropped_count < 12, "{dropped_first:?}");

    h.post("/_emulator/webhooks/config", &[("drop_rate", "0")])
        .await;
    let before = rx.received.lock().unwrap().len();
    h.post("/v1/customers", &[("email", "held@example.com")])
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.received.lock().unwrap().len(), before, "paused");
    h.post("/_emulator/webhooks/resume", &[]).await;
    rx.wait_for(before + 24 - 2 * dropped_count + 1).await;
    let last = rx.bodies().last().unwrap().clone();
    assert_eq!(last["data"]["object"]["email"], "held@example.com");
}

/// Pauses delivery, sets drop rate 0.5 with seed 7, creates 12 events and answers which
/// of them (by position) were dropped.
async fn dropped_positions(h: &Harness) -> Vec<usize> {
    h.post(
        "/_emulator/webhooks/config",
        &[("drop_rate", "0.5"), ("seed", "7")],
    )
    .await;
    h.post("/_emulator/webhooks/pause", &[]).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        let p = h.post("/v1/products", &[("name", "x")]).await;
        let events = h.get("/v1/events?limit=1").await;
        assert_eq!(events["data"][0]["data"]["object"]["id"], p["id"]);
        ids.push(events["data"][0]["id"].as_str().unwrap().to_string());
    }
    let all = h.get("/_emulator/webhooks/deliveries").await;
    let dropped: Vec<String> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["dropped"] == true)
        .map(|d| d["event_id"].as_str().unwrap().to_string())
        .collect();
    (0..12).filter(|i| dropped.contains(&ids[*i])).collect()
}

#[tokio::test]
async fn api_created_endpoints_get_their_own_secret_and_filter() {
    let (rx, addr) = Receiver::start(vec![]).await;
    let h = Harness::start().await;
    let ep = h
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", &format!("http://{addr}/hook")),
                ("enabled_events[]", "customer.subscription.*"),
                ("enabled_events[]", "invoice.paid"),
            ],
        )
        .await;
    let secret = s(&ep, "secret").to_string();
    assert!(secret.starts_with("whsec_"));
    let c = h.catalog().await;
    h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    rx.wait_for(2).await;
    let received = rx.received.lock().unwrap().clone();
    let kinds: Vec<String> = received
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["customer.subscription.created", "invoice.paid"]);
    for (headers, body) in &received {
        assert!(verify(
            headers["stripe-signature"].to_str().unwrap(),
            body,
            &secret
        ));
    }
}

/// The official Python SDK accepts the emulator's signature.
#[tokio::test]
async fn official_python_sdk_verifies_the_signature() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import stripe"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true requires python3 with the stripe package (pip install stripe)"
        );
        println!("skipped: python3 with the stripe package is not available");
        return;
    }
    let (h, rx) = with_receiver(vec![], 1).await;
    let c = h.catalog().await;
    h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    rx.wait_for(3).await;
    let received = rx.received.lock().unwrap().clone();
    let (headers, body) = received.last().unwrap().clone();
    let sig = headers["stripe-signature"].to_str().unwrap().to_string();
    let script = "import sys, stripe\n\
                  event = stripe.Webhook.construct_event(sys.argv[1], sys.argv[2], sys.argv[3])\n\
                  print(event['type'] + ' ' + event['id'])\n\
                  try:\n    stripe.Webhook.construct_event(sys.argv[1], sys.argv[2], 'whsec_wrong')\n    print('WRONG SECRET ACCEPTED')\n\
                  except stripe.SignatureVerificationError:\n    print('wrong secret rejected')\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, &body, &sig, SECRET])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event: Value = serde_json::from_str(&body).unwrap();
    assert!(
        stdout.starts_with(&format!("{} {}", s(&event, "type"), s(&event, "id"))),
        "{stdout}"
    );
    assert!(stdout.contains("wrong secret rejected"), "{stdout}");
}
