//! `redrive [--limit N]`: moves dead-lettered sync jobs back to the sync queue, once whatever
//! made them fail (Keycloak, Lago or SES down, a bad configuration) is fixed. Each message is
//! re-sent before it is deleted from the dead-letter queue: a crash leaves a duplicate (harmless,
//! jobs are level-triggered), never a loss.
//!
//! `redrive --failed [--replay] [--user ID] [--limit N]`: lists the sync jobs that failed
//! permanently (recorded by the sync worker instead of being retried into the dead-letter
//! queue) with their reasons, and with `--replay` puts them back on the sync queue.

use std::process::ExitCode;
use tierflow::domain::UserId;
use tierflow::ports::BillingStore;
use tierflow::sync::redrive::{redrive, replay_sync_failures};
use tierflow::wiring::Core;

const USAGE: &str = "usage: redrive [--limit N]\n\
    \x20      redrive --failed [--replay] [--user ID] [--limit N]\n\
    Moves up to N (default: all) messages from the sync dead-letter queue back to the sync queue.\n\
    With --failed: lists the permanently failed sync jobs with their reasons; --replay re-enqueues\n\
    them (only those of --user ID) and clears their records.\n\
    env: SYNC_QUEUE_URL, and SYNC_DLQ_URL (DLQ) or TABLE_NAME (--failed); AWS credentials and\n\
    region, AWS_ENDPOINT_URL";

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
struct Args {
    failed: bool,
    replay: bool,
    user: Option<UserId>,
    limit: Option<u64>,
}

fn parse(args: &[String]) -> Option<Args> {
    let mut parsed = Args::default();
    let mut rest = args.iter().map(String::as_str);
    while let Some(arg) = rest.next() {
        match arg {
            "--failed" => parsed.failed = true,
            "--replay" => parsed.replay = true,
            "--user" => parsed.user = Some(UserId::parse(rest.next()?).ok()?),
            "--limit" => parsed.limit = Some(rest.next()?.parse().ok()?),
            _ => return None,
        }
    }
    let dlq_only_flags = parsed.replay || parsed.user.is_some();
    (parsed.failed || !dlq_only_flags).then_some(parsed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(args) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if args.failed {
        return failed(&args).await;
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (Some(dlq), Some(queue)) = (var("SYNC_DLQ_URL"), var("SYNC_QUEUE_URL")) else {
        eprintln!("redrive: SYNC_DLQ_URL and SYNC_QUEUE_URL must be set\n{USAGE}");
        return ExitCode::from(2);
    };
    let sqs = Core::load().await.sqs();
    match redrive(&sqs, &dlq, &queue, args.limit.unwrap_or(u64::MAX)).await {
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

async fn failed(args: &Args) -> ExitCode {
    let core = Core::load().await;
    let (store, queue) = match core
        .store()
        .and_then(|store| Ok((store, core.sync_queue()?)))
    {
        Ok(ports) => ports,
        Err(e) => {
            eprintln!("redrive: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limit = args
        .limit
        .map_or(u32::MAX, |n| n.min(u32::MAX as u64) as u32);
    if args.replay {
        return match replay_sync_failures(&store, &queue, args.user.as_ref(), limit).await {
            Ok(replayed) => {
                println!("redrive: replayed {} failed sync job(s)", replayed.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("redrive: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Filtered before the limit, as `--replay` does: `--user X --limit N` is N of X's.
    match store.sync_failures(u32::MAX).await {
        Ok(failures) => {
            for f in failures
                .iter()
                .filter(|f| args.user.as_ref().is_none_or(|u| &f.job.user_id == u))
                .take(limit as usize)
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    f.job.user_id,
                    f.job.cause,
                    f.job.email.as_deref().unwrap_or("state"),
                    tierflow::domain::time::rfc3339(f.failed_at),
                    f.reason
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redrive: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Option<Args> {
        parse(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn the_command_line_chooses_the_dlq_or_the_recorded_failures() {
        assert_eq!(args(""), Some(Args::default()));
        assert_eq!(args("--limit 5").and_then(|a| a.limit), Some(5));
        let replay = args("--failed --replay --user u1").unwrap();
        assert!(replay.failed && replay.replay);
        assert_eq!(replay.user, Some(UserId::parse("u1").unwrap()));
        for bad in [
            "--replay",
            "--user u1",
            "--limit x",
            "--failed --user",
            "--nope",
        ] {
            assert_eq!(args(bad), None, "{bad}");
        }
    }
}
