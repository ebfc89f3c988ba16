//! `Idempotency-Key` values. Calls that create something or move money derive theirs from the
//! operation, a caller-chosen scope and the parameters, so a retried Lambda or a repeated
//! request sends the same key and Stripe replays the first result instead of acting twice.
//! Other writes get a key unique to the call, reused only by that call's own retries.

use super::form::Form;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// What makes one logical operation different from another with the same parameters, e.g.
/// the user id plus the id of the request that asked for it. Stripe keeps keys for 24 hours,
/// so two operations that must both happen within a day need different scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct IdempotencyScope(String);

impl IdempotencyScope {
    /// A scope made of the given parts, in order.
    pub fn new<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = parts.into_iter().map(|p| p.as_ref().to_owned()).collect();
        // A separator that cannot be confused with the parts' own characters keeps
        // ["a:b", "c"] and ["a", "b:c"] apart.
        Self(joined.join("\u{1f}"))
    }

    /// No scope: the parameters alone identify the operation.
    pub fn none() -> Self {
        Self::default()
    }

    /// The scope's text, as hashed into the key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key for `operation` with `params` within `scope`: the same inputs always give the same
/// key, and any difference gives another. Shape: `tierflow-{operation}-{sha256 hex}`.
pub fn derive_key(operation: &str, scope: &IdempotencyScope, params: &Form) -> String {
    let mut hash = Sha256::new();
    for part in [operation, scope.as_str(), &params.canonical()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("tierflow-{operation}-{}", hex::encode(hash.finalize()))
}

/// A key for a single call that must not replay an earlier call's result (updates that may be
/// repeated on purpose, like set/unset `cancel_at_period_end`).
pub fn unique_key(operation: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(nanos.to_be_bytes());
    hash.update(std::process::id().to_be_bytes());
    hash.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    let digest = hex::encode(hash.finalize());
    format!("tierflow-{operation}-once-{}", &digest[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(customer: &str) -> Form {
        Form::new()
            .field("customer", customer)
            .field("items[0][price]", "price_1")
    }

    #[test]
    fn same_inputs_give_the_same_key() {
        let scope = IdempotencyScope::new(["user-1", "req-9"]);
        let a = derive_key("subscription_update", &scope, &params("cus_1"));
        let b = derive_key("subscription_update", &scope, &params("cus_1"));
        assert_eq!(a, b);
        assert!(a.starts_with("tierflow-subscription_update-"));
        assert_eq!(a.len(), "tierflow-subscription_update-".len() + 64);
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let reordered = Form::new()
            .field("items[0][price]", "price_1")
            .field("customer", "cus_1");
        let none = IdempotencyScope::none();
        assert_eq!(
            derive_key("op", &none, &params("cus_1")),
            derive_key("op", &none, &reordered)
        );
    }

    #[test]
    fn any_difference_gives_another_key() {
        let scope = IdempotencyScope::new(["user-1"]);
        let base = derive_key("customer_create", &scope, &params("cus_1"));
        let others = [
            derive_key("customer_create", &scope, &params("cus_2")),
            derive_key("checkout_session", &scope, &params("cus_1")),
            derive_key(
                "customer_create",
                &IdempotencyScope::new(["user-2"]),
                &params("cus_1"),
            ),
            derive_key(
                "customer_create",
                &IdempotencyScope::none(),
                &params("cus_1"),
            ),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        assert_ne!(
            IdempotencyScope::new(["a:b", "c"]),
            IdempotencyScope::new(["a", "b:c"])
        );
    }

    #[test]
    fn unique_keys_never_repeat() {
        let a = unique_key("subscription_update");
        let b = unique_key("subscription_update");
        assert_ne!(a, b);
        assert!(a.starts_with("tierflow-subscription_update-once-"));
    }
}
