use super::*;
use crate::domain::catalog::BUILT_IN_CATALOG;
use crate::stripe::{Expandable, PortalConfiguration, Recurring};

fn catalog() -> Catalog {
    Catalog::parse(BUILT_IN_CATALOG).unwrap()
}

fn product(id: &str, name: &str, tier: Option<&str>, active: bool) -> Product {
    Product {
        id: id.into(),
        name: Some(name.into()),
        active,
        metadata: tier
            .map(|t| Metadata::from([(TIER_METADATA_KEY.to_owned(), t.to_owned())]))
            .unwrap_or_default(),
        ..Product::default()
    }
}

fn price(id: &str, key: &str, amount: i64, interval: &str, product: &str) -> Price {
    Price {
        id: id.into(),
        active: true,
        lookup_key: Some(key.into()),
        unit_amount: Some(amount),
        currency: Some("usd".into()),
        recurring: Some(Recurring {
            interval: interval.into(),
            interval_count: Some(1),
        }),
        product: Some(Expandable::Id(product.into())),
        ..Price::default()
    }
}

/// What Stripe holds after a complete sync of the built-in catalog.
fn synced() -> (Vec<Product>, Vec<Price>) {
    let c = catalog();
    let mut products = Vec::new();
    let mut prices = Vec::new();
    for spec in c.paid_tiers() {
        let pid = product_id(&spec.tier);
        products.push(product(&pid, &spec.name, Some(spec.tier.as_str()), true));
        for p in &spec.prices {
            prices.push(price(
                &format!("price_{}", p.lookup_key),
                &p.lookup_key,
                p.unit_amount,
                p.cycle.stripe_interval(),
                &pid,
            ));
        }
    }
    (products, prices)
}

fn changes(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.is_change())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn empty_account_gets_every_product_and_price() {
    let steps = plan(&catalog(), &[], &[]);
    let creates_products = steps
        .iter()
        .filter(|s| matches!(s, Step::CreateProduct { .. }))
        .count();
    let creates_prices: Vec<&NewPrice> = steps
        .iter()
        .filter_map(|s| match s {
            Step::CreatePrice { price, replaces } => {
                assert!(replaces.is_none());
                Some(price)
            }
            _ => None,
        })
        .collect();
    assert_eq!(creates_products, 4);
    assert_eq!(creates_prices.len(), 7);
    let starter_yearly = creates_prices
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("tierflow_starter_yearly"))
        .unwrap();
    assert_eq!(starter_yearly.product, "tierflow_starter");
    assert_eq!(starter_yearly.unit_amount, 19000);
    assert_eq!(starter_yearly.interval, "year");
    assert!(!starter_yearly.transfer_lookup_key);
    // Each product is created before the prices that hang on it.
    let first_product = steps
        .iter()
        .position(|s| matches!(s, Step::CreateProduct { tier, .. } if tier.as_str() == "trial"))
        .unwrap();
    let first_price = steps
        .iter()
        .position(|s| matches!(s, Step::CreatePrice { .. }))
        .unwrap();
    assert!(first_product < first_price);
}

#[test]
fn synced_account_needs_nothing() {
    let (products, prices) = synced();
    let steps = plan(&catalog(), &products, &prices);
    assert!(changes(&steps).is_empty(), "{:?}", changes(&steps));
    assert_eq!(steps.len(), 4 + 7);
}

