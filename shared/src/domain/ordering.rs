//! The per-object version guard: Stripe does not order deliveries and `created` has one-second
//! resolution, so an event is applied only if it is newer than what was applied for its object.
//! Same-second events are ordered by their own state (`previous_attributes.status`); when even
//! that cannot decide, the caller fetches the object from Stripe.

use super::profile::AppliedVersion;

/// What an incoming event's object says about its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingVersion<'a> {
    /// The Stripe object the event is about (`sub_…`, `in_…`).
    pub object_id: &'a str,
    /// The event (`evt_…`), recorded as the applied version.
    pub event_id: &'a str,
    /// The event's `created`, Unix seconds in Stripe's clock.
    pub created: i64,
    /// The object's status as the event carries it.
    pub status: &'a str,
    /// `previous_attributes.status`, when the event changed the status.
    pub previous_status: Option<&'a str>,
}

/// The guard's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newer than the applied state: apply it.
    Newer,
    /// Older than (or the same as) the applied state: never overwrite.
    Stale,
    /// Same second and the states cannot order themselves: ask Stripe for the current object.
    Undecidable,
}

/// Decides whether `incoming` may overwrite `applied`.
pub fn order(applied: Option<&AppliedVersion>, incoming: &IncomingVersion<'_>) -> Order {
    let Some(applied) = applied.filter(|a| a.object_id == incoming.object_id) else {
        return Order::Newer;
    };
    if applied.event_id == incoming.event_id {
        return Order::Stale;
    }
    if incoming.created != applied.created {
        return if incoming.created > applied.created {
            Order::Newer
        } else {
            Order::Stale
        };
    }
    // Same second. An event whose previous status is the applied status follows it; the
    // applied event may equally follow this one. Both at once is a cycle (active → past_due →
    // active) that the statuses alone cannot order.
    let follows = incoming.status != applied.status
        && incoming.previous_status == Some(applied.status.as_str());
    let preceded = applied.status != incoming.status
        && applied.previous_status.as_deref() == Some(incoming.status);
    match (follows, preceded) {
        (true, false) => return Order::Newer,
        (false, true) => return Order::Stale,
        (true, true) => return Order::Undecidable,
        (false, false) => {}
    }
    // A terminal state is never followed by another state of the same subscription.
    match (is_terminal(&applied.status), is_terminal(incoming.status)) {
        (true, false) => Order::Stale,
        (false, true) => Order::Newer,
        _ => Order::Undecidable,
    }
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "canceled" | "incomplete_expired")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(created: i64, status: &str, previous: Option<&str>) -> AppliedVersion {
        AppliedVersion {
            object_id: "sub_1".into(),
            created,
            event_id: "evt_applied".into(),
            status: status.into(),
            previous_status: previous.map(str::to_owned),
        }
    }

    fn incoming<'a>(
        created: i64,
        status: &'a str,
        previous: Option<&'a str>,
    ) -> IncomingVersion<'a> {
        IncomingVersion {
            object_id: "sub_1",
            event_id: "evt_new",
            created,
            status,
            previous_status: previous,
        }
    }

    #[test]
    fn guard_table() {
        let cases: [(&str, Option<AppliedVersion>, IncomingVersion<'_>, Order); 12] = [
            (
                "nothing applied yet",
                None,
                incoming(10, "active", None),
                Order::Newer,
            ),
            (
                "newer second",
                Some(applied(10, "active", None)),
                incoming(11, "past_due", Some("active")),
                Order::Newer,
            ),
            (
                "older second",
                Some(applied(11, "past_due", Some("active"))),
                incoming(10, "active", None),
                Order::Stale,
            ),
            (
                "same second, follows applied",
                Some(applied(10, "incomplete", None)),
                incoming(10, "active", Some("incomplete")),
                Order::Newer,
            ),
            (
                "same second, applied follows it",
                Some(applied(10, "active", Some("incomplete"))),
                incoming(10, "incomplete", None),
                Order::Stale,
            ),
            (
                "same second, cancellation wins",
                Some(applied(10, "active", None)),
                incoming(10, "canceled", None),
                Order::Newer,
            ),
            (
                "same second, nothing after cancellation",
                Some(applied(10, "canceled", None)),
                incoming(10, "active", None),
                Order::Stale,
            ),
            (
                "same second, a cycle",
                Some(applied(10, "active", Some("past_due"))),
                incoming(10, "past_due", Some("active")),
                Order::Undecidable,
            ),
            (
                "same second, same status",
                Some(applied(10, "active", None)),
                incoming(10, "active", None),
                Order::Undecidable,
            ),
            (
                "same second, unrelated statuses",
                Some(applied(10, "past_due", None)),
                incoming(10, "active", None),
                Order::Undecidable,
            ),
            (
                "the same event again",
                Some(AppliedVersion {
                    event_id: "evt_new".into(),
                    ..applied(10, "active", None)
                }),
                incoming(10, "active", None),
                Order::Stale,
            ),
            (
                "another subscription",
                Some(AppliedVersion {
                    object_id: "sub_0".into(),
                    ..applied(99, "canceled", None)
                }),
                incoming(10, "active", None),
                Order::Newer,
            ),
        ];
        for (name, a, i, want) in cases {
            assert_eq!(order(a.as_ref(), &i), want, "{name}");
        }
    }
}
