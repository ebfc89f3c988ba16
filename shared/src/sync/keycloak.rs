//! Keycloak's admin REST API: a client-credentials token cached until shortly before it expires,
//! the user found by id (or by email for a first link), and a read-modify-write merge of the
//! subscription attributes. `PUT /users/{id}` replaces the whole attribute map, so the user's
//! other attributes are read first and sent back untouched.

use super::{path_segment, snippet};
use crate::adapters::https::integration_client;
use crate::config::{ConfigError, Env, EnvSource, Secret};
use crate::domain::time::UnixTime;
use crate::ports::Clock;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The attributes Tierflow owns on a Keycloak user; every other attribute is left alone.
pub const SUBSCRIPTION_ATTRIBUTES: [&str; 6] = [
    "subscription_tier",
    "subscription_status",
    "stripe_customer_id",
    "stripe_subscription_id",
    "subscription_start_date",
    "subscription_end_date",
];

/// A token is renewed this long before Keycloak says it expires (at most half its lifetime).
const TOKEN_RENEWAL_MARGIN_SECONDS: i64 = 30;

/// Where Keycloak is and the confidential client Tierflow signs in as. The client needs a
/// service account with the realm-management roles `view-users`, `query-users` and
/// `manage-users`.
#[derive(Debug, Clone)]
pub struct KeycloakConfig {
    /// Server root, e.g. `https://keycloak.example.com` (no `/realms/...`).
    pub base_url: String,
    /// `KEYCLOAK_REALM`: the realm whose users Tierflow updates (and whose token it gets).
    pub realm: String,
    /// `KEYCLOAK_CLIENT_ID`: the confidential client with the service account.
    pub client_id: String,
    /// `KEYCLOAK_CLIENT_SECRET`, for the client-credentials grant.
    pub client_secret: Secret,
}

impl KeycloakConfig {
    /// `KEYCLOAK_BASE_URL` enables the sync; then `KEYCLOAK_REALM`, `KEYCLOAK_CLIENT_ID` and
    /// `KEYCLOAK_CLIENT_SECRET` are required. `None` when the sync is not configured.
    pub fn load(source: &dyn EnvSource) -> Result<Option<Self>, ConfigError> {
        let env = Env(source);
        let Some(base_url) = env.optional("KEYCLOAK_BASE_URL") else {
            return Ok(None);
        };
        Ok(Some(Self {
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            realm: env.required("KEYCLOAK_REALM")?,
            client_id: env.required("KEYCLOAK_CLIENT_ID")?,
            client_secret: env.secret("KEYCLOAK_CLIENT_SECRET")?,
        }))
    }
}

/// Why a Keycloak call did not succeed. [`KeycloakError::is_permanent`] tells a refusal no
/// retry can change from an outage.
#[derive(Debug, thiserror::Error)]
pub enum KeycloakError {
    /// No answer (connection refused, timeout): an outage, retried.
    #[error("Keycloak unreachable during {operation}: {detail}")]
    Unreachable {
        /// What Tierflow was doing, e.g. `update user`.
        operation: &'static str,
        /// reqwest's error, as text.
        detail: String,
    },
    /// A status other than success; permanent per [`KeycloakError::is_permanent`].
    #[error("Keycloak answered {status} to {operation}: {detail}")]
    Status {
        /// What Tierflow was doing, e.g. `update user`.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of Keycloak's answer (at most 300 characters), or why it was refused.
        detail: String,
    },
    /// A success whose body does not parse as the admin API documents it: retried.
    #[error("Keycloak's answer to {operation} is not what its API documents: {detail}")]
    Decode {
        /// What Tierflow was doing, e.g. `get user`.
        operation: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// Neither the user id nor the profile's email finds a Keycloak user: permanent.
    #[error("no Keycloak user with id {user_id} (nor with the profile's email)")]
    UserNotFound {
        /// The Tierflow user id, which is the Keycloak user's id.
        user_id: String,
    },
    /// No user has the profile's id, and several share its email: permanent.
    #[error("more than one Keycloak user has the profile's email: no user has the profile's id, and the email cannot tell which one it is")]
    AmbiguousEmail,
    /// Keycloak dropped attributes its realm's user profile does not declare: permanent.
    #[error("Keycloak accepted the update of user {user_id} but did not store {}: declare them in realm {realm}'s user profile (editable by admins), or set its unmanagedAttributePolicy to ENABLED or ADMIN_EDIT", .attributes.join(", "))]
    AttributesNotStored {
        /// The Keycloak user that was updated.
        user_id: String,
        /// The realm whose user profile must declare them.
        realm: String,
        /// The attribute names Keycloak did not keep.
        attributes: Vec<String>,
    },
}

impl KeycloakError {
    /// A missing user, or a 4xx other than an expired token (401), a timeout (408) or a rate
    /// limit (429): the same request will be refused again.
    pub fn is_permanent(&self) -> bool {
        match self {
            KeycloakError::UserNotFound { .. }
            | KeycloakError::AmbiguousEmail
            | KeycloakError::AttributesNotStored { .. } => true,
            KeycloakError::Status { status, .. } => is_permanent_status(*status),
            KeycloakError::Unreachable { .. } | KeycloakError::Decode { .. } => false,
        }
    }
}

/// 4xx answers that a retry of the same request cannot change. A 409 is a conflict with a
/// concurrent write (two jobs updating one Keycloak user at once): a retry reads afresh.
pub(crate) fn is_permanent_status(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 408 | 409 | 429)
}

