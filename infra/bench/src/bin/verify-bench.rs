//! Tierflow's webhook verify + parse, and the raw floor (one HMAC-SHA256 + one parse of the
//! envelope: id, type, created, `data.object` as raw text), per call, over the payload file `infra/bench/peers/payload.py` writes, so Python,
//! Node and Rust measure the same bytes, secret and header.
//!
//! `verify-bench <payload.json> [iterations]` prints one JSON object: median nanoseconds per call.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::hint::black_box;
use std::time::Instant;
use tierflow::config::Secret;
use tierflow::webhook::delivery::parse_event;
use tierflow::webhook::signature::verify;

/// The least a webhook handler must read of an event: its id, type and creation time, with
/// `data.object` left as raw text (parsed later into the type its handler needs).
#[derive(serde::Deserialize)]
#[allow(dead_code)] // Read only to be parsed: the floor's cost is the parse.
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created: i64,
    #[serde(borrow)]
    data: EnvelopeData<'a>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct EnvelopeData<'a> {
    #[serde(borrow)]
    object: &'a serde_json::value::RawValue,
}

/// Median nanoseconds per call of `f` over `iterations` timed runs, after a tenth as many warm-ups.
fn median_ns(iterations: usize, mut f: impl FnMut()) -> u128 {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples: Vec<u128> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        f();
        samples.push(start.elapsed().as_nanos());
    }
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn field<'a>(spec: &'a serde_json::Value, name: &str) -> Result<&'a serde_json::Value, String> {
    spec.get(name)
        .ok_or_else(|| format!("payload file has no `{name}`"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: verify-bench <payload.json> [iterations]")?;
    let iterations: usize = match args.next() {
        Some(n) => n.parse().map_err(|_| format!("bad iteration count {n}"))?,
        None => 20_000,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let spec: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let body = field(&spec, "payload")?
        .as_str()
        .ok_or("payload is not a string")?;
    let secret = field(&spec, "secret")?
        .as_str()
        .ok_or("secret is not a string")?;
    let header = field(&spec, "header")?
        .as_str()
        .ok_or("header is not a string")?;
    let timestamp = field(&spec, "timestamp")?
        .as_i64()
        .ok_or("timestamp is not an integer")?;
    let secrets = [Secret::new(secret)];

    // Fail loudly rather than time an error path.
    verify(header, body.as_bytes(), &secrets, Some(300), timestamp)
        .map_err(|e| format!("the payload does not verify: {e}"))?;
    parse_event(body.as_bytes()).map_err(|e| format!("the payload does not parse: {e:?}"))?;

    let signed_prefix = format!("{timestamp}.");
    let floor = median_ns(iterations, || {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
            return;
        };
        mac.update(signed_prefix.as_bytes());
        mac.update(body.as_bytes());
        black_box(mac.finalize());
        black_box(serde_json::from_slice::<Envelope>(body.as_bytes()).ok());
    });
    let tierflow = median_ns(iterations, || {
        black_box(verify(header, body.as_bytes(), &secrets, Some(300), timestamp).ok());
        black_box(parse_event(body.as_bytes()).ok());
    });
    // What a state-changing event costs in all: the above, then `data.object` typed once.
    let tierflow_typed = median_ns(iterations, || {
        black_box(verify(header, body.as_bytes(), &secrets, Some(300), timestamp).ok());
        black_box(parse_event(body.as_bytes()).map(|e| e.object().ok()).ok());
    });
    println!(
        "{}",
        serde_json::json!({
            "iterations": iterations,
            "payload_bytes": body.len(),
            "floor_ns": floor,
            "tierflow_ns": tierflow,
            "tierflow_typed_ns": tierflow_typed,
        })
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("verify-bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
