//! AWS SDK configuration, built once at init from the environment Lambda provides
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); locally
//! `AWS_ENDPOINT_URL` points every client at the emulator (moto server).
//!
//! No credential chain is walked: in Lambda the role's credentials are in the environment,
//! and a provider chain (profiles, SSO, STS, IMDS) only adds init time and binary size. Tools
//! run by a person read the same variables (`aws configure export-credentials --format env`).

use super::https::SdkHttpClient;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_types::SdkConfig;

/// Loads the shared SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(Credentials::new(
            key,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        )),
        _ => None,
    };
    build(region, credentials, var("AWS_ENDPOINT_URL"))
}

/// SDK configuration aimed at an explicit endpoint (tests against the local AWS emulator).
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    build(
        Some("us-east-1".into()),
        Some(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "local-emulator",
        )),
        Some(endpoint.to_owned()),
    )
}

fn build(
    region: Option<String>,
    credentials: Option<Credentials>,
    endpoint: Option<String>,
) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(Region::new))
        // No attempt or operation timeout of our own (the SDK's defaults): the function's own
        // timeout bounds every call, and an attempt cut short may still have been applied, so
        // its retry would fail the conditional write it repeats. Connections time out (3 s).
        // The HTTP client sends each (small, in-memory) request body whole, without polling it
        // as a stream: the SDK's upload throughput monitor would see 0 B/s while the service
        // works and time the attempt out, and the retry of an applied conditional write would
        // then fail its own condition (shared/tests/integration/webhook_pipeline.rs caught it against the
        // emulator). Responses are still watched.
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .upload_enabled(false)
                .build(),
        );
    // Without an HTTP client or credentials the SDK refuses each call with a message naming
    // what is missing, which the caller logs and answers as a retryable failure.
    match SdkHttpClient::new() {
        Ok(client) => config = config.http_client(client),
        Err(e) => tracing::error!(error = %e, "the AWS HTTP client could not be built"),
    }
    if let Some(credentials) = credentials {
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}
