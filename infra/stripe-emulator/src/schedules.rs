//! Subscription schedules: phases that change a subscription's prices at set times.

use serde_json::{Map, Value};

use crate::billing;
use crate::calendar::add_interval;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::objects::billing::{Phase, Schedule};
use crate::store::Store;

fn render(store: &Store, id: &str) -> Value {
    store.render(id).unwrap_or(Value::Null)
}

/// `POST /v1/subscription_schedules` with `from_subscription`.
pub fn create_from_subscription(
    store: &mut Store,
    sub_id: &str,
    metadata: Map<String, Value>,
) -> ApiResult<String> {
    let sub = store
        .subscriptions
        .get(sub_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("subscription", sub_id, "from_subscription"))?;
    if sub.status == "canceled" {
        return Err(ApiError::invalid(
            "You cannot create a subscription schedule from a canceled subscription.".into(),
            Some("from_subscription"),
        ));
    }
    if let Some(existing) = &sub.schedule {
        return Err(ApiError::invalid(
            format!("You cannot migrate a subscription that is already attached to a schedule: `{existing}`."),
            Some("from_subscription"),
        ));
    }
    let id = store.new_id("sub_sched_");
    let schedule = Schedule {
        id: id.clone(),
        created: store.now(),
        customer: sub.customer.clone(),
        subscription: Some(sub.id.clone()),
        status: "active".into(),
        phases: vec![Phase {
            start_date: sub.current_period_start,
            end_date: sub.current_period_end,
            items: sub
                .items
                .iter()
                .map(|i| (i.price.clone(), i.quantity))
                .collect(),
            proration_behavior: "create_prorations".into(),
            metadata: Map::new(),
        }],
        current_phase: 0,
        end_behavior: "release".into(),
        released_at: None,
        released_subscription: None,
        canceled_at: None,
        completed_at: None,
        metadata,
    };
    store.schedules.insert(id.clone(), schedule);
    let before = render(store, sub_id);
    if let Some(s) = store.subscriptions.get_mut(sub_id) {
        s.schedule = Some(id.clone());
    }
    let json = render(store, &id);
    store.emit("subscription_schedule.created", json, None);
    let after = render(store, sub_id);
    store.emit_updated("customer.subscription.updated", &before, after);
    Ok(id)
}

fn timestamp_param(p: &Params, key: &str, now: i64, param: &str) -> ApiResult<Option<i64>> {
    match p.str(key).as_deref() {
        None | Some("") => Ok(None),
        Some("now") => Ok(Some(now)),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("Invalid timestamp: {s}"), Some(param))),
    }
}

/// `POST /v1/subscription_schedules/{id}`: replaces phases, `end_behavior`, metadata.
pub fn update(store: &mut Store, id: &str, p: &Params) -> ApiResult<()> {
    let now = store.now();
    let mut sched = store
        .schedules
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription_schedule", id))?;
    if !matches!(sched.status.as_str(), "active" | "not_started") {
        return Err(ApiError::invalid(
            format!("You cannot update a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.", sched.status),
            None,
        ));
    }
    if let Some(eb) = p.non_empty("end_behavior") {
        if !matches!(eb.as_str(), "release" | "cancel") {
            return Err(ApiError::invalid(
                format!("Invalid end_behavior: {eb}"),
                Some("end_behavior"),
            ));
        }
        sched.end_behavior = eb;
    }
    if let Some(m) = p.metadata("metadata")? {
        m.apply(&mut sched.metadata);
    }
    let raw = p.array("phases");
    if !raw.is_empty() {
        sched.phases = parse_phases(store, &sched, &raw, now)?;
        sched.current_phase = sched
            .phases
            .iter()
            .position(|ph| ph.start_date <= now && now < ph.end_date)
            .unwrap_or(0);
    }
    let current_items = sched
        .phases
        .get(sched.current_phase)
        .map(|ph| ph.items.clone());
    let sub_id = sched.subscription.clone();
    store.schedules.insert(id.to_string(), sched);
    if let (Some(items), Some(sub_id)) = (current_items, sub_id) {
        billing::switch_items(store, &sub_id, &items, false, now)?;
    }
    let json = render(store, id);
    store.emit("subscription_schedule.updated", json, None);
    Ok(())
}

