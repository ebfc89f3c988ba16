//! One HTTPS stack for every outbound call: Stripe, Keycloak, Lago and the AWS SDK clients.
//!
//! Cold starts are why it exists. Loading the system trust store parses every certificate in
//! it (about 9 ms of a 15 ms init here), and the SDK's own client brought a second TLS stack
//! and crypto library. Instead: rustls with `ring` and the Mozilla roots compiled in
//! (`webpki-roots`, nothing to parse), built once per process and shared, and the SDK clients
//! send through reqwest via [`SdkHttpClient`].

use aws_sdk_dynamodb::config::{HttpClient, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The TLS settings every client shares: TLS 1.2 and 1.3 with `ring`, Mozilla's roots.
pub fn tls_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable!("ring supports rustls' default protocol versions"))
            .with_root_certificates(roots)
            .with_no_client_auth()
        })
        .clone()
}

/// A reqwest builder on the shared TLS settings; callers add their timeouts and policies.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(tls_config())
}

/// How long a connection to Keycloak, Lago or the JWT issuer may take to open.
const INTEGRATION_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one request to them may take in all: a hung integration fails the job, not the batch.
const INTEGRATION_REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// The client the integrations share (Keycloak, Lago, the JWT issuer's JWKS): bounded timeouts,
/// no redirects (an admin API that redirects is misconfigured, and following it could leak the
/// bearer token).
pub fn integration_client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder()
        .connect_timeout(INTEGRATION_CONNECT_TIMEOUT)
        .timeout(INTEGRATION_REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// How long opening a connection to AWS may take before the SDK retries elsewhere.
const AWS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The AWS SDK's HTTP client: requests go through one pooled reqwest client. The SDK keeps
/// doing signing, retries and timeouts; this only moves bytes.
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    http: reqwest::Client,
}

impl SdkHttpClient {
    /// A client on the shared TLS settings.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(SdkHttpClient {
            http: client_builder()
                .connect_timeout(AWS_CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(SdkConnector {
            http: self.http.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct SdkConnector {
    http: reqwest::Client,
    read_timeout: Option<Duration>,
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let http = self.http.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = to_reqwest(request, read_timeout)?;
            let response = http.execute(request).await.map_err(connector_error)?;
            from_reqwest(response).await
        })
    }
}

fn to_reqwest(
    request: HttpRequest,
    read_timeout: Option<Duration>,
) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    // DynamoDB, SQS, EventBridge and SES requests are small and in memory; a streaming body
    // would be a new kind of call, refused rather than half sent.
    let request = request.map(|body| {
        body.bytes()
            .map(|bytes| reqwest::Body::from(bytes.to_vec()))
    });
    let (parts, body) = request.into_parts();
    let body = body
        .ok_or_else(|| ConnectorError::user("streaming request bodies are not supported".into()))?;
    let mut request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
        .map_err(|e| ConnectorError::user(e.into()))?;
    if let Some(timeout) = read_timeout {
        *request.timeout_mut() = Some(timeout);
    }
    Ok(request)
}

async fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(connector_error)?;
    let mut http_response = http::Response::new(SdkBody::from(body));
    *http_response.status_mut() = status;
    *http_response.headers_mut() = headers;
    HttpResponse::try_from(http_response).map_err(|e| ConnectorError::other(e.into(), None))
}

/// Timeouts and connection failures are the SDK's to retry; the rest is reported as is.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_to(uri: &str) -> HttpRequest {
        let request = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/x-amz-json-1.0")
            .body(SdkBody::from("{}"))
            .expect("request");
        HttpRequest::try_from(request).expect("smithy request")
    }

    fn connector() -> SdkConnector {
        SdkConnector {
            http: SdkHttpClient::new().expect("client").http,
            read_timeout: Some(Duration::from_millis(300)),
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let err = connector()
            .call(request_to(&format!("http://127.0.0.1:{port}/")))
            .await
            .expect_err("nothing listens");
        assert!(err.is_io(), "{err:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_timeout_the_sdk_retries() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let addr = listener.local_addr().expect("addr");
        let _held = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(conn);
        });
        let err = connector()
            .call(request_to(&format!("http://{addr}/")))
            .await
            .expect_err("no answer");
        assert!(err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn status_headers_and_body_come_back_as_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(|body: String| async move {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    [("x-amzn-requestid", "req-1")],
                    format!("echo:{body}"),
                )
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let response = connector()
            .call(request_to(&format!("http://{addr}/")))
            .await
            .expect("answered");
        assert_eq!(response.status().as_u16(), 400);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("req-1"));
        assert_eq!(response.body().bytes(), Some(&b"echo:{}"[..]));
    }
}
