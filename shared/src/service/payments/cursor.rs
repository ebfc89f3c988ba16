//! History cursors: an opaque, signed wrapper around the store's `next` position, bound to the
//! user it was issued to. The store only ever reads the caller's own partition, so a cursor can
//! never reveal another user's payments; the signature makes a tampered, truncated or foreign
//! cursor a clear 400 instead of a confusing page.
//!
//! Shape: `v1.{base64url(position)}.{base64url(first 16 bytes of HMAC-SHA256)}`, the MAC taken
//! over a domain label, the user id and the position, each length-prefixed.

use crate::domain::UserId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const VERSION: &str = "v1";
const LABEL: &[u8] = b"tierflow/payment-history-cursor/v1";
const TAG_BYTES: usize = 16;
/// Longest cursor accepted; anything longer is refused before decoding.
pub const MAX_CURSOR_CHARS: usize = 512;

/// A cursor that was not issued by this deployment to this caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not valid for this history: start again without a cursor")]
pub struct InvalidCursor;

fn mac(key: &[u8], user: &UserId, position: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in [LABEL, user.as_str().as_bytes(), position.as_bytes()] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// The cursor handing `position` (a store page's `next`) to `user`.
pub fn encode(key: &[u8], user: &UserId, position: &str) -> String {
    let tag = mac(key, user, position).finalize().into_bytes();
    format!(
        "{VERSION}.{}.{}",
        URL_SAFE_NO_PAD.encode(position),
        URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
    )
}

/// The position inside a cursor, if `user` was the one it was issued to under `key`.
pub fn decode(key: &[u8], user: &UserId, cursor: &str) -> Result<String, InvalidCursor> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(InvalidCursor);
    }
    let mut parts = cursor.split('.');
    let (Some(VERSION), Some(position), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidCursor);
    };
    let position = URL_SAFE_NO_PAD
        .decode(position)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|p| !p.is_empty())
        .ok_or(InvalidCursor)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
    if tag.len() != TAG_BYTES {
        return Err(InvalidCursor);
    }
    mac(key, user, &position)
        .verify_truncated_left(&tag)
        .map_err(|_| InvalidCursor)?;
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a-test-key-of-at-least-thirty-two-bytes";

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn a_cursor_round_trips_for_its_user() {
        let ada = user("ada");
        let position = "001700000000#pi_3abc";
        let cursor = encode(KEY, &ada, position);
        assert!(cursor.starts_with("v1."), "{cursor}");
        assert!(!cursor.contains('#') && !cursor.contains('+') && !cursor.contains('/'));
        assert_eq!(decode(KEY, &ada, &cursor).unwrap(), position);
    }

    #[test]
    fn another_users_cursor_is_refused() {
        let cursor = encode(KEY, &user("ada"), "001700000000#pi_1");
        assert_eq!(decode(KEY, &user("bob"), &cursor), Err(InvalidCursor));
    }

    #[test]
    fn another_key_refuses_the_cursor() {
        let cursor = encode(KEY, &user("ada"), "001700000000#pi_1");
        assert_eq!(
            decode(
                b"another-key-of-thirty-two-bytes-or-so",
                &user("ada"),
                &cursor
            ),
            Err(InvalidCursor)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let ada = user("ada");
        let cursor = encode(KEY, &ada, "001700000000#pi_1");
        let forged_position = URL_SAFE_NO_PAD.encode("001800000000#pi_1");
        let parts: Vec<&str> = cursor.split('.').collect();
        let forged = format!("v1.{forged_position}.{}", parts[2]);
        let short_tag = format!("v1.{}.{}", parts[1], &parts[2][..10]);
        let v2 = cursor.replacen("v1.", "v2.", 1);
        let long = "v1.".to_owned() + &"A".repeat(MAX_CURSOR_CHARS);
        for bad in [
            forged.as_str(),
            short_tag.as_str(),
            v2.as_str(),
            long.as_str(),
            "",
            "garbage",
            "v1..",
            "v1.%%%.AAAA",
            &format!("{cursor}.extra"),
        ] {
            assert_eq!(decode(KEY, &ada, bad), Err(InvalidCursor), "{bad}");
        }
    }
}
