use super::*;
use crate::domain::tier::tier;

#[test]
fn built_in_catalog_matches_the_design() {
    let c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
    let amounts = [
        (tier("trial"), BillingCycle::Monthly, Some(100)),
        (tier("trial"), BillingCycle::Yearly, None),
        (tier("starter"), BillingCycle::Monthly, Some(1900)),
        (tier("starter"), BillingCycle::Yearly, Some(19000)),
        (tier("professional"), BillingCycle::Monthly, Some(4900)),
        (tier("professional"), BillingCycle::Yearly, Some(49000)),
        (tier("enterprise"), BillingCycle::Monthly, Some(9900)),
        (tier("enterprise"), BillingCycle::Yearly, Some(99000)),
        (tier("free"), BillingCycle::Monthly, None),
    ];
    for (tier, cycle, want) in amounts {
        assert_eq!(
            c.price(&tier, cycle).map(|p| p.unit_amount),
            want,
            "{tier} {cycle}"
        );
    }
    assert_eq!(c.currency.as_str(), "usd");
    assert_eq!(c.lookup_keys().len(), 7);
}

#[test]
fn lookup_keys_map_back_to_tier_and_cycle() {
    let c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
    assert_eq!(
        c.by_lookup_key("tierflow_professional_yearly"),
        Some((tier("professional"), BillingCycle::Yearly))
    );
    assert_eq!(c.by_lookup_key("someone_elses_price"), None);
}

#[test]
fn prices_resolve_by_key_then_marks_then_legacy_list_then_product() {
    let mut c = Catalog::parse(BUILT_IN_CATALOG).unwrap();
    c.legacy_prices.push(LegacyPrice {
        price_id: "price_old_pro".into(),
        tier: tier("professional"),
        cycle: BillingCycle::Yearly,
    });
    let base = PriceFacts {
        price_id: "price_x",
        ..PriceFacts::default()
    };
    let plan = |tier, cycle, legacy| {
        Some(PlanMatch {
            tier,
            cycle,
            legacy,
        })
    };
    let cases = [
        (
            "current lookup key",
            PriceFacts {
                lookup_key: Some("tierflow_starter_monthly"),
                tier_mark: Some("enterprise"),
                cycle_mark: Some("yearly"),
                ..base
            },
            plan(tier("starter"), BillingCycle::Monthly, false),
        ),
        (
            "grandfathered: marks stay after the key moved",
            PriceFacts {
                tier_mark: Some("starter"),
                cycle_mark: Some("monthly"),
                ..base
            },
            plan(tier("starter"), BillingCycle::Monthly, true),
        ),
        (
            "foreign lookup key, but marked",
            PriceFacts {
                lookup_key: Some("someone_elses"),
                tier_mark: Some("professional"),
                cycle_mark: Some("monthly"),
                ..base
            },
            plan(tier("professional"), BillingCycle::Monthly, true),
        ),
        (
            "listed legacy price",
            PriceFacts {
                price_id: "price_old_pro",
                ..base
            },
            plan(tier("professional"), BillingCycle::Yearly, true),
        ),
        (
            "custom price on a tier's product, expanded",
            PriceFacts {
                product_tier_mark: Some("enterprise"),
                product_id: Some("prod_dash"),
                interval: Some("year"),
                ..base
            },
            plan(tier("enterprise"), BillingCycle::Yearly, true),
        ),
        (
            "custom price on catalog-sync's product id",
            PriceFacts {
                product_id: Some("tierflow_starter"),
                interval: Some("month"),
                interval_count: Some(1),
                ..base
            },
            plan(tier("starter"), BillingCycle::Monthly, true),
        ),
        (
            "custom price billing every three months",
            PriceFacts {
                product_id: Some("tierflow_starter"),
                interval: Some("month"),
                interval_count: Some(3),
                ..base
            },
            None,
        ),
        (
            "a mark naming free grants nothing",
            PriceFacts {
                tier_mark: Some("free"),
                cycle_mark: Some("monthly"),
                product_id: Some("tierflow_free"),
                interval: Some("month"),
                ..base
            },
            None,
        ),
        (
            "half a mark",
            PriceFacts {
                tier_mark: Some("starter"),
                ..base
            },
            None,
        ),
        (
            "a foreign product",
            PriceFacts {
                product_id: Some("prod_foreign"),
                interval: Some("month"),
                ..base
            },
            None,
        ),
    ];
    for (name, facts, want) in cases {
        assert_eq!(c.resolve_price(&facts), want, "{name}");
    }
}

