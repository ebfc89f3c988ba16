//! Stripe-style form parameters: `a[b][0][c]=v` and `expand[]=x` decoded into a nested tree.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Decodes an `application/x-www-form-urlencoded` string into a nested JSON tree.
///
/// Leaves are strings; `key[]` appends to an array; objects whose keys are all indices
/// (`items[0]`, `items[1]`) become arrays ordered by index.
pub fn decode(input: &str) -> Result<Value, ApiError> {
    let mut root = Value::Object(Map::new());
    for pair in input.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(raw_key);
        let value = percent_decode(raw_value);
        let segments = split_key(&key)
            .ok_or_else(|| ApiError::invalid(format!("Invalid parameter name: {key}"), None))?;
        insert(&mut root, &segments, value, &key)?;
    }
    Ok(normalize(root))
}

/// Percent-encodes pairs as a form body (`+` for spaces is not used; `%20` is).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes one component, keeping only RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `a[b][]` → `["a", "b", ""]`; `None` when brackets are unbalanced.
fn split_key(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut segments = vec![head.to_string()];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return None;
        }
        let close = rest.find(']')?;
        segments.push(rest[1..close].to_string());
        rest = &rest[close + 1..];
    }
    Some(segments)
}

fn insert(node: &mut Value, segments: &[String], value: String, key: &str) -> Result<(), ApiError> {
    let conflict = || ApiError::invalid(format!("Invalid parameter structure: {key}"), Some(key));
    let (first, rest) = segments.split_first().ok_or_else(conflict)?;
    if first.is_empty() {
        // `key[]`: append to an array.
        let arr = match node {
            Value::Array(a) => a,
            Value::Object(m) if m.is_empty() => {
                *node = Value::Array(Vec::new());
                node.as_array_mut().ok_or_else(conflict)?
            }
            _ => return Err(conflict()),
        };
        if rest.is_empty() {
            arr.push(Value::String(value));
        } else {
            let mut child = Value::Object(Map::new());
            insert(&mut child, rest, value, key)?;
            arr.push(child);
        }
        return Ok(());
    }
    let map = node.as_object_mut().ok_or_else(conflict)?;
    if rest.is_empty() {
        map.insert(first.clone(), Value::String(value));
        return Ok(());
    }
    let child = map
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if child.is_string() {
        // `metadata=` followed by `metadata[k]=v`: the nested form wins.
        *child = Value::Object(Map::new());
    }
    insert(child, rest, value, key)
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let all_indices = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indices {
                let mut entries: Vec<(usize, Value)> = map
                    .into_iter()
                    .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, normalize(v))))
                    .collect();
                entries.sort_by_key(|(i, _)| *i);
                Value::Array(entries.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Typed access to decoded request parameters, with Stripe's validation errors.
#[derive(Debug, Clone, Default)]
pub struct Params {
    root: Map<String, Value>,
}

impl Params {
    /// Wraps a decoded tree; anything but an object becomes empty params.
    pub fn new(value: Value) -> Self {
        match value {
            Value::Object(root) => Params { root },
            _ => Params::default(),
        }
    }

    /// Merges `other` into `self`; keys already present win.
    pub fn merge(&mut self, other: Params) {
        for (k, v) in other.root {
            self.root.entry(k).or_insert(v);
        }
    }

    /// The raw value of a parameter.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.root.get(key)
    }

    /// Whether the parameter was sent at all.
    pub fn has(&self, key: &str) -> bool {
        self.root.contains_key(key)
    }

    /// The parameter as a string (numbers and booleans from JSON bodies are stringified).
    pub fn str(&self, key: &str) -> Option<String> {
        self.root.get(key).and_then(scalar_string)
    }

    /// A non-empty string parameter, or `None`.
    pub fn non_empty(&self, key: &str) -> Option<String> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// A required non-empty string parameter.
    pub fn required(&self, key: &str) -> Result<String, ApiError> {
        self.non_empty(key)
            .ok_or_else(|| ApiError::missing_param(key))
    }

    /// An integer parameter; a malformed value is a 400 like Stripe's `Invalid integer`.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("Invalid integer: {s}"), Some(key))),
        }
    }

    /// A decimal parameter (e.g. a drop rate).
    pub fn float(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("Invalid decimal: {s}"), Some(key))),
        }
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.str(key).as_deref() {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::invalid(
                format!("Invalid boolean: {other}"),
                Some(key),
            )),
        }
    }

    /// A list parameter (`expand[]=a&expand[]=b`); a single value counts as a list of one.
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.root.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_string).collect(),
            Some(v) => scalar_string(v).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// A nested hash parameter (`subscription_data[...]`), empty when absent.
    pub fn sub(&self, key: &str) -> Params {
        match self.root.get(key) {
            Some(Value::Object(m)) => Params { root: m.clone() },
            _ => Params::default(),
        }
    }

    /// An array-of-hashes parameter (`items[0][price]`).
    pub fn array(&self, key: &str) -> Vec<Params> {
        match self.root.get(key) {
            Some(Value::Array(items)) => items.iter().cloned().map(Params::new).collect(),
            Some(Value::Object(m)) => vec![Params { root: m.clone() }],
            _ => Vec::new(),
        }
    }

    /// Metadata changes: `Some(map)` where each value is `Some(v)` to set or `None` to unset.
    /// `metadata=` (empty) clears everything, signalled by `Some` of an empty vec plus `clear`.
    pub fn metadata(&self, key: &str) -> Result<Option<MetadataUpdate>, ApiError> {
        match self.root.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(MetadataUpdate {
                clear: true,
                changes: Vec::new(),
            })),
            Some(Value::Object(m)) => {
                let mut changes = Vec::new();
                for (k, v) in m {
                    let v = scalar_string(v).ok_or_else(|| {
                        ApiError::invalid(
                            "Metadata values must be strings.".to_string(),
                            Some(&format!("{key}[{k}]")),
                        )
                    })?;
                    if v.len() > 500 {
                        return Err(ApiError::invalid(
                            "Metadata values can have up to 500 characters.".to_string(),
                            Some(&format!("{key}[{k}]")),
                        ));
                    }
                    changes.push((k.clone(), if v.is_empty() { None } else { Some(v) }));
                }
                Ok(Some(MetadataUpdate {
                    clear: false,
                    changes,
                }))
            }
            Some(_) => Err(ApiError::invalid("Invalid hash".to_string(), Some(key))),
        }
    }

    /// Rejects top-level parameters the endpoint does not know, as Stripe does.
    pub fn allow(&self, known: &[&str]) -> Result<(), ApiError> {
        for key in self.root.keys() {
            if !known.contains(&key.as_str()) && key != "expand" {
                return Err(ApiError::unknown_param(key));
            }
        }
        Ok(())
    }

    /// Canonical text of the parameters, used to compare idempotent requests.
    pub fn canonical(&self) -> String {
        Value::Object(self.root.clone()).to_string()
    }
}

