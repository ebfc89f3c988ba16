//! Stripe webhook signatures: `Stripe-Signature: t=…,v1=…[,v1=…]`, HMAC-SHA256 keyed with the
//! whole `whsec_…` string over `"{t}.{raw body}"`, lowercase hex. Any `v1` matching any
//! configured secret is accepted (rotation), compared in constant time.
//!
//! Header parsing is as strict as stripe-python's and stripe-node's: keys are compared as
//! written (`t=1, v1=…` has a key `" v1"`, so no v1 signature) and a signature is the lowercase
//! hex digest the SDKs compare as a string (upper-case hex never matches).
//!
//! Timestamp policy: the SDKs disagree about timestamps from the future (Python, Node, Go, Java
//! and Ruby check only age; PHP, .NET and async-stripe check `|now - t|`). Tierflow checks both
//! directions: a timestamp more than the tolerance ahead of our clock is as suspect as an old
//! one, and refusing it keeps the replay window at exactly the tolerance.

use crate::config::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Stripe's default tolerance, in seconds.
pub use crate::config::DEFAULT_WEBHOOK_TOLERANCE_SECONDS as DEFAULT_TOLERANCE_SECONDS;

/// Why a delivery was refused. Never includes the secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or a blank one.
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    /// An item without `=`, or `t` missing or not an integer.
    #[error("malformed Stripe-Signature header")]
    MalformedHeader,
    /// No `v1` item at all (a `v0`-only header from a test tool, say).
    #[error("no v1 signature in the Stripe-Signature header")]
    NoV1Signature,
    /// A zero-length body: nothing Stripe would sign.
    #[error("the payload is empty")]
    EmptyPayload,
    /// No `v1` signature matches under any configured secret: a wrong secret or a forged body.
    #[error("no signature matches the payload")]
    NoMatch,
    /// Signed correctly, but `t` is further than the tolerance from our clock: a replayed or
    /// long-delayed delivery.
    #[error("the timestamp is outside the tolerance")]
    OutsideTolerance,
}

/// The parsed header: the timestamp and every v1 signature that decodes as hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t`: Unix seconds when Stripe signed the delivery.
    pub timestamp: i64,
    /// Each `v1` HMAC-SHA256 digest, decoded (32 bytes when well-formed).
    pub v1: Vec<Vec<u8>>,
}

