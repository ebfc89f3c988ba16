//! Bringing Stripe's products and prices in line with the catalog, addressed by lookup key.
//! [`plan`] is pure: it compares the catalog with what Stripe has and lists the steps; [`apply`]
//! performs them. Running it twice changes nothing the second time. The Customer Portal's
//! configuration, which offers the same prices, is kept in `portal.rs`.

use super::StripeClient;
use crate::domain::{BillingCycle, Catalog, PriceSpec, Tier, TierSpec};
use crate::stripe::{
    IdempotencyScope, Metadata, NewPrice, NewProduct, Price, Product, ProductUpdate, StripeError,
    CYCLE_METADATA_KEY, TIER_METADATA_KEY,
};
use std::fmt;

mod portal;
#[cfg(test)]
mod tests;

pub use portal::{
    find_portal_configuration, portal_configuration, sync_portal, PORTAL_METADATA_KEY,
    PORTAL_METADATA_VALUE,
};

/// The id Tierflow gives a tier's product.
pub fn product_id(tier: &Tier) -> String {
    format!("tierflow_{tier}")
}

/// One thing to do (or confirm) to match the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The tier's product exists as the catalog describes it.
    ProductUpToDate {
        /// The tier the product sells.
        tier: Tier,
        /// The product's Stripe id (`tierflow_{tier}`, or the marked one found).
        product_id: String,
    },
    /// The tier has no product yet.
    CreateProduct {
        /// The tier the product will sell.
        tier: Tier,
        /// The product to create, with Tierflow's id and the tier mark.
        product: NewProduct,
    },
    /// The product exists but its name, status or tier mark differ.
    UpdateProduct {
        /// The tier the product sells.
        tier: Tier,
        /// The product's Stripe id.
        product_id: String,
        /// Only what differs from the catalog.
        update: ProductUpdate,
    },
    /// The lookup key names an active price with the catalog's amount, currency and interval.
    PriceUpToDate {
        /// The catalog's lookup key for the price.
        lookup_key: String,
        /// The Stripe price holding it.
        price_id: String,
    },
    /// The lookup key names a retired price that matches: bring it back.
    ReactivatePrice {
        /// The catalog's lookup key for the price.
        lookup_key: String,
        /// The inactive Stripe price holding it.
        price_id: String,
    },
    /// No matching price: create one, taking the lookup key from `replaces` if it holds it.
    CreatePrice {
        /// The price to create, with the lookup key and the tier and cycle marks.
        price: NewPrice,
        /// The id of the price that holds the lookup key now, if any.
        replaces: Option<String>,
    },
    /// Retire the price that held the lookup key before (prices are immutable in amount).
    DeactivatePrice {
        /// The lookup key that moved to the new price.
        lookup_key: String,
        /// The old price, still active until this step.
        price_id: String,
    },
}

impl Step {
    /// Whether the step changes anything in Stripe.
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Step::ProductUpToDate { .. } | Step::PriceUpToDate { .. }
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::ProductUpToDate { product_id, .. } => {
                write!(f, "product {product_id}: up to date")
            }
            Step::CreateProduct { product, .. } => write!(
                f,
                "product {}: create {:?}",
                product.id.as_deref().unwrap_or("?"),
                product.name
            ),
            Step::UpdateProduct {
                product_id, update, ..
            } => {
                let mut what = Vec::new();
                if let Some(name) = &update.name {
                    what.push(format!("name {name:?}"));
                }
                if update.active == Some(true) {
                    what.push("reactivate".to_owned());
                }
                if !update.metadata.is_empty() {
                    what.push("mark tier".to_owned());
                }
                write!(f, "product {product_id}: update {}", what.join(", "))
            }
            Step::PriceUpToDate {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: up to date ({price_id})"),
            Step::ReactivatePrice {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: reactivate {price_id}"),
            Step::CreatePrice { price, replaces } => {
                write!(
                    f,
                    "price {}: create {} {}/{} on {}",
                    price.lookup_key.as_deref().unwrap_or("?"),
                    price.unit_amount,
                    price.currency,
                    price.interval,
                    price.product
                )?;
                match replaces {
                    Some(old) => write!(f, ", moving the lookup key from {old}"),
                    None => Ok(()),
                }
            }
            Step::DeactivatePrice {
                lookup_key,
                price_id,
            } => write!(f, "price {lookup_key}: deactivate old {price_id}"),
        }
    }
}

/// The steps that make Stripe match `catalog`, given every product and the prices holding the
/// catalog's lookup keys. Product steps come before the price steps that use them.
pub fn plan(catalog: &Catalog, products: &[Product], prices: &[Price]) -> Vec<Step> {
    let mut steps = Vec::new();
    for spec in catalog.paid_tiers() {
        let (product_step, product) = plan_product(spec, products);
        steps.push(product_step);
        for price_spec in &spec.prices {
            plan_price(catalog, spec, price_spec, &product, prices, &mut steps);
        }
    }
    steps
}

fn tier_metadata(tier: &Tier) -> Metadata {
    Metadata::from([(TIER_METADATA_KEY.to_owned(), tier.as_str().to_owned())])
}

