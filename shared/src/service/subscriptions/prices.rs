//! The catalog's Stripe price ids, cached per container.

/// Stripe price ids by lookup key, resolved once per container: a click then needs no
/// `GET /v1/prices`. An id Stripe refuses is forgotten and looked up again (see
/// [`SubscriptionService::with_price`]), so a `catalog-sync` that replaced a price never
/// leaves a container on the old one.
#[derive(Debug, Default)]
pub struct PriceIds(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl PriceIds {
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub(super) fn get(&self, lookup_key: &str) -> Option<String> {
        self.lock().get(lookup_key).cloned()
    }

    pub(super) fn remember(&self, lookup_key: &str, price_id: &str) {
        self.lock()
            .insert(lookup_key.to_owned(), price_id.to_owned());
    }

    /// Drops every lookup key that resolved to `price_id`.
    pub(super) fn forget(&self, price_id: &str) {
        self.lock().retain(|_, id| id != price_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        // The map holds plain strings: a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
