//! Every Lago webhook body of the corpus, signed here with both of Lago's algorithms (HMAC with
//! an organization key; RS256 JWT with a test-only key pair whose public half the Lago emulator
//! serves as Lago does), is verified, recorded once and handled; bad signatures are refused with
//! nothing recorded.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::support::tier;
use crate::sync_support::{lago_config, LagoEmulator, LagoOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tierflow::adapters::memory::{MemoryQueue, MemoryStore};
use tierflow::domain::{BillingProfile, SubscriptionStatus, UserId};
use tierflow::ports::{BillingStore, Commit, ProfileWrite, SyncTarget};
use tierflow::sync::lago::LagoClient;
use tierflow::sync::lago_webhook::signature::{LagoSignatureVerifier, LagoWebhookConfig};
use tierflow::sync::lago_webhook::{LagoDelivery, LagoWebhookReceiver, Received};
use tierflow::time::FixedClock;

const NOW: i64 = 1_795_391_165;
const HMAC_KEY: &str = "9f0d8a3e-5b1c-4e7a-8f2d-6c4b3a2e1d0f";
const ISSUER: &str = "https://api.lago.test";

/// TEST-ONLY RSA key pair, generated for these tests and used nowhere else.
const TEST_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDF1eV6LgRKFaq8
2eDi0bTMHyq1zqhm9zOT/8u3iHQnT3KAqnbK/jzSoGlo3ScQ0uCUbskIlccjd4rD
Bt6JA0K58+01fVYz4xQllzusl23YXPXTqEIszNLPpMSqrvsiFxH2RMdejhZd0mK+
p01B7P9L8AlSfOykQDKdJAUFe9Pzxuw5n6bvkLaDvUKdG+av1YzpShb89gOkkLRp
4Zcw2YS/nIsKs4y67n5nXKzS9A9SZ26aL7dIjlQ6PCx02joR8yoWfusSHRt7T0Mb
oU8nmPsVfgxFvUPpLwh73gHA++uE3PHN4PbvZ4uiR25B9zBPgt6uEbyUwANdTt69
1pDL9e1FAgMBAAECggEABwGASwzbywcsZjFYX5U/OqafO76nQ7TdBzsyQCbIEjz5
LZRGeQF62ZdOVE/XRScVRpG2cyQ2tUtTnHzJnv7WEJa89OgiMtvc8p3XQlE/KxUp
AXH+ce6znSB/ycRA5sqmsLAWgq3eczvIPRSDTbfdAe1CBJahnLQcoWhNTeM+NMOW
fASqHMLZKpSmUZgh89mfxiTXWB0H6ut5JL8zNj7KaWaXYtQAqjhlRnynRvsg3ok0
SPMkPB4OzPPtc7c5jnRYl5jMBxlAiHtn4tliTp6Um1cnR19Nrj64qry8JSxeQuf7
tmMed508ZtTUzZu0uMbyWBgeIzaUzKFtGTbto05joQKBgQDvcyJruowq8LHwX32n
RHh/R0sq688owvKxXzdu5P2Eq8CBvgMXrreWqQMAP51VE+Aa48PskML2TAO9v4m5
n7q/5+nIp9llB5X6hFfY5f7d0zvjM9Z1Q/W9AkhUvG50yixRXZ6SGGCFTklWZOMU
Ya8oIAFO8b6CQepqIT6u2yfi8QKBgQDTgm7NvMVileCWziRIIqn1hRn8KH6/Fv+k
tNiZtukJKBmlnGWnFVOMXl/NvoPp/P/Mz4q/tsmqjgJWlzyd5XHlo18IzI1mgpW+
OMMqn47DwT8Fn1J6RmP5aZU1+MkEdaYPo/S35HZW3KKP08G62AqhuJwDJ9zc/Htp
FnDZzq5HlQKBgQDZvV3AjrtlVMjKJ1tw3j+gpekBl7sietwMVORokAzFNxVwJaRU
RcmmU/xpnm9obRFuAk4ocZ8ILyl7w4/u3wQH/FDH6XIzf8lvLCdiEgtIFgywV3Qd
4HW2sTuq6kqbIzlXqAVJHqeusPjZehZQc1++4hOugP/XHS+X4LFKefl0UQKBgFUj
4xCEVXxa0p5B+s7izUGcw5oCfwrS6jNV7P7rZyEdeD13GGBKsGgHsU7zyswM4LeE
L9j+bm1uXriWhnsU2mVS/zVeieji1f5NgRqOQfzAtGrB+IRqA2JpwvuH2vsllKQl
HqRLnetXQ0TcO9bHkngJBRwsFrcKF2907hZvIS6FAoGALNr1PNhAfdFmGd+RWVtv
Do1jnS6OQm5eQFFEkAEE6F2jviNnppAMmXfFUdWks/vDaWL0TqAtPTmiM9EWn5Qb
hZ7x//CRxh+aeuMl/8TPD0octuPUQu6HLghBmH+oxlEtuiAvNmTnvwo74ke5O6Gg
OGHWJ4nAyOT7RStDZF5XrLY=
-----END PRIVATE KEY-----
";

/// The public half of [`TEST_PRIVATE_KEY`] (TEST-ONLY).
const TEST_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxdXlei4EShWqvNng4tG0
zB8qtc6oZvczk//Lt4h0J09ygKp2yv480qBpaN0nENLglG7JCJXHI3eKwwbeiQNC
ufPtNX1WM+MUJZc7rJdt2Fz106hCLMzSz6TEqq77IhcR9kTHXo4WXdJivqdNQez/
S/AJUnzspEAynSQFBXvT88bsOZ+m75C2g71CnRvmr9WM6UoW/PYDpJC0aeGXMNmE
v5yLCrOMuu5+Z1ys0vQPUmdumi+3SI5UOjwsdNo6EfMqFn7rEh0be09DG6FPJ5j7
FX4MRb1D6S8Ie94BwPvrhNzxzeD272eLokduQfcwT4LerhG8lMADXU7evdaQy/Xt
RQIDAQAB
-----END PUBLIC KEY-----
";

/// A second TEST-ONLY private key: signatures made with it must be refused.
const OTHER_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDwvA1iWB8r3+2Q
nv0iM60jMYRjA6fEgce3SwdyrknDYQtWCKgUiJCexakuz2jnV67sXKFobzx0EePh
vQNKygPdU4NGD0gIu5AevVKx9tRjnjeTty7XLsPfZr4xpYO98keDL7x9d4wsalnF
w4EyW7Q2wOYzmTWuNH4BHR07gSD6WFbzvutkZ4rsYMUNAwg/vGNkemJg4I8hgwib
pcaV9RdSTN8YbaCLASBLJsRoIxSbVWZ2ocyqVPdeCexJoB4ljuJLss8ZcYVYIr2I
G/F6yKa7zWgKiLuOCweUK32uxVISNc8tOb35Udhz2ckzQDseyVyijUqttncKSCB9
ejDz33lNAgMBAAECggEAKCyp6ySbpx3Krpzpz6BiH4Ju/nsor1GdO8iIqKnPY4y5
cJUnP63+vJBuCILSlfD7HzTiNuSBaTlnF1AM0ZlfBbufJ7z7H4H1rjuYJlzz2uAX
lE44we5q/8hMq0pc7wEU0B7STPn7aZoh+zACSp4lOBH/GNNTswvNj3AFZd3J3B05
IZ9AEVk8/yrSArVm9cdTOnegJXH54v4QRArRcqZCg1NitMYh7qdOZ5yFu+XpxiQX
npwdfqMnbJbqgT8IWjP6ekHLrDWlNX1KCHLJUj+SK3p89OEJeWJexdbFF9ZJ3F/d
HtT9jTSPGplTlx+Y7K6+gE8GV8vlB2cwcdgjJrPbnQKBgQD5SQ9pBinpXx93sTyz
J2XOGnzjQyugAMZrH37eyRXCZ9vJJnVUgtmuKsXDlDJ9qt/oTFQKPZQFpfSxxs4U
ZFKGrX/1Tg6E3BII+eiz2K+AanE6FFOY7n7yyBK5T5G3WwW80Ks0lpqERTBy30a0
zZ0iMgfh/noUKEAHI0dP7Y7BGwKBgQD3OAe8lxayjxvG5cV/XQ3Js6Dii+EwRQq3
srYSw6IweysTRekQ6UxhXoCSJpjwWhjOvQYP4jeXfe644WUKx3pGu81EV5AA2yHH
r1kwRGFHk+Phw5osj65YWCZ2LdPmrbDqG+eXKulpgI0+oTxxjHhLyGC9F/PIUise
gESZGXA9twKBgQDH8X6nuSbipMYjhYfvFhmEvyAOVDDoa9a50xA6dsS6If1aEDup
Zi5ckLgAj5wTyXs/4gDCGfPgt+RUtuVR28mJdh2czle83pqkknW/0nupnzZj5CvN
DPXLmwfRlG2GyD4I3MGFM4qJrskWSdl3aTewVrqV3DtkcYgxcW1gQWTvowKBgQCs
a3uZ4JaH+p+Y3PAdoDzZjFqNJpnsHHsZG584/xDDV2P3kS64CL6oukxZomnQWEYt
ClCMC25SThaNA0aBehah9qF3JMrejfbFWlqN+2MNlOu+rbl9ksg5/WD104iSvllB
Li0blWYtmubn43RQjXPpBtvRhj8UW5qPL06oqMFLiQKBgH2xnrBKZuCWGk3X+kiy
gqTbF6Jct2XtFYansqX/diXbzH9ZOq6yykZZJXjqYoRwlk0lpOyYvTAcFJL+gE7Y
WwTBioQZk5Aihpk777e3TMa7Qw6YI018X/XZ+7UwR1sru4YfVZdDjtrU14TSp1AU
DMuDSXsYzsBkGioxBUHi8jFB
-----END PRIVATE KEY-----
";

/// The corpus's Lago webhook bodies, or `None` (with a message) when the corpus is absent.
fn corpus() -> Option<Vec<(String, String)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/lago-webhooks");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the Lago corpus tests: {} is missing",
            dir.display()
        );
        eprintln!("skipping: the corpus is not at {}", dir.display());
        return None;
    };
    let mut files: Vec<(String, String)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "expected the whole corpus, found {}",
        files.len()
    );
    Some(files)
}