/// Parses the header as the SDKs do: items split on `,`, each on its first `=`, nothing
/// trimmed; an item without `=` or a missing or non-integer `t` is malformed; `v1` values that
/// are not lowercase hex are skipped (they can never equal the SDKs' lowercase digest).
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::MissingHeader);
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut saw_v1 = false;
    for item in header.split(',') {
        let (key, value) = item
            .split_once('=')
            .ok_or(SignatureError::MalformedHeader)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::MalformedHeader)?,
                )
            }
            "v1" => {
                saw_v1 = true;
                if let Some(bytes) = decode_lowercase_hex(value) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::MalformedHeader)?;
    if !saw_v1 {
        return Err(SignatureError::NoV1Signature);
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// Verifies a delivery. `tolerance` of `None` skips the timestamp check (SDK `verify_header`
/// without tolerance); webhooks always pass one.
pub fn verify(
    header: &str,
    payload: &[u8],
    secrets: &[Secret],
    tolerance: Option<i64>,
    now: i64,
) -> Result<SignatureHeader, SignatureError> {
    if payload.is_empty() {
        return Err(SignatureError::EmptyPayload);
    }
    let parsed = parse_header(header)?;
    let matched = secrets.iter().any(|secret| {
        parsed.v1.iter().any(|candidate| {
            // `verify_slice` compares in constant time.
            mac_for(secret.expose(), parsed.timestamp, payload)
                .verify_slice(candidate)
                .is_ok()
        })
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if let Some(tolerance) = tolerance.filter(|t| *t > 0) {
        if (now - parsed.timestamp).abs() > tolerance {
            return Err(SignatureError::OutsideTolerance);
        }
    }
    Ok(parsed)
}

/// The bytes of a lowercase hex string; `None` for anything else (upper case included).
fn decode_lowercase_hex(value: &str) -> Option<Vec<u8>> {
    let lowercase = value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    lowercase.then(|| hex::decode(value).ok()).flatten()
}

fn mac_for(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Signs a payload as Stripe does (for the emulator, tests and benchmarks).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let signature = mac_for(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn round_trip_and_rotation() {
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let header = sign("whsec_new", 1000, body);
        assert!(verify(
            &header,
            body,
            &secrets(&["whsec_old", "whsec_new"]),
            Some(300),
            1000
        )
        .is_ok());
        assert_eq!(
            verify(&header, body, &secrets(&["whsec_old"]), Some(300), 1000).unwrap_err(),
            SignatureError::NoMatch
        );
        let tampered = br#"{"id":"evt_2","object":"event"}"#;
        assert_eq!(
            verify(&header, tampered, &secrets(&["whsec_new"]), Some(300), 1000).unwrap_err(),
            SignatureError::NoMatch
        );
    }

    #[test]
    fn tolerance_is_checked_both_ways_inclusive() {
        let body = b"{}";
        let header = sign("whsec_x", 1000, body);
        let s = secrets(&["whsec_x"]);
        let cases = [(1300, true), (1301, false), (700, true), (699, false)];
        for (now, ok) in cases {
            assert_eq!(
                verify(&header, body, &s, Some(300), now).is_ok(),
                ok,
                "now={now}"
            );
        }
        assert!(verify(&header, body, &s, None, 99_999).is_ok());
    }

    #[test]
    fn header_shapes() {
        let cases = [
            ("", Err(SignatureError::MissingHeader)),
            ("t=", Err(SignatureError::MalformedHeader)),
            ("v1,t=1", Err(SignatureError::MalformedHeader)),
            ("t=abc,v1=00", Err(SignatureError::MalformedHeader)),
            ("v1=00", Err(SignatureError::MalformedHeader)),
            ("t=1,v0=00", Err(SignatureError::NoV1Signature)),
        ];
        for (header, want) in cases {
            assert_eq!(parse_header(header).map(|_| ()), want, "{header:?}");
        }
        assert_eq!(
            parse_header(" t=1,v1=00").map(|_| ()),
            Err(SignatureError::MalformedHeader),
            "a key is compared as written"
        );
        let parsed = parse_header("t=5,v1=zz,v1=0a0b,v0=ff").unwrap();
        assert_eq!(parsed.timestamp, 5);
        assert_eq!(
            parsed.v1,
            vec![vec![10, 11]],
            "non-hex v1 values are skipped"
        );
    }

    /// stripe-python and stripe-node split on `,` without trimming and compare the lowercase
    /// hex digest as a string: both shapes below are refused by them, so by Tierflow too.
    #[test]
    fn a_space_after_the_comma_or_upper_case_hex_is_refused_as_the_sdks_do() {
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let s = secrets(&["whsec_x"]);
        let header = sign("whsec_x", 1000, body);
        assert!(verify(&header, body, &s, Some(300), 1000).is_ok());
        let (t, v1) = header.split_once(',').expect("t and v1");
        let spaced = format!("{t}, {v1}");
        assert_eq!(
            verify(&spaced, body, &s, Some(300), 1000).unwrap_err(),
            SignatureError::NoV1Signature
        );
        let upper = format!("{t},v1={}", v1.trim_start_matches("v1=").to_uppercase());
        assert_eq!(
            verify(&upper, body, &s, Some(300), 1000).unwrap_err(),
            SignatureError::NoMatch
        );
        // A valid signature still wins when an upper-case copy rides along.
        let both = format!("{upper},{v1}");
        assert!(verify(&both, body, &s, Some(300), 1000).is_ok());
    }
}
