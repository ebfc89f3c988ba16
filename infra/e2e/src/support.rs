//! Shared helpers for end-to-end tests: the stack under test, Keycloak, the table and queues.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tierflow::stripe::Form;

/// The base URL of `cargo lambda watch` and the Keycloak that issues the callers' tokens.
pub struct Stack {
    /// `TIERFLOW_E2E_BASE`: where `cargo lambda watch` serves the API, without a trailing `/`.
    pub base: String,
    /// The Keycloak that signs the test users in (`KEYCLOAK_URL`).
    pub keycloak: Keycloak,
    /// Shared by every call, with a 120 s timeout so a hung function fails the test.
    pub http: reqwest::Client,
}

/// The stack's Keycloak (started by `infra/test.sh`): users are created through its admin API
/// and signed in with the password grant of the test-only client `tierflow-e2e`.
pub struct Keycloak {
    /// `KEYCLOAK_URL`, without a trailing `/`.
    pub url: String,
    admin_password: String,
    http: reqwest::Client,
    admin_token: tokio::sync::Mutex<Option<(String, std::time::Instant)>>,
}

/// The realm the API trusts.
pub const REALM: &str = "tierflow";
/// The audience (`aud`) the API requires of that realm's tokens.
pub const AUDIENCE: &str = "tierflow-api";
/// A key Keycloak never saw (Tierflow's unit tests sign with it too).
const FOREIGN_KEY: &str = include_str!("../../../shared/testdata/jwt-test-key-not-in-jwks.pem");

impl Stack {
    /// Reads the stack started by `infra/test.sh`; these tests only run there (`--ignored`).
    pub fn from_env() -> Self {
        let base = std::env::var("TIERFLOW_E2E_BASE")
            .expect("TIERFLOW_E2E_BASE: run through infra/test.sh");
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .expect("http client");
        Self {
            base,
            keycloak: Keycloak::from_env(http.clone()),
            http,
        }
    }

    /// The API's address for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new Keycloak user (username `<prefix>-<nanos>`, email `<username>@example.com`) and
    /// an access token Keycloak issued them: `(user id = the token's sub, token)`.
    pub async fn user(&self, prefix: &str) -> (String, String) {
        let username = unique_user(prefix).to_lowercase();
        let email = format!("{username}@example.com");
        self.keycloak
            .create_user(REALM, &username, &email, json!({}))
            .await;
        let token = self
            .keycloak
            .sign_in(REALM, "tierflow-e2e", &username)
            .await;
        (self.keycloak.user_id(REALM, &username).await, token)
    }

