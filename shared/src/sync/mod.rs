//! Syncs: pushing a user's current billing state to the identity provider (Keycloak) and the
//! usage-billing platform (Lago), telling the user what happened by email, and receiving Lago's
//! webhooks. Everything here runs behind the sync queue, never inside a Stripe webhook.

pub mod keycloak;
pub mod lago;
pub mod lago_webhook;
pub mod mailer;
pub mod redrive;
pub mod templates;
pub mod worker;

/// Percent-encodes one URL path segment (a user id, a realm, a subscription id): unreserved
/// characters stay, everything else becomes `%XX`.
pub fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// At most `max` characters of a response body, for error messages (never a whole page).
pub(crate) fn snippet(body: &str, max: usize) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &trimmed[..end]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_escape_separators() {
        assert_eq!(path_segment("f81d4fae-7dec_11.d0"), "f81d4fae-7dec_11.d0");
        assert_eq!(path_segment("auth0|abc"), "auth0%7Cabc");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("x@y:z"), "x%40y%3Az");
    }

    #[test]
    fn snippets_are_bounded() {
        assert_eq!(snippet("  short ", 10), "short");
        assert_eq!(snippet("abcdefghijkl", 5), "abcde…");
        assert_eq!(snippet("ééééé", 2), "éé…");
    }
}