#[test]
fn invalid_catalogs_are_refused_with_a_reason() {
    type Breakage = fn(&mut serde_json::Value);
    let cases: [(&str, Breakage, &str); 11] = [
        (
            "a lookup key twice",
            |v| v["tiers"][2]["prices"][0]["lookup_key"] = "tierflow_trial_monthly".into(),
            "used twice",
        ),
        (
            "a negative amount",
            |v| v["tiers"][3]["prices"][0]["unit_amount"] = (-5).into(),
            "positive",
        ),
        (
            "no free tier",
            |v| v["tiers"][0]["free"] = false.into(),
            "exactly one tier must be marked free",
        ),
        (
            "two free tiers",
            |v| {
                v["tiers"][1]["free"] = true.into();
                v["tiers"][1]["prices"] = serde_json::json!([]);
            },
            "exactly one tier must be marked free",
        ),
        (
            "free above a paid tier",
            |v| v["tiers"][0]["rank"] = 9.into(),
            "lowest rank",
        ),
        (
            "two tiers of one rank",
            |v| v["tiers"][3]["rank"] = 2.into(),
            "same rank",
        ),
        (
            "one name twice",
            |v| v["tiers"][3]["tier"] = "starter".into(),
            "defined twice",
        ),
        (
            "a free tier with a price",
            |v| {
                v["tiers"][0]["prices"] =
                    serde_json::json!([{"cycle": "monthly", "unit_amount": 5, "lookup_key": "k"}]);
            },
            "has no Stripe price",
        ),
        (
            "a paid tier without a monthly price",
            |v| {
                v["tiers"][1]["prices"] =
                    serde_json::json!([{"cycle": "yearly", "unit_amount": 500, "lookup_key": "k"}]);
            },
            "needs a monthly price",
        ),
        (
            "a malformed tier name",
            |v| v["tiers"][2]["tier"] = "Gold Plan".into(),
            "not a tier name",
        ),
        (
            "a legacy price of the free tier",
            |v| {
                v["legacy_prices"] = serde_json::json!([{"price_id": "price_1", "tier": "free", "cycle": "monthly"}]);
            },
            "paid tier of the catalog",
        ),
    ];
    for (name, breakage, reason) in cases {
        let mut value: serde_json::Value = serde_json::from_str(BUILT_IN_CATALOG).unwrap();
        breakage(&mut value);
        let err = Catalog::parse(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains(reason), "{name}: {err}");
    }
    assert!(Catalog::parse("{").is_err());
}

#[test]
fn a_catalog_of_other_names_ranks_by_its_own_ranks() {
    let c = Catalog::parse(
        r#"{"currency": "eur", "tiers": [
            {"tier": "business", "rank": 30, "name": "Business", "lago_plan_code": "b", "entitlements": {},
             "prices": [{"cycle": "monthly", "unit_amount": 9900, "lookup_key": "acme_business_monthly"}]},
            {"tier": "hobby", "rank": 0, "free": true, "name": "Hobby", "lago_plan_code": "h", "entitlements": {}, "prices": []},
            {"tier": "team", "rank": 10, "name": "Team", "lago_plan_code": "t", "entitlements": {},
             "prices": [{"cycle": "monthly", "unit_amount": 2900, "lookup_key": "acme_team_monthly"}]}
        ]}"#,
    )
    .unwrap();
    let names: Vec<&str> = c.tiers.iter().map(|t| t.tier.as_str()).collect();
    assert_eq!(names, ["hobby", "team", "business"]);
    assert_eq!(c.free_tier().as_str(), "hobby");
    let (team, business) = (tier("team"), tier("business"));
    assert!(c.ranks_above(&business, &team));
    assert!(!c.ranks_above(&team, &business));
    assert!(c.is_free(&tier("hobby")) && !c.is_free(&team));
    assert_eq!(c.tier_named(" Team ").unwrap().name, "Team");
    let unknown = c.tier_named("starter").unwrap_err().0;
    assert!(unknown.contains("hobby, team, business"), "{unknown}");
    assert_eq!(c.paid_tiers().count(), 2);
    assert_eq!(
        c.by_lookup_key("acme_team_monthly"),
        Some((team, BillingCycle::Monthly))
    );
}
