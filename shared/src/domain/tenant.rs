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
