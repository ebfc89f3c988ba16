//! Stripe's error envelope: `{"error": {"type", "code", "decline_code", "message", "param"}}`.

use serde_json::{json, Map, Value};

/// An API error rendered exactly as Stripe renders it, with Stripe's HTTP status.
/// Boxed so that `Result<_, ApiError>` stays small; fields are reached through `Deref`.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorDetails>);

/// The members of an [`ApiError`].
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    /// HTTP status code.
    pub status: u16,
    /// `invalid_request_error`, `card_error`, `idempotency_error` or `api_error`.
    pub kind: &'static str,
    /// Stripe's machine-readable error code.
    pub code: Option<String>,
    /// The issuer's reason for a card decline.
    pub decline_code: Option<String>,
    /// Human-readable message.
    pub message: String,
    /// The parameter the error relates to.
    pub param: Option<String>,
    /// Extra members of the error object (`payment_intent`, `charge`, `payment_method`).
    pub extra: Map<String, Value>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: String) -> Self {
        ApiError(Box::new(ErrorDetails {
            status,
            kind,
            code: None,
            decline_code: None,
            message,
            param: None,
            extra: Map::new(),
        }))
    }

    /// 400 `invalid_request_error` about a parameter.
    pub fn invalid(message: String, param: Option<&str>) -> Self {
        let mut e = ApiError::new(400, "invalid_request_error", message);
        e.param = param.map(str::to_string);
        e
    }

    /// 400 with a specific Stripe error code.
    pub fn invalid_code(code: &str, message: String, param: Option<&str>) -> Self {
        let mut e = ApiError::invalid(message, param);
        e.code = Some(code.to_string());
        e
    }

    /// 400 `parameter_missing`.
    pub fn missing_param(param: &str) -> Self {
        ApiError::invalid_code(
            "parameter_missing",
            format!("Missing required param: {param}."),
            Some(param),
        )
    }

    /// 400 `parameter_unknown`.
    pub fn unknown_param(param: &str) -> Self {
        ApiError::invalid_code(
            "parameter_unknown",
            format!("Received unknown parameter: {param}"),
            Some(param),
        )
    }

    /// 404 `resource_missing` for an id given in the path.
    pub fn no_such(label: &str, id: &str) -> Self {
        let mut e = ApiError::new(
            404,
            "invalid_request_error",
            format!("No such {label}: '{id}'"),
        );
        e.code = Some("resource_missing".into());
        e.param = Some("id".into());
        e
    }

    /// 400 `resource_missing` for an id given as a parameter, as Stripe answers it.
    pub fn no_such_param(label: &str, id: &str, param: &str) -> Self {
        let mut e = ApiError::no_such(label, id);
        e.status = 400;
        e.param = Some(param.into());
        e
    }

    /// 402 `card_error`.
    pub fn card(code: &str, decline_code: Option<&str>, message: &str) -> Self {
        let mut e = ApiError::new(402, "card_error", message.to_string());
        e.code = Some(code.into());
        e.decline_code = decline_code.map(str::to_string);
        e
    }

    /// `idempotency_error` (400 for a parameter mismatch, 409 for a concurrent request).
    pub fn idempotency(status: u16, code: Option<&str>, message: String) -> Self {
        let mut e = ApiError::new(status, "idempotency_error", message);
        e.code = code.map(str::to_string);
        e
    }

    /// 401 for a missing or malformed API key.
    pub fn auth(message: String) -> Self {
        ApiError::new(401, "invalid_request_error", message)
    }

    /// 404 for a path the API does not have.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        ApiError::new(
            404,
            "invalid_request_error",
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            ),
        )
    }

    /// Adds an extra member to the error object.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// The `{"error": {...}}` body.
    pub fn body(&self) -> Value {
        let mut e = Map::new();
        if let Some(code) = &self.code {
            e.insert("code".into(), json!(code));
            e.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(dc) = &self.decline_code {
            e.insert("decline_code".into(), json!(dc));
        }
        e.insert("message".into(), json!(self.message));
        if let Some(p) = &self.param {
            e.insert("param".into(), json!(p));
        }
        for (k, v) in &self.extra {
            e.insert(k.clone(), v.clone());
        }
        e.insert("type".into(), json!(self.kind));
        json!({ "error": Value::Object(e) })
    }
}

/// Result type of every API operation.
pub type ApiResult<T> = Result<T, ApiError>;
