use lambda_http::{Error, Request};
use tierflow::config::PublishableKey;
use tierflow::domain::Catalog;
use tierflow::http::{reply, Reply};
use tierflow::service::billing_config::billing_config;

/// What the handler needs, built once at init.
pub(crate) struct Deps {
    pub catalog: Catalog,
    pub publishable_key: PublishableKey,
}

impl Deps {
    pub(crate) fn from_env() -> Result<Self, Error> {
        Ok(Self {
            catalog: tierflow::config::load_catalog()?,
            publishable_key: PublishableKey::from_env()?,
        })
    }
}

pub(crate) async fn handle(deps: &Deps, _req: Request) -> Reply {
    reply(Ok(billing_config(&deps.catalog, &deps.publishable_key.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierflow::domain::catalog::BUILT_IN_CATALOG;

    #[tokio::test]
    async fn serves_the_catalog_without_auth() {
        let deps = Deps {
            catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            publishable_key: PublishableKey("pk_test_local".into()),
        };
        let req =
            lambda_http::request::from_str(include_str!("../../../events/billing-config.json"))
                .unwrap();
        let resp = handle(&deps, req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(body["publishable_key"], "pk_test_local");
        assert_eq!(body["plans"].as_array().unwrap().len(), 5);
        assert_eq!(body["plans"][2]["prices"][1]["amount"], 19000);
    }
}