/// A Keycloak user as the admin API returned it. The full representation is kept so a PUT
/// sends back every field it did not mean to change.
#[derive(Debug, Clone, PartialEq)]
pub struct KeycloakUser {
    /// Keycloak's user id (Tierflow's user id, once linked).
    pub id: String,
    /// The user's email in Keycloak, when it has one.
    pub email: Option<String>,
    /// First and last name joined, when Keycloak has either.
    pub name: Option<String>,
    representation: Value,
}

impl KeycloakUser {
    fn from_representation(representation: Value) -> Result<Self, KeycloakError> {
        let text = |key: &str| {
            representation
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let id = text("id").ok_or(KeycloakError::Decode {
            operation: "get user",
            detail: "the user representation has no id".into(),
        })?;
        let name = match (text("firstName"), text("lastName")) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (first, last) => first.or(last),
        };
        Ok(Self {
            id,
            email: text("email"),
            name,
            representation,
        })
    }

    /// The first value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.representation
            .get("attributes")?
            .get(name)?
            .as_array()?
            .first()?
            .as_str()
    }
}

/// Merges `wanted` into a user representation's attributes: `Some` sets a single value, `None`
/// removes the attribute; attributes not named are kept. Returns whether anything changed.
pub fn merge_attributes(
    representation: &mut Value,
    wanted: &BTreeMap<&'static str, Option<String>>,
) -> bool {
    let Some(user) = representation.as_object_mut() else {
        return false;
    };
    let attributes = user
        .entry("attributes")
        .or_insert_with(|| Value::Object(Default::default()));
    if !attributes.is_object() {
        *attributes = Value::Object(Default::default());
    }
    let Some(map) = attributes.as_object_mut() else {
        return false;
    };
    let mut changed = false;
    for (name, value) in wanted {
        match value {
            Some(v) => {
                let new = Value::Array(vec![Value::String(v.clone())]);
                if map.get(*name) != Some(&new) {
                    map.insert((*name).to_owned(), new);
                    changed = true;
                }
            }
            None => changed |= map.remove(*name).is_some(),
        }
    }
    changed
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
}

struct CachedToken {
    value: String,
    renew_at: UnixTime,
}

/// The Keycloak admin client.
pub struct KeycloakClient {
    http: reqwest::Client,
    config: KeycloakConfig,
    clock: Arc<dyn Clock>,
    token: Mutex<Option<CachedToken>>,
}