/// The tier's product step and the id its prices must hang on.
fn plan_product(spec: &TierSpec, products: &[Product]) -> (Step, String) {
    let wanted_id = product_id(&spec.tier);
    let marked = |p: &&Product| {
        p.metadata.get(TIER_METADATA_KEY).map(String::as_str) == Some(spec.tier.as_str())
    };
    // Our own id first; otherwise a product marked with the tier, an active one preferably.
    let existing = products
        .iter()
        .find(|p| p.id == wanted_id)
        .or_else(|| products.iter().filter(marked).max_by_key(|p| p.active));
    let Some(product) = existing else {
        let create = NewProduct {
            id: Some(wanted_id.clone()),
            name: spec.name.clone(),
            metadata: tier_metadata(&spec.tier),
        };
        let step = Step::CreateProduct {
            tier: spec.tier.clone(),
            product: create,
        };
        return (step, wanted_id);
    };
    let update = ProductUpdate {
        name: (product.name.as_deref() != Some(spec.name.as_str())).then(|| spec.name.clone()),
        active: (!product.active).then_some(true),
        metadata: if marked(&product) {
            Metadata::new()
        } else {
            tier_metadata(&spec.tier)
        },
    };
    let step = if update == ProductUpdate::default() {
        Step::ProductUpToDate {
            tier: spec.tier.clone(),
            product_id: product.id.clone(),
        }
    } else {
        Step::UpdateProduct {
            tier: spec.tier.clone(),
            product_id: product.id.clone(),
            update,
        }
    };
    (step, product.id.clone())
}

fn plan_price(
    catalog: &Catalog,
    spec: &TierSpec,
    price_spec: &PriceSpec,
    product_id: &str,
    prices: &[Price],
    steps: &mut Vec<Step>,
) {
    let key = &price_spec.lookup_key;
    let currency = catalog.currency.as_str();
    let holder = prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some(key.as_str()));
    if let Some(price) = holder {
        if matches(price, price_spec, currency, product_id) {
            let step = if price.active {
                Step::PriceUpToDate {
                    lookup_key: key.clone(),
                    price_id: price.id.clone(),
                }
            } else {
                Step::ReactivatePrice {
                    lookup_key: key.clone(),
                    price_id: price.id.clone(),
                }
            };
            steps.push(step);
            return;
        }
    }
    let metadata = Metadata::from([
        (TIER_METADATA_KEY.to_owned(), spec.tier.as_str().to_owned()),
        (
            CYCLE_METADATA_KEY.to_owned(),
            price_spec.cycle.as_str().to_owned(),
        ),
    ]);
    steps.push(Step::CreatePrice {
        price: NewPrice {
            product: product_id.to_owned(),
            unit_amount: price_spec.unit_amount,
            currency: currency.to_owned(),
            interval: price_spec.cycle.stripe_interval().to_owned(),
            lookup_key: Some(key.clone()),
            transfer_lookup_key: holder.is_some(),
            nickname: Some(format!("{} {}", spec.name, price_spec.cycle)),
            metadata,
        },
        replaces: holder.map(|p| p.id.clone()),
    });
    if let Some(old) = holder.filter(|p| p.active) {
        steps.push(Step::DeactivatePrice {
            lookup_key: key.clone(),
            price_id: old.id.clone(),
        });
    }
}

/// Same amount, currency, interval (every single period) and product.
fn matches(price: &Price, spec: &PriceSpec, currency: &str, product_id: &str) -> bool {
    let interval_ok = price.recurring.as_ref().is_some_and(|r| {
        BillingCycle::parse(&r.interval).ok() == Some(spec.cycle)
            && r.interval_count.unwrap_or(1) == 1
    });
    price.unit_amount == Some(spec.unit_amount)
        && price.currency.as_deref() == Some(currency)
        && interval_ok
        && price.product_id() == Some(product_id)
}

/// Performs `steps` in order, reporting each (done or already up to date) as it completes;
/// stops at the first failure
/// (a rerun resumes: the plan is recomputed and creations replay their idempotency keys).
pub async fn apply(
    client: &StripeClient,
    steps: &[Step],
    mut report: impl FnMut(String),
) -> Result<(), StripeError> {
    for step in steps {
        match step {
            Step::ProductUpToDate { .. } | Step::PriceUpToDate { .. } => {}
            Step::CreateProduct { product, .. } => {
                client
                    .create_product(product, &IdempotencyScope::none())
                    .await?;
            }
            Step::UpdateProduct {
                product_id, update, ..
            } => {
                client.update_product(product_id, update).await?;
            }
            Step::ReactivatePrice { price_id, .. } => {
                client.set_price_active(price_id, true).await?;
            }
            Step::CreatePrice { price, replaces } => {
                // The replaced price is part of the scope, so a key moved away and back within
                // Stripe's 24-hour idempotency window still creates a fresh price.
                let scope = IdempotencyScope::new(["replaces", replaces.as_deref().unwrap_or("")]);
                let created = client.create_price(price, &scope).await?;
                report(format!("{step} -> {}", created.id));
                continue;
            }
            Step::DeactivatePrice { price_id, .. } => {
                client.set_price_active(price_id, false).await?;
            }
        }
        report(step.to_string());
    }
    Ok(())
}