/// A requested change to a metadata hash.
#[derive(Debug, Clone)]
pub struct MetadataUpdate {
    /// `metadata=`: drop every key first.
    pub clear: bool,
    /// Keys to set (`Some`) or unset (`None`, sent as an empty string).
    pub changes: Vec<(String, Option<String>)>,
}

impl MetadataUpdate {
    /// Applies the change to a stored metadata map.
    pub fn apply(&self, target: &mut Map<String, Value>) {
        if self.clear {
            target.clear();
        }
        for (k, v) in &self.changes {
            match v {
                Some(v) => {
                    target.insert(k.clone(), Value::String(v.clone()));
                }
                None => {
                    target.remove(k);
                }
            }
        }
    }

    /// A fresh metadata map from this change.
    pub fn into_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.apply(&mut m);
        m
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_nested_and_indexed_keys() {
        let v = decode(
            "items[0][id]=si_1&items[0][price]=price_2&metadata[user_id]=u%201&expand[]=a&expand[]=b.c&email=a%40b.co",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "items": [{"id": "si_1", "price": "price_2"}],
                "metadata": {"user_id": "u 1"},
                "expand": ["a", "b.c"],
                "email": "a@b.co"
            })
        );
    }

    #[test]
    fn orders_indices_numerically() {
        let v = decode("p[10][x]=b&p[2][x]=a&s[items][0][price]=p").unwrap();
        assert_eq!(v["p"], json!([{"x": "a"}, {"x": "b"}]));
        assert_eq!(v["s"]["items"][0]["price"], "p");
    }

    #[test]
    fn plus_is_space_and_bad_percent_is_literal() {
        let v = decode("q=email%3A%27a+b%27&r=100%").unwrap();
        assert_eq!(v["q"], "email:'a b'");
        assert_eq!(v["r"], "100%");
    }

    #[test]
    fn encode_round_trips() {
        let body = encode(&[("metadata[user id]", "a&b=c"), ("expand[]", "x")]);
        let v = decode(&body).unwrap();
        assert_eq!(v["metadata"]["user id"], "a&b=c");
        assert_eq!(v["expand"], json!(["x"]));
    }

    #[test]
    fn metadata_empty_value_unsets() {
        let p = Params::new(decode("metadata[a]=1&metadata[b]=").unwrap());
        let m = p.metadata("metadata").unwrap().unwrap();
        let mut target = Map::new();
        target.insert("b".into(), json!("old"));
        m.apply(&mut target);
        assert_eq!(Value::Object(target), json!({"a": "1"}));
    }

    #[test]
    fn invalid_integer_is_a_400() {
        let p = Params::new(decode("amount=12x").unwrap());
        let err = p.int("amount").unwrap_err();
        assert_eq!(err.status, 400);
    }
}
