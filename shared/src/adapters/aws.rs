//! AWS SDK configuration, built once at init from the environment Lambda provides
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); locally
//! `AWS_ENDPOINT_URL` points every client at the emulator (moto server).
//!
//! No credential chain is walked: in Lambda the role's credentials are in the environment,
//! and a provider chain (profiles, SSO, STS, IMDS) only adds init time and binary size. Tools
//! run by a person read the same variables (`aws configure export-credentials --format env`).

use super::https::SdkHttpClient;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use std::time::Duration;

/// One attempt of an AWS call may take this long before the SDK retries it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// All attempts of one AWS call together.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

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
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
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
