//! `redrive [--limit N]`: moves dead-lettered sync jobs back to the sync queue, once whatever
//! made them fail (Keycloak, Lago or SES down, a bad configuration) is fixed. Each message is
//! re-sent before it is deleted from the dead-letter queue: a crash leaves a duplicate (harmless,
//! jobs are level-triggered), never a loss.

use std::process::ExitCode;
use tierflow::sync::redrive::redrive_with_env_client;

const USAGE: &str = "usage: redrive [--limit N]\n\
    Moves up to N (default: all) messages from the sync dead-letter queue back to the sync queue.\n\
    env: SYNC_DLQ_URL and SYNC_QUEUE_URL (required), AWS credentials and region, AWS_ENDPOINT_URL";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let limit = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => u64::MAX,
        ["--limit", n] => match n.parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (Some(dlq), Some(queue)) = (var("SYNC_DLQ_URL"), var("SYNC_QUEUE_URL")) else {
        eprintln!("redrive: SYNC_DLQ_URL and SYNC_QUEUE_URL must be set\n{USAGE}");
        return ExitCode::from(2);
    };
    match redrive_with_env_client(&dlq, &queue, limit).await {
        Ok(moved) => {
            println!("redrive: moved {moved} message(s) from {dlq} to {queue}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redrive: {e}");
            ExitCode::FAILURE
        }
    }
}