    /// A token naming `sub` with Keycloak's issuer, audience and current key id, signed by a
    /// key Keycloak does not publish.
    pub async fn forged_token(&self, sub: &str) -> String {
        let kid = self.keycloak.signing_kid(REALM).await;
        let now = now();
        let claims = json!({"sub": sub, "email": format!("{sub}@example.com"),
            "iss": self.keycloak.issuer(REALM), "aud": AUDIENCE, "iat": now, "exp": now + 600});
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid);
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(FOREIGN_KEY.as_bytes()).expect("test key"),
        )
        .expect("sign")
    }

    /// A token Keycloak issued for a new user that has expired (client `tierflow-e2e-short-lived`
    /// issues tokens valid for 2 seconds).
    pub async fn expired_token(&self, prefix: &str) -> String {
        let username = unique_user(prefix).to_lowercase();
        let email = format!("{username}@example.com");
        self.keycloak
            .create_user(REALM, &username, &email, json!({}))
            .await;
        let token = self
            .keycloak
            .sign_in(REALM, "tierflow-e2e-short-lived", &username)
            .await;
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        token
    }

    /// One call to the API as `token`'s bearer, with a JSON body when given: the status and
    /// the JSON body (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Starts Checkout through the API with `body` (`tier`, `billing_cycle`, `promotion_code`):
    /// the session's id.
    pub async fn checkout(&self, token: &str, body: Value) -> String {
        let (status, answer) = self
            .call("POST", "/api/v1/billing/checkout", token, Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["session_id"]
            .as_str()
            .expect("a Checkout session")
            .to_owned()
    }

    /// Polls the caller's `/subscriptions/current` until `done` holds (webhooks and syncs
    /// arrive asynchronously), for two minutes at most.
    pub async fn current_until(
        &self,
        token: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        for _ in 0..300 {
            let (status, body) = self.get("/api/v1/subscriptions/current", Some(token)).await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            last = body;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("{what} never happened; last state {last}");
    }

    /// Invokes a non-HTTP function the way Lambda would; its answer.
    pub async fn invoke(&self, function: &str, payload: Value) -> Value {
        let resp = self
            .http
            .post(self.url(&format!("/2015-03-31/functions/{function}/invocations")))
            .json(&payload)
            .send()
            .await
            .expect("invoke");
        assert!(resp.status().is_success(), "{function}: {}", resp.status());
        resp.json().await.expect("json")
    }

    /// GETs `path` of the API, as `token`'s bearer if any: the status and the JSON body
    /// (`Null` when the body is not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

impl Keycloak {
    fn from_env(http: reqwest::Client) -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through infra/test.sh"))
        };
        Self {
            url: var("KEYCLOAK_URL"),
            admin_password: var("KEYCLOAK_ADMIN_PASSWORD"),
            http,
            admin_token: tokio::sync::Mutex::new(None),
        }
    }

    /// The `iss` of `realm`'s tokens.
    pub fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.url)
    }

    /// Every test user's password: the username reversed and salted (no secret; local only).
    fn password(username: &str) -> String {
        format!("pw-{}-e2e", username.chars().rev().collect::<String>())
    }

    /// The master realm's admin token, renewed before its minute of validity runs out.
    async fn admin_token(&self) -> String {
        let mut cached = self.admin_token.lock().await;
        if let Some((token, at)) = cached.as_ref() {
            if at.elapsed() < std::time::Duration::from_secs(40) {
                return token.clone();
            }
        }
        let form = Form::new()
            .field("grant_type", "password")
            .field("client_id", "admin-cli")
            .field("username", "admin")
            .field("password", self.admin_password.as_str());
        let body: Value = self
            .http
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.url
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.encode())
            .send()
            .await
            .expect("admin token")
            .json()
            .await
            .expect("admin token json");
        let token = body["access_token"]
            .as_str()
            .expect("admin access token")
            .to_owned();
        *cached = Some((token.clone(), std::time::Instant::now()));
        token
    }

    /// One admin REST call: `(status, body)`.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/admin/realms/{path}", self.url))
            .bearer_auth(self.admin_token().await);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("keycloak admin call");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates a user with a password (and `extra` fields of the representation).
    pub async fn create_user(&self, realm: &str, username: &str, email: &str, extra: Value) {
        let mut user = json!({"username": username, "email": email, "emailVerified": true,
            "enabled": true, "firstName": "E2e", "lastName": "Tester",
            "credentials": [{"type": "password", "value": Self::password(username), "temporary": false}]});
        for (k, v) in extra.as_object().expect("extra fields") {
            user[k] = v.clone();
        }
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                &format!("{realm}/users"),
                Some(&user),
            )
            .await;
        assert_eq!(status, 201, "creating {username} in {realm}: {body}");
    }

    /// The id of `username` in `realm`.
    pub async fn user_id(&self, realm: &str, username: &str) -> String {
        let (status, users) = self
            .admin(
                reqwest::Method::GET,
                &format!("{realm}/users?username={username}&exact=true"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{users}");
        users[0]["id"].as_str().expect("user id").to_owned()
    }

    /// The user's representation as the admin API returns it.
    pub async fn user(&self, realm: &str, id: &str) -> (u16, Value) {
        self.admin(reqwest::Method::GET, &format!("{realm}/users/{id}"), None)
            .await
    }

    /// An access token for `username` through `client`'s password grant.
    pub async fn sign_in(&self, realm: &str, client: &str, username: &str) -> String {
        let password = Self::password(username);
        let form = Form::new()
            .field("grant_type", "password")
            .field("client_id", client)
            .field("username", username)
            .field("password", password.as_str());
        let resp = self
            .http
            .post(format!(
                "{}/protocol/openid-connect/token",
                self.issuer(realm)
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.encode())
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, 200,
            "signing {username} in through {client}: {body}"
        );
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// The `kid` of the realm's RS256 signing key.
    pub async fn signing_kid(&self, realm: &str) -> String {
        let jwks: Value = self
            .http
            .get(format!(
                "{}/protocol/openid-connect/certs",
                self.issuer(realm)
            ))
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json");
        jwks["keys"]
            .as_array()
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k["use"] == "sig" && k["alg"] == "RS256")
            })
            .and_then(|k| k["kid"].as_str())
            .expect("an RS256 signing key")
            .to_owned()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A name no other test uses (user names, idempotency keys, event ids).
pub fn unique_user(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos}")
}

/// The stack's table (where the sync worker records permanent failures, among the rest).
pub async fn table_store() -> tierflow::adapters::dynamodb::DynamoStore {
    let endpoint = std::env::var("TIERFLOW_TEST_AWS_ENDPOINT").expect("run through infra/test.sh");
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME: run through infra/test.sh");
    let aws = tierflow::adapters::aws::sdk_config_for_endpoint(&endpoint).await;
    tierflow::adapters::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)
}

/// Whether the sync dead-letter queue holds a job naming `user`.
pub async fn dead_lettered(user: &str) -> bool {
    let endpoint = std::env::var("TIERFLOW_TEST_AWS_ENDPOINT").expect("run through infra/test.sh");
    let dlq = std::env::var("SYNC_DLQ_URL").expect("SYNC_DLQ_URL: run through infra/test.sh");
    let sqs = aws_sdk_sqs::Client::new(
        &tierflow::adapters::aws::sdk_config_for_endpoint(&endpoint).await,
    );
    let received = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive from the DLQ");
    received
        .messages()
        .iter()
        .any(|m| m.body().is_some_and(|b| b.contains(user)))
}

/// The messages of the local outbox (`EMAIL_OUTBOX_DIR`) sent to `to`, as written: `template`,
/// `subject`, `html` and the rest.
pub fn outbox_for(to: &str) -> Vec<Value> {
    let dir =
        std::env::var("EMAIL_OUTBOX_DIR").expect("EMAIL_OUTBOX_DIR: run through infra/test.sh");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| std::fs::read(path).ok())
        .filter_map(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(|entry| entry["to"] == to)
        .collect()
}

/// Waits (a minute and a half at most) for a `template` email to `to`; returns it.
pub async fn outbox_until(to: &str, template: &str) -> Value {
    for _ in 0..300 {
        if let Some(found) = outbox_for(to)
            .into_iter()
            .find(|m| m["template"] == template)
        {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let templates: Vec<Value> = outbox_for(to)
        .into_iter()
        .map(|m| m["template"].clone())
        .collect();
    panic!("no {template} email to {to} in the outbox: {templates:?}");
}