fn parse_phases(
    store: &Store,
    sched: &Schedule,
    raw: &[Params],
    now: i64,
) -> ApiResult<Vec<Phase>> {
    struct Draft {
        start: Option<i64>,
        end: Option<i64>,
        iterations: Option<i64>,
        items: Vec<(String, i64)>,
        proration_behavior: String,
        metadata: Map<String, Value>,
    }
    let mut drafts = Vec::new();
    for (n, ph) in raw.iter().enumerate() {
        let param = format!("phases[{n}]");
        let mut items = Vec::new();
        for (k, it) in ph.array("items").iter().enumerate() {
            let price = it
                .non_empty("price")
                .ok_or_else(|| ApiError::missing_param(&format!("{param}[items][{k}][price]")))?;
            let qty = it.int("quantity")?.unwrap_or(1);
            items.push((price, qty));
        }
        billing::validate_items(store, &items, &format!("{param}[items]"))?;
        let pb = ph
            .non_empty("proration_behavior")
            .unwrap_or_else(|| "create_prorations".into());
        billing::ProrationBehavior::parse(Some(&pb), &format!("{param}[proration_behavior]"))?;
        drafts.push(Draft {
            start: timestamp_param(ph, "start_date", now, &format!("{param}[start_date]"))?,
            end: timestamp_param(ph, "end_date", now, &format!("{param}[end_date]"))?,
            iterations: ph.int("iterations")?,
            items,
            proration_behavior: pb,
            metadata: ph
                .metadata("metadata")?
                .map(|m| m.into_map())
                .unwrap_or_default(),
        });
    }
    let mut phases: Vec<Phase> = Vec::new();
    for n in 0..drafts.len() {
        let d = &drafts[n];
        let start = match (d.start, phases.last()) {
            (Some(s), _) => s,
            (None, Some(prev)) => prev.end_date,
            (None, None) => sched.phases.first().map(|p| p.start_date).unwrap_or(now),
        };
        let recurring = d
            .items
            .first()
            .and_then(|(p, _)| store.prices.get(p))
            .and_then(|p| p.recurring);
        let by_iterations = |count: i64| {
            recurring
                .map(|r| add_interval(start, r.interval, r.interval_count * count))
                .unwrap_or(start)
        };
        let end = match (
            d.end,
            d.iterations,
            drafts.get(n + 1).and_then(|next| next.start),
        ) {
            (Some(e), _, _) => e,
            (None, Some(it), _) => by_iterations(it.max(1)),
            (None, None, Some(next_start)) => next_start,
            (None, None, None) if n + 1 == drafts.len() => by_iterations(1),
            _ => {
                return Err(ApiError::invalid(
                    format!("Phase {n} needs an end_date or iterations."),
                    Some(&format!("phases[{n}][end_date]")),
                ))
            }
        };
        if end <= start {
            return Err(ApiError::invalid(
                format!("The end_date of phase {n} must be after its start_date."),
                Some(&format!("phases[{n}][end_date]")),
            ));
        }
        if let Some(prev) = phases.last() {
            if prev.end_date != start {
                return Err(ApiError::invalid(
                    format!("Phase {n} must start when phase {} ends.", n - 1),
                    Some(&format!("phases[{n}][start_date]")),
                ));
            }
        }
        phases.push(Phase {
            start_date: start,
            end_date: end,
            items: d.items.clone(),
            proration_behavior: d.proration_behavior.clone(),
            metadata: d.metadata.clone(),
        });
    }
    Ok(phases)
}

/// `POST /v1/subscription_schedules/{id}/release`: the subscription continues on its own.
pub fn release(store: &mut Store, id: &str) -> ApiResult<()> {
    let now = store.now();
    let sched = store
        .schedules
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription_schedule", id))?;
    if !matches!(sched.status.as_str(), "active" | "not_started") {
        return Err(ApiError::invalid(
            format!("You cannot release a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.", sched.status),
            None,
        ));
    }
    detach(store, &sched, now, "released");
    Ok(())
}

fn detach(store: &mut Store, sched: &Schedule, at: i64, status: &str) {
    let before = sched.subscription.as_deref().map(|s| render(store, s));
    if let Some(s) = store.schedules.get_mut(&sched.id) {
        s.status = status.into();
        if status == "released" {
            s.released_at = Some(at);
            s.released_subscription = sched.subscription.clone();
            s.subscription = None;
        } else {
            s.completed_at = Some(at);
        }
    }
    if let Some(sub_id) = &sched.subscription {
        if let Some(sub) = store.subscriptions.get_mut(sub_id) {
            sub.schedule = None;
        }
    }
    let json = render(store, &sched.id);
    let kind = if status == "released" {
        "subscription_schedule.released"
    } else {
        "subscription_schedule.completed"
    };
    store.emit(kind, json, None);
    if let (Some(before), Some(sub_id)) = (before, &sched.subscription) {
        let after = render(store, sub_id);
        store.emit_updated("customer.subscription.updated", &before, after);
    }
}

/// `POST /v1/subscription_schedules/{id}/cancel`: cancels the schedule and its subscription.
pub fn cancel(store: &mut Store, id: &str, prorate: bool, invoice_now: bool) -> ApiResult<()> {
    let now = store.now();
    let sched = store
        .schedules
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("subscription_schedule", id))?;
    if !matches!(sched.status.as_str(), "active" | "not_started") {
        return Err(ApiError::invalid(
            format!("You cannot cancel a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.", sched.status),
            None,
        ));
    }
    if let Some(s) = store.schedules.get_mut(id) {
        s.status = "canceled".into();
        s.canceled_at = Some(now);
    }
    if let Some(sub_id) = &sched.subscription {
        if let Some(sub) = store.subscriptions.get_mut(sub_id) {
            sub.schedule = None;
        }
        billing::cancel_now(
            store,
            sub_id,
            prorate,
            invoice_now,
            "cancellation_requested",
        )?;
    }
    let json = render(store, id);
    store.emit("subscription_schedule.canceled", json, None);
    Ok(())
}

/// The clock reached the end of the current phase: move to the next one or end the schedule.
pub fn end_phase(store: &mut Store, id: &str, at: i64) -> ApiResult<()> {
    let Some(sched) = store.schedules.get(id).cloned() else {
        return Ok(());
    };
    let next = sched.current_phase + 1;
    match sched.phases.get(next) {
        Some(phase) => {
            if let Some(s) = store.schedules.get_mut(id) {
                s.current_phase = next;
            }
            if let Some(sub_id) = &sched.subscription {
                let prorate = phase.proration_behavior != "none";
                billing::switch_items(store, sub_id, &phase.items, prorate, at)?;
            }
            let json = render(store, id);
            store.emit("subscription_schedule.updated", json, None);
        }
        None if sched.end_behavior == "cancel" => {
            detach(store, &sched, at, "completed");
            if let Some(sub_id) = &sched.subscription {
                billing::end_subscription_at(store, sub_id, at);
            }
        }
        None => detach(store, &sched, at, "released"),
    }
    Ok(())
}
