//! AWS SDK configuration loaded once at init. Locally `AWS_ENDPOINT_URL` points every client at
//! the emulator (moto server); in Lambda the defaults apply.

/// Loads the shared SDK configuration from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// SDK configuration aimed at an explicit endpoint (tests against the local AWS emulator).
pub async fn sdk_config_for_endpoint(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "local-emulator",
        ))
        .load()
        .await
}