#[test]
fn price_differences_create_a_replacement_and_retire_the_old() {
    type Change = Box<dyn Fn(&mut Price)>;
    let cases: Vec<(&str, Change, bool)> = vec![
        ("amount", Box::new(|p| p.unit_amount = Some(1500)), true),
        (
            "currency",
            Box::new(|p| p.currency = Some("eur".into())),
            true,
        ),
        (
            "interval",
            Box::new(|p| p.recurring.as_mut().unwrap().interval = "year".into()),
            true,
        ),
        (
            "interval count",
            Box::new(|p| p.recurring.as_mut().unwrap().interval_count = Some(3)),
            true,
        ),
        ("one-time", Box::new(|p| p.recurring = None), true),
        (
            "product",
            Box::new(|p| p.product = Some(Expandable::Id("prod_other".into()))),
            true,
        ),
        (
            "inactive and different",
            Box::new(|p| {
                p.active = false;
                p.unit_amount = Some(1);
            }),
            false,
        ),
    ];
    for (name, change, old_active) in cases {
        let (products, mut prices) = synced();
        let held = prices
            .iter_mut()
            .find(|p| p.lookup_key.as_deref() == Some("tierflow_starter_monthly"))
            .unwrap();
        change(held);
        let steps = plan(&catalog(), &products, &prices);
        let mut expected = vec![
            "price tierflow_starter_monthly: create 1900 usd/month on tierflow_starter, \
             moving the lookup key from price_tierflow_starter_monthly"
                .to_owned(),
        ];
        if old_active {
            expected.push(
                "price tierflow_starter_monthly: deactivate old price_tierflow_starter_monthly"
                    .to_owned(),
            );
        }
        assert_eq!(changes(&steps), expected, "{name}");
        let transfer = steps
            .iter()
            .any(|s| matches!(s, Step::CreatePrice { price, .. } if price.transfer_lookup_key));
        assert!(transfer, "{name}");
    }
}

#[test]
fn a_retired_matching_price_is_reactivated() {
    let (products, mut prices) = synced();
    prices[0].active = false;
    let steps = plan(&catalog(), &products, &prices);
    assert_eq!(
        changes(&steps),
        vec!["price tierflow_trial_monthly: reactivate price_tierflow_trial_monthly"]
    );
}

#[test]
fn products_are_found_by_id_or_tier_mark_and_repaired() {
    let (mut products, mut prices) = synced();
    // Professional lives under a Dashboard-made id, marked with its tier.
    products[2] = product("prod_dash", "Pro (old)", Some("professional"), false);
    for p in prices.iter_mut() {
        if p.product_id() == Some("tierflow_professional") {
            p.product = Some(Expandable::Id("prod_dash".into()));
        }
    }
    // Starter lost its tier mark.
    products[1].metadata.clear();
    let steps = plan(&catalog(), &products, &prices);
    assert_eq!(
        changes(&steps),
        vec![
            "product tierflow_starter: update mark tier",
            "product prod_dash: update name \"Professional\", reactivate",
        ]
    );
}

#[test]
fn an_unmarked_foreign_product_is_not_adopted() {
    let (mut products, prices) = synced();
    products.remove(0);
    products.push(product("prod_x", "Trial", None, true));
    let steps = plan(&catalog(), &products, &prices);
    assert_eq!(
        changes(&steps),
        vec!["product tierflow_trial: create \"Trial\""]
    );
}

#[test]
fn the_portal_offers_only_the_catalogs_active_prices() {
    let (_, mut prices) = synced();
    let mut foreign = price("price_x", "someone_elses", 100, "month", "prod_x");
    foreign.active = true;
    prices.push(foreign);
    prices[1].active = false;
    let config = portal_configuration(&catalog(), &prices);
    let offered: Vec<(&str, usize)> = config
        .products
        .iter()
        .map(|(product, ids)| (product.as_str(), ids.len()))
        .collect();
    assert_eq!(
        offered,
        vec![
            ("tierflow_trial", 1),
            ("tierflow_starter", 1),
            ("tierflow_professional", 2),
            ("tierflow_enterprise", 2),
        ]
    );
    assert!(!config.products.iter().any(|(p, _)| p == "prod_x"));
    assert_eq!(config.proration_behavior.as_str(), "always_invoice");
}

#[test]
fn the_marked_portal_configuration_is_found_oldest_first() {
    let config = |id: &str, marked: bool, active: bool| PortalConfiguration {
        id: id.into(),
        active,
        metadata: if marked {
            Metadata::from([(
                PORTAL_METADATA_KEY.to_owned(),
                PORTAL_METADATA_VALUE.to_owned(),
            )])
        } else {
            Metadata::new()
        },
        ..PortalConfiguration::default()
    };
    let newest_first = [
        config("bpc_new", true, true),
        config("bpc_default", false, true),
        config("bpc_old", true, true),
        config("bpc_retired", true, false),
    ];
    assert_eq!(
        find_portal_configuration(&newest_first).map(|c| c.id.as_str()),
        Some("bpc_old")
    );
    assert_eq!(find_portal_configuration(&newest_first[1..2]), None);
}
