//! `stripe-emulator`: serves the in-memory Stripe API until Ctrl-C or SIGTERM.

use stripe_emulator::config::{Config, USAGE};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "stripe_emulator=info".into()),
        )
        .init();
    let config =
        match Config::from_args_and_env(std::env::args().skip(1), |k| std::env::var(k).ok()) {
            Ok(Some(c)) => c,
            Ok(None) => {
                print!("{USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::from(2);
            }
        };
    match stripe_emulator::serve(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stripe-emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
