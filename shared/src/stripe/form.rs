//! Stripe's request encoding: `application/x-www-form-urlencoded` with nested and indexed keys
//! (`items[0][price]`, `metadata[user_id]`, `expand[]`). Keys keep their brackets literal, as
//! Stripe's own SDKs send them; everything else is percent-encoded.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A scalar that Stripe accepts as a form value.
pub trait FormValue {
    /// The value as Stripe expects it on the wire (before percent-encoding).
    fn to_form_value(&self) -> String;
}

impl FormValue for str {
    fn to_form_value(&self) -> String {
        self.to_owned()
    }
}

impl FormValue for String {
    fn to_form_value(&self) -> String {
        self.clone()
    }
}

impl FormValue for bool {
    fn to_form_value(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

macro_rules! integer_form_value {
    ($($t:ty),*) => {$(
        impl FormValue for $t {
            fn to_form_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
integer_form_value!(i32, i64, u32, u64, usize);

impl<T: FormValue + ?Sized> FormValue for &T {
    fn to_form_value(&self) -> String {
        (**self).to_form_value()
    }
}

/// An ordered list of `key=value` pairs, built fluently and encoded once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`; the key may already be nested (`items[0][price]`).
    pub fn field(mut self, key: impl Into<String>, value: impl FormValue) -> Self {
        self.push(key, value);
        self
    }

    /// Adds `key=value` only when there is a value.
    pub fn opt<V: FormValue>(mut self, key: impl Into<String>, value: Option<V>) -> Self {
        if let Some(v) = value {
            self.push(key, v);
        }
        self
    }

    /// Adds `prefix[k]=v` for every entry, in key order (`metadata`, `subscription_data[metadata]`).
    pub fn map(mut self, prefix: &str, entries: &BTreeMap<String, String>) -> Self {
        for (k, v) in entries {
            self.push(format!("{prefix}[{k}]"), v);
        }
        self
    }

    /// Adds `key[]=v` for every value (`expand[]`, `lookup_keys[]`, `types[]`).
    pub fn list<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: FormValue,
    {
        for v in values {
            self.push(format!("{key}[]"), v);
        }
        self
    }

    /// Adds every pair of another form under `prefix`: `phases[0]` + `[items][0][price]`.
    pub fn nest(mut self, prefix: &str, inner: Form) -> Self {
        for (k, v) in inner.pairs {
            let key = match k.find('[') {
                Some(0) => format!("{prefix}{k}"),
                Some(i) => format!("{prefix}[{}]{}", &k[..i], &k[i..]),
                None => format!("{prefix}[{k}]"),
            };
            self.pairs.push((key, v));
        }
        self
    }

    fn push(&mut self, key: impl Into<String>, value: impl FormValue) {
        self.pairs.push((key.into(), value.to_form_value()));
    }

    /// The pairs in the order they were added.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The body (or query string) Stripe receives.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_into(&mut out, k, true);
            out.push('=');
            encode_into(&mut out, v, false);
        }
        out
    }

    /// The pairs sorted, so that the same parameters give the same idempotency key whatever
    /// order a caller added them in.
    pub fn canonical(&self) -> String {
        let mut sorted = self.pairs.clone();
        sorted.sort();
        Form { pairs: sorted }.encode()
    }
}

/// Percent-encodes per the WHATWG `application/x-www-form-urlencoded` serializer: alphanumerics
/// and `*-._` stay, space becomes `+`, every other byte is `%XX`. Brackets stay literal in keys.
fn encode_into(out: &mut String, raw: &str, is_key: bool) {
    for b in raw.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b'[' | b']' if is_key => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_shapes_in_stripes_api_reference() {
        let metadata = BTreeMap::from([
            ("user_id".to_owned(), "u-42".to_owned()),
            ("plan".to_owned(), "pro".to_owned()),
        ]);
        let cases: Vec<(Form, &str)> = vec![
            (Form::new().field("customer", "cus_123"), "customer=cus_123"),
            (
                Form::new()
                    .field("items[0][price]", "price_1")
                    .field("items[0][quantity]", 1u32),
                "items[0][price]=price_1&items[0][quantity]=1",
            ),
            (
                Form::new().map("metadata", &metadata),
                "metadata[plan]=pro&metadata[user_id]=u-42",
            ),
            (
                Form::new().list("expand", ["latest_invoice.payments"]),
                "expand[]=latest_invoice.payments",
            ),
            (
                Form::new().list("lookup_keys", ["a_monthly", "a_yearly"]),
                "lookup_keys[]=a_monthly&lookup_keys[]=a_yearly",
            ),
            (
                Form::new().field("subscription_details[items][0][price]", "price_2"),
                "subscription_details[items][0][price]=price_2",
            ),
            (
                Form::new()
                    .field("cancel_at_period_end", true)
                    .field("transfer_lookup_key", false),
                "cancel_at_period_end=true&transfer_lookup_key=false",
            ),
            (
                Form::new()
                    .field("amount", 4900i64)
                    .field("created[gt]", 1_700_000_000i64),
                "amount=4900&created[gt]=1700000000",
            ),
            (
                Form::new().field("description", "Pro plan & more: 100% (yes)"),
                "description=Pro+plan+%26+more%3A+100%25+%28yes%29",
            ),
            (
                Form::new().field("email", "jenny+test@example.com"),
                "email=jenny%2Btest%40example.com",
            ),
            (
                Form::new().field(
                    "success_url",
                    "https://app.example/ok?s={CHECKOUT_SESSION_ID}",
                ),
                "success_url=https%3A%2F%2Fapp.example%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D",
            ),
            (
                Form::new().field("query", "metadata['user_id']:'u1'"),
                "query=metadata%5B%27user_id%27%5D%3A%27u1%27",
            ),
            (Form::new().field("name", "Zürich"), "name=Z%C3%BCrich"),
            (Form::new().field("cancel_at", ""), "cancel_at="),
            (
                Form::new().opt("a", Some("x")).opt::<&str>("b", None),
                "a=x",
            ),
        ];
        for (form, want) in cases {
            assert_eq!(form.encode(), want);
        }
    }

    #[test]
    fn nests_a_form_under_an_indexed_prefix() {
        let phase = Form::new()
            .field("items[0][price]", "price_1")
            .field("end_date", 10i64)
            .field("proration_behavior", "none");
        let form = Form::new().nest("phases[0]", phase);
        assert_eq!(
            form.encode(),
            "phases[0][items][0][price]=price_1&phases[0][end_date]=10&phases[0][proration_behavior]=none"
        );
        let inner = Form::new().field("[x]", 1u32);
        assert_eq!(Form::new().nest("a", inner).encode(), "a[x]=1");
    }

    #[test]
    fn canonical_order_ignores_insertion_order() {
        let a = Form::new().field("b", "2").field("a", "1");
        let b = Form::new().field("a", "1").field("b", "2");
        assert_ne!(a.encode(), b.encode());
        assert_eq!(a.canonical(), b.canonical());
    }
}
