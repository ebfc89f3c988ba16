//! The Stripe client against a scripted local HTTP server: headers, encoding, retries that
//! reuse the idempotency key, no retry on a client error, pagination, and error parsing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tierflow::adapters::stripe::{RetryPolicy, StripeClient};
use tierflow::config::{Secret, StripeConfig};
use tierflow::ports::StripeApi;
use tierflow::stripe::{
    ErrorKind, EventQuery, IdempotencyScope, NewCustomer, NewRefund, STRIPE_API_VERSION,
};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A canned answer.
struct Answer {
    status: u16,
    body: String,
    should_retry: Option<&'static str>,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        body: body.to_owned(),
        should_retry: None,
    }
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
}

async fn respond(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.seen.lock().expect("unpoisoned").push(Seen {
        method,
        path_and_query: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let next = script.answers.lock().expect("unpoisoned").pop_front();
    let Some(next) = next else {
        return (StatusCode::IM_A_TEAPOT, "unscripted request").into_response();
    };
    let mut response = (
        StatusCode::from_u16(next.status).expect("a valid status"),
        next.body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("request-id", "req_test".parse().expect("a header value"));
    if let Some(advice) = next.should_retry {
        response.headers_mut().insert(
            "stripe-should-retry",
            advice.parse().expect("a header value"),
        );
    }
    response
}

/// A server answering `answers` in order, and a client pointed at it with short retry waits.
async fn serve(answers: Vec<Answer>) -> (StripeClient, Arc<Script>) {
    let script = Arc::new(Script {
        answers: Mutex::new(answers.into()),
        seen: Mutex::default(),
    });
    let app = axum::Router::new()
        .fallback(respond)
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (client_for(&format!("http://{addr}")), script)
}

fn client_for(api_base: &str) -> StripeClient {
    let config = StripeConfig {
        secret_key: Secret::new("sk_test_123"),
        publishable_key: String::new(),
        api_base: api_base.to_owned(),
    };
    StripeClient::new(&config)
        .expect("an HTTP client")
        .with_retry_policy(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        })
}

fn seen(script: &Script) -> Vec<Seen> {
    script.seen.lock().expect("unpoisoned").clone()
}

const CUSTOMER: &str =
    r#"{"id":"cus_1","object":"customer","email":"a@b.c","metadata":{"user_id":"u1"}}"#;
const API_ERROR: &str = r#"{"error":{"type":"api_error","message":"Something went wrong"}}"#;

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_idempotency_key() {
    let (client, script) = serve(vec![answer(500, API_ERROR), answer(200, CUSTOMER)]).await;
    let scope = IdempotencyScope::new(["u1", "req-1"]);
    let customer = client
        .create_customer(&NewCustomer::for_user("u1", Some("a@b.c")), &scope)
        .await
        .unwrap();
    assert_eq!(customer.id, "cus_1");
    assert_eq!(
        customer.metadata.get("user_id").map(String::as_str),
        Some("u1")
    );

    let requests = seen(&script);
    assert_eq!(requests.len(), 2);
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| r.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert!(keys[0].starts_with("tierflow-customer_create-"));
    for r in &requests {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path_and_query, "/v1/customers");
        assert_eq!(r.header("authorization"), Some("Bearer sk_test_123"));
        assert_eq!(r.header("stripe-version"), Some(STRIPE_API_VERSION));
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.body, "email=a%40b.c&metadata[user_id]=u1");
    }
}

#[tokio::test]
async fn a_repeated_operation_sends_the_same_key_and_another_scope_does_not() {
    let (client, script) = serve(vec![
        answer(200, CUSTOMER),
        answer(200, CUSTOMER),
        answer(200, CUSTOMER),
    ])
    .await;
    let params = NewCustomer::for_user("u1", None);
    let first = IdempotencyScope::new(["u1"]);
    client.create_customer(&params, &first).await.unwrap();
    client.create_customer(&params, &first).await.unwrap();
    client
        .create_customer(&params, &IdempotencyScope::new(["u2"]))
        .await
        .unwrap();
    let keys: Vec<String> = seen(&script)
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
}

