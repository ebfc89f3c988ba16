//! The HTTP edge: one error envelope, one way to build JSON responses, and body parsing that
//! turns anything a client can get wrong into a 4xx.

use lambda_http::{http::StatusCode, Body, Request, Response};
use serde::{de::DeserializeOwned, Serialize};

/// Largest JSON body an API route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An error a client can act on: status, stable machine code, human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// 4xx for input a client got wrong; 5xx only for failures of ours or of a dependency.
    pub status: StatusCode,
    /// Stable snake_case code, sent as `error.code`; clients branch on it.
    pub code: &'static str,
    /// Sent as `error.message`; safe to show, never an internal detail.
    pub message: String,
    /// Seconds a rate-limited caller should wait: sent as `Retry-After`.
    pub retry_after: Option<i64>,
}

impl ApiError {
    /// An error with any status; `retry_after` unset.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// 429 `rate_limited`, with the seconds until the caller may retry.
    pub fn rate_limited(message: impl Into<String>, retry_after: i64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }
    /// 400 with the given code, for input the client must change.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401 `unauthorized`: the request carries no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 404 with the given code (a subscription, a payment the caller does not have).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 409 with the given code: the request clashes with the current billing state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 503 `temporarily_unavailable`: a failure of ours or of a dependency; the detail goes to
    /// the log, not to the caller.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "billing is temporarily unavailable; retry shortly",
        )
    }
}

impl From<crate::domain::InvalidInput> for ApiError {
    fn from(e: crate::domain::InvalidInput) -> Self {
        ApiError::bad_request("invalid_request", e.0)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: EnvelopeBody<'a>,
}

#[derive(Serialize)]
struct EnvelopeBody<'a> {
    code: &'a str,
    message: &'a str,
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => with_json_headers(status, text),
        Err(e) => {
            tracing::error!(error = %e, "response did not serialise");
            error_response(&ApiError::unavailable())
        }
    }
}

/// The error envelope `{"error":{"code","message"}}` with the error's status.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let envelope = Envelope {
        error: EnvelopeBody {
            code: err.code,
            message: &err.message,
        },
    };
    let text = serde_json::to_string(&envelope)
        .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"error"}}"#.to_owned());
    let mut response = with_json_headers(err.status, text);
    if let Some(seconds) = err.retry_after {
        response
            .headers_mut()
            .insert("retry-after", lambda_http::http::HeaderValue::from(seconds));
    }
    response
}

/// What an HTTP handler returns to the runtime: always a response (errors are envelopes).
pub type Reply = Result<Response<Body>, lambda_http::Error>;

/// A route's outcome as its reply: 200 with the view, or the error envelope.
pub fn reply<T: Serialize>(outcome: Result<T, ApiError>) -> Reply {
    reply_with(outcome, |_| StatusCode::OK)
}

/// A route's outcome as its reply when the view decides its status (200 or 202).
pub fn reply_with<T: Serialize>(
    outcome: Result<T, ApiError>,
    status: impl FnOnce(&T) -> StatusCode,
) -> Reply {
    Ok(match outcome {
        Ok(view) => json_response(status(&view), &view),
        Err(err) => error_response(&err),
    })
}

/// What a webhook receiver answers a delivery it accepted: `{"received": true, "outcome": ...}`.
#[derive(Debug, Serialize)]
pub struct Receipt {
    /// Always true: the delivery was verified and recorded.
    pub received: bool,
    /// What became of it (`applied`, `duplicate`, `ignored`, ...).
    pub outcome: &'static str,
}

impl Receipt {
    /// A receipt for an accepted delivery with this outcome.
    pub fn of(outcome: &'static str) -> Self {
        Self {
            received: true,
            outcome,
        }
    }
}

/// 405 unless the request is a POST, as webhook senders deliver; `sender` names who sends.
pub fn require_post(req: &Request, sender: &str) -> Result<(), ApiError> {
    if req.method() == lambda_http::http::Method::POST {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{sender} delivers webhooks with POST"),
        ))
    }
}

/// A request header's value, when it is present and visible ASCII.
pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Maps a handler's outcome to a response: the happy path's status, or the error envelope.
pub fn respond<T: Serialize>(status: StatusCode, outcome: Result<T, ApiError>) -> Response<Body> {
    match outcome {
        Ok(body) => json_response(status, &body),
        Err(err) => error_response(&err),
    }
}

fn with_json_headers(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "cache-control",
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Parses a JSON request body into `T`, refusing wrong content types, oversized or malformed
/// bodies with a message that says what was wrong.
pub fn parse_json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if let Some(ct) = req.headers().get("content-type") {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request("invalid_body", format!("the JSON body is invalid: {e}"))
    };
    // Every body is an object: serde alone would also read a struct from an array of its fields.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the JSON body must be an object",
        ));
    }
    serde_json::from_value(value).map_err(invalid)
}

/// A query-string parameter, if present and not empty.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name).map(str::to_owned))
        .filter(|v| !v.is_empty())
}

/// The id of the API request (API Gateway's, else the invocation's), naming its cause.
pub fn request_id(req: &lambda_http::Request) -> String {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    gateway
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| crate::stripe::unique_key("request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(resp: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(resp.body().as_ref()).unwrap()
    }

    #[test]
    fn errors_use_the_envelope_and_status() {
        let resp = error_response(&ApiError::bad_request(
            "invalid_tier",
            "unknown tier \"gold\"",
        ));
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(
            body_of(&resp),
            serde_json::json!({"error": {"code": "invalid_tier", "message": "unknown tier \"gold\""}})
        );
    }

    #[test]
    fn bodies_are_checked_for_type_size_and_syntax() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Input {
            tier: String,
        }
        let req = |ct: &str, body: &str| {
            let mut r = Request::new(Body::Text(body.to_owned()));
            r.headers_mut().insert("content-type", ct.parse().unwrap());
            r
        };
        let err = parse_json_body::<Input>(&req("text/plain", "{}")).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let err = parse_json_body::<Input>(&req("application/json", "{")).unwrap_err();
        assert_eq!(err.code, "invalid_body");
        let err = parse_json_body::<Input>(&req("application/json", r#"{"tier": 5}"#)).unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
        let err = parse_json_body::<Input>(&req("application/json", r#"["starter"]"#)).unwrap_err();
        assert_eq!(err.message, "the JSON body must be an object");
        let big = format!(r#"{{"tier":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let err = parse_json_body::<Input>(&req("application/json", &big)).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        let ok = parse_json_body::<Input>(&req(
            "application/json; charset=utf-8",
            r#"{"tier":"starter"}"#,
        ));
        assert!(ok.is_ok());
    }
}