impl KeycloakClient {
    /// A client for `config`'s realm; `clock` decides when the cached token is renewed.
    pub fn new(config: KeycloakConfig, clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: integration_client()?,
            config,
            clock,
            token: Mutex::new(None),
        })
    }

    /// The realm and server, for the startup line.
    pub fn describe(&self) -> String {
        format!("realm {} at {}", self.config.realm, self.config.base_url)
    }

    fn admin_url(&self, rest: &str) -> String {
        format!(
            "{}/admin/realms/{}/{rest}",
            self.config.base_url,
            path_segment(&self.config.realm)
        )
    }

    /// A valid access token: the cached one until shortly before it expires, else a new one.
    async fn access_token(&self) -> Result<String, KeycloakError> {
        let mut cached = self.token.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref().filter(|t| now < t.renew_at) {
            return Ok(token.value.clone());
        }
        const OP: &str = "client-credentials token";
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.config.base_url,
            path_segment(&self.config.realm)
        );
        let form = crate::stripe::Form::new()
            .field("grant_type", "client_credentials")
            .field("client_id", self.config.client_id.as_str())
            .field("client_secret", self.config.client_secret.expose());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form.encode())
            .send()
            .await
            .map_err(|e| unreachable(OP, e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| unreachable(OP, e))?;
        if !status.is_success() {
            // The body is an OAuth error (`invalid_client`, ...), never the secret.
            return Err(KeycloakError::Status {
                operation: OP,
                status: status.as_u16(),
                detail: snippet(&body, 300),
            });
        }
        let token: TokenResponse =
            serde_json::from_str(&body).map_err(|e| KeycloakError::Decode {
                operation: OP,
                detail: e.to_string(),
            })?;
        let margin = TOKEN_RENEWAL_MARGIN_SECONDS.min(token.expires_in / 2);
        *cached = Some(CachedToken {
            value: token.access_token.clone(),
            renew_at: now + token.expires_in - margin,
        });
        Ok(token.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// One admin call with the bearer token. A 401 means the token was revoked or the realm's
    /// keys rotated: the token is dropped and the call made once more with a fresh one.
    async fn admin(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), KeycloakError> {
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token)
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| unreachable(operation, e))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| unreachable(operation, e))?;
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            return Ok((status, text));
        }
        Err(KeycloakError::Status {
            operation,
            status: 401,
            detail: "a fresh token was refused too".into(),
        })
    }

    /// `GET /admin/realms/{realm}/users/{id}`; `None` when there is no such user.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<KeycloakUser>, KeycloakError> {
        const OP: &str = "get user";
        let url = self.admin_url(&format!("users/{}", path_segment(id)));
        let (status, body) = self.admin(OP, Method::GET, &url, None).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let value: Value =
                    serde_json::from_str(&body).map_err(|e| KeycloakError::Decode {
                        operation: OP,
                        detail: e.to_string(),
                    })?;
                KeycloakUser::from_representation(value).map(Some)
            }
            s => Err(status_error(OP, s, &body)),
        }
    }

    /// `GET /admin/realms/{realm}/users?email=...&exact=true`; the user when exactly one has it.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<KeycloakUser>, KeycloakError> {
        const OP: &str = "find user by email";
        let query = crate::stripe::Form::new()
            .field("email", email)
            .field("exact", true)
            .encode();
        let url = self.admin_url(&format!("users?{query}"));
        let (status, body) = self.admin(OP, Method::GET, &url, None).await?;
        if !status.is_success() {
            return Err(status_error(OP, status, &body));
        }
        let users: Vec<Value> = serde_json::from_str(&body).map_err(|e| KeycloakError::Decode {
            operation: OP,
            detail: e.to_string(),
        })?;
        let mut matching = users.into_iter().filter(|u| {
            u.get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        match (matching.next(), matching.next()) {
            (Some(user), None) => KeycloakUser::from_representation(user).map(Some),
            // Two users with one email: linking either could hand a tier to the wrong person.
            (Some(_), Some(_)) => Err(KeycloakError::AmbiguousEmail),
            (None, _) => Ok(None),
        }
    }

    /// The Tierflow user in Keycloak: by id (Tierflow's user id is the token's `sub`, which is
    /// the Keycloak user id), else by email for a user first linked by address.
    pub async fn find_user(
        &self,
        user_id: &str,
        email: Option<&str>,
    ) -> Result<KeycloakUser, KeycloakError> {
        if let Some(user) = self.user_by_id(user_id).await? {
            return Ok(user);
        }
        if let Some(email) = email {
            if let Some(user) = self.user_by_email(email).await? {
                return Ok(user);
            }
        }
        Err(KeycloakError::UserNotFound {
            user_id: user_id.to_owned(),
        })
    }

    /// Sets Tierflow's attributes on the user, keeping every other attribute: the
    /// representation just read is sent back with only these changed. No PUT when nothing
    /// changed. Keycloak answers 204 even when its user profile drops attributes it does not
    /// manage, so the user is read back and compared: attributes that did not stick are
    /// [`KeycloakError::AttributesNotStored`]. Returns the user as it now is.
    pub async fn merge_user_attributes(
        &self,
        user: KeycloakUser,
        wanted: &BTreeMap<&'static str, Option<String>>,
    ) -> Result<KeycloakUser, KeycloakError> {
        const OP: &str = "update user";
        let mut representation = user.representation;
        if !merge_attributes(&mut representation, wanted) {
            return KeycloakUser::from_representation(representation);
        }
        let url = self.admin_url(&format!("users/{}", path_segment(&user.id)));
        let (status, body) = self
            .admin(OP, Method::PUT, &url, Some(&representation))
            .await?;
        if !status.is_success() {
            return Err(status_error(OP, status, &body));
        }
        let stored =
            self.user_by_id(&user.id)
                .await?
                .ok_or_else(|| KeycloakError::UserNotFound {
                    user_id: user.id.clone(),
                })?;
        let missing = attributes_not_stored(&stored, wanted);
        if !missing.is_empty() {
            return Err(KeycloakError::AttributesNotStored {
                user_id: user.id,
                realm: self.config.realm.clone(),
                attributes: missing,
            });
        }
        Ok(stored)
    }
}

