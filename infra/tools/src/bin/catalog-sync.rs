//! `catalog-sync [--dry-run]`: creates or updates the Stripe products and prices of the
//! catalog (built in, or `CATALOG_FILE`), addressed by lookup keys, then the Customer Portal
//! configuration `billing-portal` opens (found again by its metadata mark, never duplicated). Needs `STRIPE_SECRET_KEY`;
//! `STRIPE_API_BASE` points it at the emulator. A second run changes nothing.

use std::process::ExitCode;
use tierflow::adapters::stripe::catalog_sync::{apply, plan, sync_portal};
use tierflow::adapters::stripe::StripeClient;
use tierflow::config::StripeConfig;
use tierflow::ports::StripeApi;

const USAGE: &str = "usage: catalog-sync [--dry-run]\n\
    Creates or updates the Stripe products and prices of the catalog, by lookup key.\n\
    env: STRIPE_SECRET_KEY (required), STRIPE_API_BASE, CATALOG_FILE";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dry_run = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => false,
        ["--dry-run"] => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(dry_run).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("catalog-sync: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(dry_run: bool) -> Result<(), String> {
    let catalog = tierflow::config::load_catalog().map_err(|e| e.to_string())?;
    let config = StripeConfig::from_env().map_err(|e| e.to_string())?;
    let client = StripeClient::new(&config).map_err(|e| e.to_string())?;
    println!("catalog-sync against {}", client.api_base());
    let products = client.list_products().await.map_err(|e| e.to_string())?;
    let prices = client
        .list_prices_by_lookup_keys(&catalog.lookup_keys(), false)
        .await
        .map_err(|e| e.to_string())?;
    let steps = plan(&catalog, &products, &prices);
    let changes = steps.iter().filter(|s| s.is_change()).count();
    if dry_run || changes == 0 {
        for step in &steps {
            println!("  {step}");
        }
        println!(
            "{changes} change(s){}",
            if dry_run {
                " planned (dry run)"
            } else {
                "; nothing to do"
            }
        );
    } else {
        apply(&client, &steps, |line| println!("  {line}"))
            .await
            .map_err(|e| e.to_string())?;
        println!("{changes} change(s) applied");
    }
    if dry_run {
        return Ok(());
    }
    let (id, created) = sync_portal(&client, &catalog)
        .await
        .map_err(|e| format!("portal configuration: {e}"))?;
    let what = if created { "created" } else { "up to date" };
    println!("portal configuration {id}: {what}");
    Ok(())
}
