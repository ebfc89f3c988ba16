//! `expand[]`: replaces id strings with the objects they name, along dotted paths, and keeps
//! includable fields (rendered by the objects) only where `expand[]` asked for them.

use serde_json::Value;

use crate::store::Store;

/// Fields basil returns only when expanded (the API reference: "This field is not included by
/// default. To include it in the response, expand the ... field."), by object word. Webhook
/// events never carry them.
const INCLUDABLE: [(&str, &str); 5] = [
    ("invoice", "payments"),
    ("charge", "refunds"),
    ("coupon", "applies_to"),
    ("coupon", "currency_options"),
    ("customer", "tax_ids"),
];

/// Drops every includable field whose dotted path (`payments`, `data.payments`,
/// `latest_invoice.payments`) is not among `expanded`.
pub fn drop_unexpanded_includables(value: &mut Value, expanded: &[String]) {
    drop_includables_at(value, "", expanded);
}

fn drop_includables_at(value: &mut Value, path: &str, expanded: &[String]) {
    match value {
        Value::Array(items) => {
            for item in items {
                drop_includables_at(item, path, expanded);
            }
        }
        Value::Object(map) => {
            let object = map
                .get("object")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            for (word, field) in INCLUDABLE {
                let at = join(path, field);
                if word == object && !expanded.contains(&at) {
                    map.remove(field);
                }
            }
            for (key, child) in map.iter_mut() {
                drop_includables_at(child, &join(path, key), expanded);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Expands every path (`latest_invoice.payment_intent`, `data.product`) in `value`.
pub fn expand(store: &Store, value: &mut Value, paths: &[String]) {
    for path in paths {
        let segments: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).take(4).collect();
        expand_path(store, value, &segments);
    }
}

fn expand_path(store: &Store, value: &mut Value, path: &[&str]) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    match value {
        Value::Array(items) => {
            for item in items {
                expand_path(store, item, path);
            }
        }
        Value::Object(map) => {
            let Some(field) = map.get_mut(*head) else {
                return;
            };
            match field {
                Value::String(id) => {
                    if let Some(obj) = store.render(id) {
                        *field = obj;
                    }
                }
                // A list of ids (`discounts`): each expands.
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Some(obj) = item.as_str().and_then(|id| store.render(id)) {
                            *item = obj;
                        }
                    }
                }
                _ => {}
            }
            expand_path(store, field, rest);
        }
        _ => {}
    }
}