/// The attributes of `wanted` that `stored` does not hold as asked (set to another value, or
/// still present although `wanted` removes it).
pub fn attributes_not_stored(
    stored: &KeycloakUser,
    wanted: &BTreeMap<&'static str, Option<String>>,
) -> Vec<String> {
    wanted
        .iter()
        .filter(|(name, value)| stored.attribute(name) != value.as_deref())
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

fn unreachable(operation: &'static str, e: reqwest::Error) -> KeycloakError {
    KeycloakError::Unreachable {
        operation,
        detail: e.to_string(),
    }
}

fn status_error(operation: &'static str, status: StatusCode, body: &str) -> KeycloakError {
    KeycloakError::Status {
        operation,
        status: status.as_u16(),
        detail: snippet(body, 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_sets_ours_removes_cleared_and_keeps_the_rest() {
        let mut user = json!({
            "id": "u1",
            "attributes": {
                "department": ["sales"],
                "locale": ["fr"],
                "subscription_tier": ["starter"],
                "stripe_subscription_id": ["sub_old"]
            }
        });
        let wanted = BTreeMap::from([
            ("subscription_tier", Some("enterprise".to_owned())),
            ("stripe_subscription_id", None),
        ]);
        assert!(merge_attributes(&mut user, &wanted));
        assert_eq!(
            user["attributes"],
            json!({
                "department": ["sales"],
                "locale": ["fr"],
                "subscription_tier": ["enterprise"]
            })
        );
        assert!(
            !merge_attributes(&mut user, &wanted),
            "a second merge changes nothing"
        );
    }

    #[test]
    fn attributes_that_did_not_stick_are_named() {
        let stored = KeycloakUser::from_representation(json!({
            "id": "u1",
            "attributes": {"subscription_tier": ["starter"], "stripe_subscription_id": ["sub_1"]}
        }))
        .unwrap();
        let wanted = BTreeMap::from([
            ("subscription_tier", Some("starter".to_owned())),
            ("subscription_status", Some("active".to_owned())),
            ("stripe_subscription_id", None),
            ("stripe_customer_id", None),
        ]);
        assert_eq!(
            attributes_not_stored(&stored, &wanted),
            ["stripe_subscription_id", "subscription_status"]
        );
        let err = KeycloakError::AttributesNotStored {
            user_id: "u1".into(),
            realm: "app".into(),
            attributes: vec!["subscription_status".into()],
        };
        assert!(err.is_permanent());
        assert!(
            err.to_string().contains("unmanagedAttributePolicy"),
            "{err}"
        );
        assert!(KeycloakError::AmbiguousEmail.is_permanent());
    }

    #[test]
    fn merging_into_a_user_without_attributes_creates_them() {
        let mut user = json!({"id": "u1", "username": "alice"});
        let wanted = BTreeMap::from([("subscription_tier", Some("trial".to_owned()))]);
        assert!(merge_attributes(&mut user, &wanted));
        assert_eq!(user["attributes"]["subscription_tier"], json!(["trial"]));
        assert_eq!(user["username"], "alice");
    }

    #[test]
    fn config_is_off_without_a_base_url_and_strict_with_one() {
        let env = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(KeycloakConfig::load(&env(&[])).unwrap().is_none());
        let err = KeycloakConfig::load(&env(&[("KEYCLOAK_BASE_URL", "https://kc")])).unwrap_err();
        assert_eq!(err.to_string(), "KEYCLOAK_REALM must be set");
        let cfg = KeycloakConfig::load(&env(&[
            ("KEYCLOAK_BASE_URL", "https://kc/"),
            ("KEYCLOAK_REALM", "app"),
            ("KEYCLOAK_CLIENT_ID", "tierflow"),
            ("KEYCLOAK_CLIENT_SECRET", "s3cret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.base_url, "https://kc");
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }
}
