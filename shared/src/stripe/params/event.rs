//! Listing events and registering a webhook endpoint.

use crate::stripe::form::Form;
use crate::stripe::STRIPE_API_VERSION;

/// `GET /v1/events`: which events to fetch, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events created strictly after this instant (`created[gt]`).
    pub created_after: Option<i64>,
    /// Only these types (`types[]`, at most 20); empty means all.
    pub types: Vec<String>,
    /// Events per page (1..=100).
    pub page_size: u32,
    /// Stop after this many events, so a long outage cannot exhaust the invocation.
    pub max_events: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            created_after: None,
            types: Vec::new(),
            page_size: 100,
            max_events: 10_000,
        }
    }
}

impl EventQuery {
    /// The query string of one page.
    pub fn form(&self, starting_after: Option<&str>) -> Form {
        Form::new()
            .field("limit", self.page_size.clamp(1, 100))
            .opt("created[gt]", self.created_after)
            .list("types", &self.types)
            .opt("starting_after", starting_after)
    }
}

/// `POST /v1/webhook_endpoints`, pinned to Tierflow's API version so deliveries have the
/// shapes the client types expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEndpoint {
    /// Where Stripe delivers the events.
    pub url: String,
    /// The event types to deliver.
    pub enabled_events: Vec<String>,
    /// Shown in the Dashboard.
    pub description: Option<String>,
    /// The version deliveries are rendered in.
    pub api_version: String,
}

impl NewWebhookEndpoint {
    /// An endpoint at `url` for `events`, on [`STRIPE_API_VERSION`].
    pub fn new(url: impl Into<String>, events: &[&str]) -> Self {
        Self {
            url: url.into(),
            enabled_events: events.iter().map(|e| (*e).to_owned()).collect(),
            description: None,
            api_version: STRIPE_API_VERSION.to_owned(),
        }
    }

    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("url", &self.url)
            .list("enabled_events", &self.enabled_events)
            .opt("description", self.description.as_deref())
            .field("api_version", &self.api_version)
    }
}