#[tokio::test]
async fn repeatable_updates_get_a_fresh_key_per_call() {
    let sub = r#"{"id":"sub_1","object":"subscription","customer":"cus_1","status":"active","cancel_at_period_end":true}"#;
    let (client, script) = serve(vec![answer(200, sub), answer(200, sub)]).await;
    client
        .set_cancel_at_period_end("sub_1", true)
        .await
        .unwrap();
    let updated = client
        .set_cancel_at_period_end("sub_1", true)
        .await
        .unwrap();
    assert!(updated.cancel_at_period_end);
    let requests = seen(&script);
    assert_eq!(requests[0].body, "cancel_at_period_end=true");
    assert_ne!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_is_parsed() {
    let body = r#"{"error":{"type":"invalid_request_error","code":"parameter_missing","message":"Missing required param: amount.","param":"amount"}}"#;
    let (client, script) = serve(vec![answer(400, body), answer(200, "{}")]).await;
    let err = client
        .create_refund(&NewRefund::default(), &IdempotencyScope::new(["t"]))
        .await
        .unwrap_err();
    assert_eq!(seen(&script).len(), 1);
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(err.status, Some(400));
    assert_eq!(err.code.as_deref(), Some("parameter_missing"));
    assert_eq!(err.param.as_deref(), Some("amount"));
    assert_eq!(err.request_id.as_deref(), Some("req_test"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_declined_card_is_not_retried_and_keeps_its_reason() {
    let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}"#;
    let (client, script) = serve(vec![answer(402, body)]).await;
    let err = client.retrieve_payment_intent("pi_1").await.unwrap_err();
    assert_eq!(seen(&script).len(), 1);
    assert_eq!(err.kind, ErrorKind::Card);
    assert_eq!(err.decline_code.as_deref(), Some("insufficient_funds"));
    assert_eq!(err.http_status(), 402);
}

#[tokio::test]
async fn rate_limits_and_lock_timeouts_are_retried() {
    let lock =
        r#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}"#;
    let rate =
        r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}"#;
    let sub = r#"{"id":"sub_1","customer":"cus_1","status":"active"}"#;
    let (client, script) =
        serve(vec![answer(429, rate), answer(409, lock), answer(200, sub)]).await;
    let got = client.retrieve_subscription("sub_1").await.unwrap();
    assert_eq!(got.status, "active");
    let requests = seen(&script);
    assert_eq!(requests.len(), 3);
    assert!(requests
        .iter()
        .all(|r| r.header("idempotency-key").is_none()));
    assert!(requests
        .iter()
        .all(|r| r.path_and_query == "/v1/subscriptions/sub_1?expand[]=discounts"));
}

#[tokio::test]
async fn stripe_can_say_not_to_retry() {
    let mut no = answer(500, API_ERROR);
    no.should_retry = Some("false");
    let (client, script) = serve(vec![no, answer(200, CUSTOMER)]).await;
    let err = client.retrieve_customer("cus_1").await.unwrap_err();
    assert_eq!(seen(&script).len(), 1);
    assert_eq!(err.should_retry, Some(false));
    assert!(err.is_transient());
}

#[tokio::test]
async fn retries_stop_after_three_attempts() {
    let (client, script) = serve(vec![
        answer(503, API_ERROR),
        answer(503, API_ERROR),
        answer(503, API_ERROR),
        answer(200, CUSTOMER),
    ])
    .await;
    let err = client.retrieve_customer("cus_1").await.unwrap_err();
    assert_eq!(seen(&script).len(), 3);
    assert_eq!(err.kind, ErrorKind::Api);
    assert_eq!(err.http_status(), 503);
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client_for(&format!("http://{addr}"));
    let err = client.retrieve_customer("cus_1").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Network);
    assert!(err.is_transient());
    assert!(!err.message.contains("sk_test_123"));
    assert!(!err.message.contains("cus_1"), "{}", err.message);
    assert!(err.message.contains("onnect"), "{}", err.message);
}

#[tokio::test]
async fn a_body_that_does_not_match_the_type_is_an_invalid_response() {
    let (client, script) = serve(vec![answer(200, r#"{"object":"customer"}"#)]).await;
    let err = client.retrieve_customer("cus_1").await.unwrap_err();
    assert_eq!(seen(&script).len(), 1);
    assert_eq!(err.kind, ErrorKind::InvalidResponse);
    assert!(
        err.message.contains("missing field `id`"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_bad_id_never_reaches_the_server() {
    let (client, script) = serve(vec![]).await;
    let err = client
        .retrieve_subscription("../v1/charges")
        .await
        .unwrap_err();
    assert_eq!(err.kind, tierflow::stripe::ErrorKind::InvalidRequest);
    assert!(seen(&script).is_empty());
}

#[tokio::test]
async fn events_are_listed_across_pages_with_filters() {
    let event = |id: &str| {
        format!(
            r#"{{"id":"{id}","object":"event","type":"invoice.paid","created":1700000100,"api_version":"2025-04-30.basil","livemode":false,"data":{{"object":{{"id":"in_1","object":"invoice"}}}},"request":{{"id":null,"idempotency_key":null}}}}"#
        )
    };
    let page1 = format!(
        r#"{{"object":"list","data":[{},{}],"has_more":true,"url":"/v1/events"}}"#,
        event("evt_3"),
        event("evt_2")
    );
    let page2 = format!(
        r#"{{"object":"list","data":[{}],"has_more":false,"url":"/v1/events"}}"#,
        event("evt_1")
    );
    let (client, script) = serve(vec![answer(200, &page1), answer(200, &page2)]).await;
    let query = EventQuery {
        created_after: Some(1_700_000_000),
        types: vec!["invoice.paid".into(), "charge.refunded".into()],
        page_size: 2,
        ..EventQuery::default()
    };
    let events = client.list_events(&query).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_3", "evt_2", "evt_1"]);
    let requests = seen(&script);
    assert_eq!(
        requests[0].path_and_query,
        "/v1/events?limit=2&created[gt]=1700000000&types[]=invoice.paid&types[]=charge.refunded"
    );
    assert_eq!(
        requests[1].path_and_query,
        "/v1/events?limit=2&created[gt]=1700000000&types[]=invoice.paid&types[]=charge.refunded&starting_after=evt_2"
    );
    assert!(requests
        .iter()
        .all(|r| r.method == Method::GET && r.body.is_empty()));
}

#[tokio::test]
async fn customers_are_found_by_user_id_through_search() {
    let page = r#"{"object":"search_result","data":[
        {"id":"cus_new","created":200,"metadata":{"user_id":"u'1"}},
        {"id":"cus_old","created":100,"metadata":{"user_id":"u'1"}}
    ],"has_more":false,"next_page":null,"url":"/v1/customers/search"}"#;
    let (client, script) = serve(vec![answer(200, page), answer(200, r#"{"data":[]}"#)]).await;
    let found = client.find_customer_by_user_id("u'1").await.unwrap();
    assert_eq!(found.map(|c| c.id).as_deref(), Some("cus_old"));
    assert!(client
        .find_customer_by_user_id("u2")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        seen(&script)[0].path_and_query,
        "/v1/customers/search?query=metadata%5B%27user_id%27%5D%3A%27u%5C%271%27&limit=10"
    );
}
