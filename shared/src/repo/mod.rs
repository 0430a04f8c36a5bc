//! Repositories: the domain's reads and writes, expressed once over the
//! [`Store`](crate::store::Store) port so every adapter behaves the same.

pub mod attribution;
pub mod counters;
pub mod counting;
pub mod day_values;
pub mod events;
pub mod experiments;
pub mod hot_shards;
pub mod idempotency;
pub mod known_members;
pub mod rollup_rebuild;
pub mod rollups;
pub mod settings;
pub mod sketch_unions;
pub mod tenants;
pub mod two_generations;
pub mod user_sketches;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::store::{Item, StoreError};

/// Serialises a domain value into an item.
pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(item)) => Ok(item),
        Ok(_) => Err(StoreError::Internal("value is not an object".into())),
        Err(err) => Err(StoreError::Internal(err.to_string())),
    }
}

/// Deserialises an item into a domain value.
pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_json::from_value(Value::Object(item))
        .map_err(|err| StoreError::Internal(format!("stored item does not decode: {err}")))
}
