//! Stripe's list envelope and cursor pagination (`limit`, `starting_after`, `ending_before`).

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::form::Params;

/// `limit` (default 10, 1–100).
pub fn limit(p: &Params) -> ApiResult<usize> {
    match p.int("limit")? {
        None => Ok(10),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(
            format!("Invalid limit: must be between 1 and 100 (got {n})"),
            Some("limit"),
        )),
    }
}

/// One page of `items` (already in list order, newest first) as a list envelope.
pub fn page(items: Vec<Value>, p: &Params, url: &str) -> ApiResult<Value> {
    let limit = limit(p)?;
    let position = |key: &str| -> ApiResult<Option<usize>> {
        match p.non_empty(key) {
            None => Ok(None),
            Some(id) => items
                .iter()
                .position(|v| v["id"] == id.as_str())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid_code(
                        "resource_missing",
                        format!("No such object: '{id}'"),
                        Some(key),
                    )
                }),
        }
    };
    let (data, has_more) = if let Some(i) = position("starting_after")? {
        let rest: Vec<Value> = items.into_iter().skip(i + 1).collect();
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).collect::<Vec<_>>(), more)
    } else if let Some(i) = position("ending_before")? {
        let before: Vec<Value> = items.into_iter().take(i).collect();
        let skip = before.len().saturating_sub(limit);
        (before.into_iter().skip(skip).collect(), skip > 0)
    } else {
        let more = items.len() > limit;
        (items.into_iter().take(limit).collect(), more)
    };
    Ok(json!({
        "object": "list",
        "data": data,
        "has_more": has_more,
        "url": url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::decode;

    fn items(n: usize) -> Vec<Value> {
        (0..n)
            .rev()
            .map(|i| json!({"id": format!("x_{i}")}))
            .collect()
    }

    fn ids(v: &Value) -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn pages_forward_and_backward() {
        let p = Params::new(decode("limit=3").unwrap());
        let first = page(items(8), &p, "/v1/x").unwrap();
        assert_eq!(ids(&first), ["x_7", "x_6", "x_5"]);
        assert_eq!(first["has_more"], true);
        let p = Params::new(decode("limit=3&starting_after=x_2").unwrap());
        let last = page(items(8), &p, "/v1/x").unwrap();
        assert_eq!(ids(&last), ["x_1", "x_0"]);
        assert_eq!(last["has_more"], false);
        let p = Params::new(decode("limit=2&ending_before=x_4").unwrap());
        let back = page(items(8), &p, "/v1/x").unwrap();
        assert_eq!(ids(&back), ["x_6", "x_5"]);
        assert_eq!(back["has_more"], true);
        let p = Params::new(decode("limit=101").unwrap());
        assert_eq!(page(items(1), &p, "/v1/x").unwrap_err().status, 400);
    }
}
