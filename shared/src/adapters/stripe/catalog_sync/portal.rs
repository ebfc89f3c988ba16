//! The Customer Portal configuration catalog-sync keeps: plan switches only between the
//! catalog's prices, prorated like the upgrade route, found again by its metadata mark.

use super::StripeClient;
use crate::domain::Catalog;
use crate::ports::StripeApi;
use crate::stripe::{
    Metadata, PortalConfiguration, PortalConfigurationParams, Price, StripeError, UPGRADE_PRORATION,
};

/// Metadata key that marks the Customer Portal configuration catalog-sync keeps; `billing-portal`
/// finds it by this mark, so its id needs no configuration step and survives redeploys.
pub const PORTAL_METADATA_KEY: &str = "tierflow_catalog";
/// The mark's value.
pub const PORTAL_METADATA_VALUE: &str = "portal";

/// The portal configuration that lets a subscriber switch only between the catalog's prices
/// (`prices`: the active prices holding its lookup keys), prorated like the upgrade route.
pub fn portal_configuration(catalog: &Catalog, prices: &[Price]) -> PortalConfigurationParams {
    let mut products: Vec<(String, Vec<String>)> = Vec::new();
    for spec in catalog.paid_tiers() {
        for price_spec in &spec.prices {
            let held = prices.iter().find(|p| {
                p.active && p.lookup_key.as_deref() == Some(price_spec.lookup_key.as_str())
            });
            let Some((price, product)) = held.and_then(|p| Some((p, p.product_id()?))) else {
                continue;
            };
            match products.iter_mut().find(|(id, _)| id == product) {
                Some((_, ids)) => ids.push(price.id.clone()),
                None => products.push((product.to_owned(), vec![price.id.clone()])),
            }
        }
    }
    PortalConfigurationParams {
        products,
        proration_behavior: UPGRADE_PRORATION,
        metadata: Metadata::from([(
            PORTAL_METADATA_KEY.to_owned(),
            PORTAL_METADATA_VALUE.to_owned(),
        )]),
    }
}

/// Tierflow's portal configuration among `configs`: the oldest marked one (Stripe lists newest
/// first), so a duplicate made by hand never takes over.
pub fn find_portal_configuration(configs: &[PortalConfiguration]) -> Option<&PortalConfiguration> {
    configs.iter().rev().find(|c| {
        c.active
            && c.metadata.get(PORTAL_METADATA_KEY).map(String::as_str)
                == Some(PORTAL_METADATA_VALUE)
    })
}

/// Creates Tierflow's portal configuration or brings the existing one in line with the catalog;
/// answers its id and whether it was created.
pub async fn sync_portal(
    client: &StripeClient,
    catalog: &Catalog,
) -> Result<(String, bool), StripeError> {
    let prices = client
        .list_prices_by_lookup_keys(&catalog.lookup_keys(), true)
        .await?;
    let params = portal_configuration(catalog, &prices);
    let configs = client.list_portal_configurations().await?;
    match find_portal_configuration(&configs) {
        Some(existing) => {
            let updated = client
                .update_portal_configuration(&existing.id, &params)
                .await?;
            Ok((updated.id, false))
        }
        None => {
            let created = client.create_portal_configuration(&params).await?;
            Ok((created.id, true))
        }
    }
}
