//! `expand[]`: replaces id strings with the objects they name, along dotted paths.

use serde_json::Value;

use crate::store::Store;

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
            if let Value::String(id) = field {
                if let Some(obj) = store.render(id) {
                    *field = obj;
                }
            }
            expand_path(store, field, rest);
        }
        _ => {}
    }
}