fn hmac_signature(key: &str, body: &str) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn jwt_signature(private_pem: &str, issuer: &str, data: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &json!({"data": data, "iss": issuer}),
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// The Lago emulator signing with (and serving the public half of) [`TEST_PRIVATE_KEY`].
async fn lago_with_public_key() -> LagoEmulator {
    let file = std::env::temp_dir().join(format!(
        "tierflow-lago-test-key-{}-{}.pem",
        std::process::id(),
        NEXT_KEY_FILE.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&file, TEST_PRIVATE_KEY).unwrap();
    let lago = LagoEmulator::start(LagoOptions {
        private_key_file: Some(file.clone()),
        ..Default::default()
    })
    .await;
    std::fs::remove_file(file).unwrap();
    lago
}

static NEXT_KEY_FILE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct Harness {
    receiver: LagoWebhookReceiver,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
}

fn harness(lago_url: &str) -> Harness {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let clock = Arc::new(FixedClock::at(NOW));
    let verifier = LagoSignatureVerifier::new(
        LagoWebhookConfig {
            hmac_key: Some(tierflow::config::Secret::new(HMAC_KEY)),
            issuer: Some(ISSUER.into()),
            public_key: None,
            signature: None,
        },
        Some(LagoClient::new(lago_config(lago_url)).unwrap()),
        clock.clone(),
    )
    .unwrap();
    Harness {
        receiver: LagoWebhookReceiver {
            verifier,
            store: store.clone(),
            queue: queue.clone(),
            clock,
            catalog: tierflow::domain::Catalog::parse(tierflow::domain::catalog::BUILT_IN_CATALOG)
                .unwrap(),
        },
        store,
        queue,
    }
}

/// A user on the starter plan: a subscription Lago terminated on its own is out of line.
fn paid(id: &str) -> BillingProfile {
    let mut profile = BillingProfile::new_free(
        UserId::parse(id).unwrap(),
        &tierflow::domain::Catalog::built_in(),
    );
    profile.tier = tier("starter");
    profile.status = SubscriptionStatus::Active;
    profile
}

async fn known_user(store: &MemoryStore, id: &str) {
    store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile: paid(id),
                expected_version: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn every_corpus_body_is_verified_with_both_algorithms_and_recorded_once() {
    let Some(files) = corpus() else { return };
    let lago = lago_with_public_key().await;
    let h = harness(&lago.url);
    // The customers of the corpus's subscription.terminated examples are Tierflow users here.
    known_user(&h.store, "advance_2").await;
    known_user(&h.store, "customer_1234").await;

    for (i, (name, body)) in files.iter().enumerate() {
        let webhook_type = serde_json::from_str::<Value>(body).unwrap()["webhook_type"]
            .as_str()
            .unwrap()
            .to_owned();
        let hmac_sig = hmac_signature(HMAC_KEY, body);
        let jwt_sig = jwt_signature(TEST_PRIVATE_KEY, ISSUER, body);
        let deliveries = [
            ("hmac", hmac_sig.as_str(), format!("key-{i}-hmac")),
            ("jwt", jwt_sig.as_str(), format!("key-{i}-jwt")),
        ];
        for (algorithm, signature, key) in &deliveries {
            let delivery = LagoDelivery {
                signature: Some(signature),
                algorithm: Some(algorithm),
                unique_key: Some(key),
                body: body.as_bytes(),
            };
            let received = h.receiver.receive(delivery).await;
            assert_eq!(
                received,
                Ok(Received::Recorded {
                    webhook_type: webhook_type.clone()
                }),
                "{name} ({algorithm})"
            );
            // Lago's retry of the same webhook record carries the same key.
            assert_eq!(
                h.receiver.receive(delivery).await.map(|r| r.label()),
                Ok("duplicate"),
                "{name} ({algorithm}) retried"
            );
        }
    }

    let records = h.store.lago_webhooks();
    assert_eq!(
        records.len(),
        files.len() * 2,
        "each delivery recorded once"
    );
    for record in &records {
        let audited = record.webhook_type.starts_with("subscription.")
            || record.webhook_type.starts_with("invoice.");
        assert_eq!(
            record.expires_at.is_none(),
            audited,
            "{}",
            record.webhook_type
        );
        assert_eq!(record.received_at, NOW);
    }
    let terminated = records
        .iter()
        .find(|r| r.webhook_type == "subscription.terminated" && r.user_id.is_some())
        .unwrap();
    assert_eq!(terminated.summary["status"], "terminated");
    assert_eq!(terminated.object_type, "subscription");
    let invoice = records
        .iter()
        .find(|r| r.webhook_type == "invoice.created")
        .unwrap();
    assert!(
        invoice.summary.contains_key("number"),
        "{:?}",
        invoice.summary
    );
    assert!(
        !invoice.summary.contains_key("customer"),
        "no nested objects"
    );

    // subscription.terminated of a plan the users still have reconciles: a Lago sync job per
    // known user, for every delivery (duplicates repeat the harmless, level-triggered job).
    let jobs = h.queue.jobs();
    assert!(!jobs.is_empty());
    assert!(jobs.iter().all(|j| j.targets == [SyncTarget::Lago]));
    let mut users: Vec<&str> = jobs.iter().map(|j| j.user_id.as_str()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users, ["advance_2", "customer_1234"]);

    // Lago's public key was fetched once, with the API key, and cached.
    assert_eq!(
        lago.count("GET", "/api/v1/webhooks/json_public_key").await,
        1
    );
}

#[tokio::test]
async fn bad_signatures_are_401_and_record_nothing() {
    let Some(files) = corpus() else { return };
    let lago = lago_with_public_key().await;
    let h = harness(&lago.url);
    known_user(&h.store, "advance_2").await;
    let (_, body) = files
        .iter()
        .find(|(name, _)| name.starts_with("subscription.terminated__lago-doc-2024"))
        .unwrap();
    let tampered = body.replace("\"terminated\"", "\"active\"");
    let cases: Vec<(&str, Option<&str>, Option<String>, &str)> = vec![
        ("missing signature", Some("hmac"), None, body),
        (
            "hmac with another key",
            Some("hmac"),
            Some(hmac_signature("other-key", body)),
            body,
        ),
        (
            "hmac over another body",
            Some("hmac"),
            Some(hmac_signature(HMAC_KEY, body)),
            &tampered,
        ),
        ("hmac not base64", Some("hmac"), Some("%%%".into()), body),
        (
            "jwt with another key",
            Some("jwt"),
            Some(jwt_signature(OTHER_PRIVATE_KEY, ISSUER, body)),
            body,
        ),
        (
            "jwt from another issuer",
            Some("jwt"),
            Some(jwt_signature(TEST_PRIVATE_KEY, "https://evil.test", body)),
            body,
        ),
        (
            "jwt over another body",
            Some("jwt"),
            Some(jwt_signature(TEST_PRIVATE_KEY, ISSUER, body)),
            &tampered,
        ),
        ("jwt garbage", Some("jwt"), Some("a.b.c".into()), body),
        (
            "unknown algorithm",
            Some("sha1"),
            Some(hmac_signature(HMAC_KEY, body)),
            body,
        ),
        (
            "hmac signature sent as jwt",
            None,
            Some(hmac_signature(HMAC_KEY, body)),
            body,
        ),
    ];
    for (name, algorithm, signature, sent) in cases {
        let err = h
            .receiver
            .receive(LagoDelivery {
                signature: signature.as_deref(),
                algorithm,
                unique_key: Some("5d3c8e8e-0000-4000-8000-000000000001"),
                body: sent.as_bytes(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 401, "{name}: {err}");
        assert_eq!(err.code, "invalid_signature", "{name}");
    }
    assert!(h.store.lago_webhooks().is_empty(), "nothing recorded");
    assert!(h.queue.jobs().is_empty(), "nothing enqueued");
}

#[tokio::test]
async fn the_emulator_serves_the_test_keys_public_half() {
    let lago = lago_with_public_key().await;
    let (_, served) = lago.get("/api/v1/webhooks/json_public_key").await;
    let decode = tierflow::sync::lago::decode_public_key;
    assert_eq!(
        decode(served["webhook"]["public_key"].as_str().unwrap()),
        decode(TEST_PUBLIC_KEY)
    );
}

#[tokio::test]
async fn an_unreachable_public_key_is_503_so_lago_retries() {
    let lago = lago_with_public_key().await;
    lago.fail_next("GET", "/api/v1/webhooks/json_public_key", 500, 10)
        .await;
    let h = harness(&lago.url);
    let body = r#"{"webhook_type":"invoice.created","object_type":"invoice","invoice":{}}"#;
    let err = h
        .receiver
        .receive(LagoDelivery {
            signature: Some(&jwt_signature(TEST_PRIVATE_KEY, ISSUER, body)),
            algorithm: Some("jwt"),
            unique_key: Some("k-1"),
            body: body.as_bytes(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status.as_u16(), 503);
    assert!(h.store.lago_webhooks().is_empty());
}

#[tokio::test]
async fn signed_bodies_that_are_not_webhooks_are_400() {
    let lago = lago_with_public_key().await;
    let h = harness(&lago.url);
    for body in ["not json", r#"{"hello":"world"}"#] {
        let err = h
            .receiver
            .receive(LagoDelivery {
                signature: Some(&hmac_signature(HMAC_KEY, body)),
                algorithm: Some("hmac"),
                unique_key: Some("k-2"),
                body: body.as_bytes(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 400, "{body}");
    }
    assert!(h.store.lago_webhooks().is_empty());
}
