//! Shared set-up for integration tests against the local AWS emulator started by
//! `infra/test.sh` (which exports the endpoint and the names provisioned from template.yaml).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The emulator settings, or `None` (with a message) when the local stack is not running.
/// Under CI the stack is always started, so missing settings fail the test instead.
pub struct LocalAws {
    pub endpoint: String,
    pub table: String,
    pub sync_queue_url: String,
    pub sync_dlq_url: String,
    pub bus: String,
}

pub fn local_aws() -> Option<LocalAws> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("TIERFLOW_TEST_AWS_ENDPOINT"),
        get("TABLE_NAME"),
        get("SYNC_QUEUE_URL"),
        get("SYNC_DLQ_URL"),
        get("EVENT_BUS_NAME"),
    ) {
        (Some(endpoint), Some(table), Some(sync_queue_url), Some(sync_dlq_url), Some(bus)) => {
            Some(LocalAws {
                endpoint,
                table,
                sync_queue_url,
                sync_dlq_url,
                bus,
            })
        }
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run these tests against the local AWS emulator: run them through infra/test.sh"
            );
            eprintln!("skipping: the local AWS emulator is not configured (run infra/test.sh)");
            None
        }
    }
}

/// A name unique to this test process and call, so tests sharing one table never collide.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}
