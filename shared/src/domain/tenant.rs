//! Tenants and their API keys. Keys are shown once and stored only as a
//! SHA-256 hash: a leaked data directory or table reveals no usable key.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event::rfc3339;
use super::{FieldError, check_length};

/// Random bytes in a generated key: 256 bits, well above the 128 required.
const KEY_BYTES: usize = 32;
const KEY_PREFIX: &str = "ca_";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the tenant's current API key.
    pub key_hash: String,
    /// Public identifier of the current key (API Gateway's key id on AWS).
    pub key_id: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// What a key may do. `Full` is a secret (everything a tenant can do);
/// `Ingest` is publishable: it may only send events, from the origins it
/// lists, so it is safe to put in a web page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Ingest,
    #[default]
    Full,
}

/// Most keys a tenant may hold, and most origins one key may list.
pub const MAX_KEYS: usize = 50;
pub const MAX_ORIGINS: usize = 20;
pub const MAX_LABEL_CHARS: usize = 100;

/// A key a tenant asks for: `{scope, label, allowedOrigins?, filterBots?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    pub scope: KeyScope,
    pub label: String,
    pub allowed_origins: Vec<String>,
    /// Drop the events it sends from known crawlers (`domain::crawlers`):
    /// `ingest` keys only, on unless `filterBots: false`.
    pub filter_bots: bool,
}

/// Validates `POST /api/keys`. Origins are exact (`https://shop.example`,
/// lowercased, no path, no `*`) and only for `ingest` keys.
pub fn validate_new_key(body: &Value) -> Result<NewKey, Vec<FieldError>> {
    let mut errors = Vec::new();
    let scope = match body.get("scope").and_then(Value::as_str) {
        Some("ingest") => KeyScope::Ingest,
        Some("full") => KeyScope::Full,
        _ => {
            errors.push(FieldError::new("scope", "must be ingest or full"));
            KeyScope::Ingest
        }
    };
    let label = match body.get("label") {
        Some(Value::String(label)) => {
            check_length(&mut errors, "label", label.trim(), 1, MAX_LABEL_CHARS);
            label.trim().to_owned()
        }
        _ => {
            errors.push(FieldError::new("label", format!("is required: 1 to {MAX_LABEL_CHARS} characters")));
            String::new()
        }
    };
    let mut allowed_origins = Vec::new();
    match body.get("allowedOrigins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(origins)) if origins.len() <= MAX_ORIGINS => {
            for (index, origin) in origins.iter().enumerate() {
                match origin.as_str().and_then(parse_origin) {
                    Some(origin) => allowed_origins.push(origin),
                    None => errors.push(FieldError::new(
                        format!("allowedOrigins[{index}]"),
                        "must be an origin like https://shop.example or http://localhost:8080 (no path, no *)",
                    )),
                }
            }
        }
        Some(_) => errors.push(FieldError::new(
            "allowedOrigins",
            format!("must be a list of at most {MAX_ORIGINS} origins"),
        )),
    }
    if scope == KeyScope::Full && !allowed_origins.is_empty() {
        errors.push(FieldError::new("allowedOrigins", "only ingest keys are used from web pages"));
    }
    let filter_bots = match body.get("filterBots") {
        None | Some(Value::Null) => scope == KeyScope::Ingest,
        Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if scope == KeyScope::Ingest => true,
        Some(Value::Bool(true)) => {
            errors.push(FieldError::new(
                "filterBots",
                "only ingest keys filter crawlers: a full key is a server's, whose HTTP library may look like one",
            ));
            false
        }
        Some(_) => {
            errors.push(FieldError::new("filterBots", "must be true or false"));
            false
        }
    };
    if errors.is_empty() { Ok(NewKey { scope, label, allowed_origins, filter_bots }) } else { Err(errors) }
}

/// `scheme://host[:port]` as browsers send it in `Origin`, lowercased.
pub fn parse_origin(raw: &str) -> Option<String> {
    let origin = raw.trim().trim_end_matches('/');
    let (scheme, host) = origin.split_once("://")?;
    let valid = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then(|| origin.to_ascii_lowercase())
}

/// A new random API key, e.g. `ca_3f9a…` (64 hex digits after the prefix).
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Compares a presented secret with a configured one in constant time
/// (through their hashes), so timing reveals nothing of the secret.
pub fn secrets_match(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn validate_tenant_name(body: &Value) -> Result<String, Vec<FieldError>> {
    match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            let mut errors = Vec::new();
            check_length(&mut errors, "name", name.trim(), 1, 200);
            if errors.is_empty() { Ok(name.trim().to_owned()) } else { Err(errors) }
        }
        _ => Err(vec![FieldError::new("name", "is required: a non-blank string of at most 200 characters")]),
    }
}

#[cfg(test)]
mod key_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn new_keys_are_validated_by_field() {
        let ok = validate_new_key(
            &json!({"scope": "ingest", "label": " site ", "allowedOrigins": ["https://Shop.example/"]}),
        );
        assert_eq!(
            ok,
            Ok(NewKey {
                scope: KeyScope::Ingest,
                label: "site".into(),
                allowed_origins: vec!["https://shop.example".into()],
                filter_bots: true,
            })
        );
        let opted_out = validate_new_key(&json!({"scope": "ingest", "label": "x", "filterBots": false}));
        assert!(!opted_out.unwrap().filter_bots);
        assert!(!validate_new_key(&json!({"scope": "full", "label": "x"})).unwrap().filter_bots);
        let fields =
            |body| validate_new_key(&body).unwrap_err().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(json!({"scope": "admin", "label": ""})), ["scope", "label"]);
        assert_eq!(
            fields(json!({"scope": "ingest", "label": "x", "allowedOrigins": ["*", "https://a.b/path"]})),
            ["allowedOrigins[0]", "allowedOrigins[1]"]
        );
        assert_eq!(
            fields(json!({"scope": "full", "label": "x", "allowedOrigins": ["https://a.b"]})),
            ["allowedOrigins"]
        );
        assert_eq!(
            fields(json!({"scope": "ingest", "label": "x", "allowedOrigins": "https://a.b"})),
            ["allowedOrigins"]
        );
        assert_eq!(fields(json!({"scope": "full", "label": "x", "filterBots": true})), ["filterBots"]);
        assert_eq!(fields(json!({"scope": "ingest", "label": "x", "filterBots": "no"})), ["filterBots"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hash_deterministically() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_PREFIX.len() + 2 * KEY_BYTES);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        // FIPS 180-2 test vector.
        assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_match("token", "token"));
        assert!(!secrets_match("token", "tokem"));
        assert!(!secrets_match("", "token"));
    }
}
