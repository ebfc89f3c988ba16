use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use tierflow::http::{error_response, ApiError};

use crate::page::Site;

/// Serves the page or one of its assets; anything else is the error envelope's 404.
pub(crate) async fn handle(site: &Site, req: Request) -> Result<Response<Body>, Error> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(error_response(&ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the billing page answers GET only",
        )));
    }
    let Some(asset) = site.asset(req.uri().path()) else {
        return Ok(error_response(&ApiError::not_found(
            "not_found",
            "no such page or asset",
        )));
    };
    let mut response = Response::new(Body::Text(asset.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(site.content_security_policy()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PageConfig;

    fn site() -> Site {
        Site::new(&PageConfig {
            api_base_url: String::new(),
            oidc_issuer: "http://127.0.0.1:8080/realms/tierflow".into(),
            oidc_client_id: "tierflow-billing-page".into(),
            stripe_js_url: "https://js.stripe.com/v3".into(),
        })
        .unwrap()
    }

    fn get(path: &str) -> Request {
        let mut req =
            lambda_http::request::from_str(include_str!("../../../events/billing-page.json"))
                .unwrap();
        *req.uri_mut() = format!("https://example.com{path}").parse().unwrap();
        req
    }

    #[tokio::test]
    async fn serves_the_page_and_its_assets_and_404s_the_rest() {
        let site = site();
        let page = handle(&site, get("/billing")).await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("js.stripe.com"));
        let Body::Text(html) = page.body() else {
            panic!("text body")
        };
        assert!(html.contains("tierflow-billing-page"));
        assert!(html.contains("/billing/app.js"));

        for (path, content_type) in [
            ("/billing/app.js", "text/javascript; charset=utf-8"),
            ("/billing/app.css", "text/css; charset=utf-8"),
        ] {
            let resp = handle(&site, get(path)).await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(resp.headers()["content-type"], content_type);
        }
        let missing = handle(&site, get("/billing/secret.txt")).await.unwrap();
        assert_eq!(missing.status(), 404);
        let body: serde_json::Value = serde_json::from_slice(missing.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}
