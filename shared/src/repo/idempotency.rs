//! Idempotency keys: the first answer to a request made with an
//! `Idempotency-Key`, kept for a day so that a retry gets the same answer.
//!
//! The record is written after the request's events are durably queued.
//! A retry that finds no record (the first attempt died in between) does
//! no harm either: ids of events sent without an `eventId` are derived
//! from the key ([`derived_event_id`]), so the retry queues the same ids
//! and the batch writer counts them once.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{from_item, to_item};
use crate::store::{Condition, Store, StoreError, WriteOp, keys};

/// How long an answer is replayed.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);
pub const MAX_KEY_CHARS: usize = 128;

/// A request's first answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// SHA-256 of the request's route and body: the same key with another
    /// request is refused rather than answered with the first one's ids.
    pub request_digest: String,
    pub status: u16,
    pub body: String,
    #[serde(with = "crate::domain::event::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// Epoch seconds after which DynamoDB's TTL may delete the record (the
    /// adapter keeps the TTL attribute to itself when reading).
    #[serde(default)]
    pub expires_at: i64,
}

/// The digest that ties a key to one request.
pub fn request_digest(path: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(path.as_bytes());
    digest.update([0]);
    digest.update(body);
    hex::encode(digest.finalize())
}

/// The id of the `index`-th event of a request made with `key`, when the
/// client gave none: the same on every retry of that request.
pub fn derived_event_id(tenant_id: &str, key: &str, index: usize) -> String {
    let mut digest = Sha256::new();
    for part in [tenant_id.as_bytes(), key.as_bytes(), index.to_string().as_bytes()] {
        digest.update(part);
        digest.update([0]);
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.finalize()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// The answer recorded for `key` within [`RETENTION`] of `now`, if any.
pub async fn find(
    store: &dyn Store,
    tenant_id: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Recorded>, StoreError> {
    let Some(item) = store.get(&keys::idempotency(tenant_id, key)).await? else { return Ok(None) };
    let recorded: Recorded = from_item(item)?;
    Ok((now - recorded.created_at < RETENTION).then_some(recorded))
}

/// Records the first answer for `key`. A record older than [`RETENTION`]
/// is replaced; a fresh one (a concurrent request with the same key got
/// there first) is kept.
pub async fn record(
    store: &dyn Store,
    tenant_id: &str,
    key: &str,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    let key = keys::idempotency(tenant_id, key);
    let put =
        |condition| WriteOp::Put { key: key.clone(), item: to_item(recorded).unwrap_or_default(), condition };
    match store.transact(vec![put(Condition::NotExists)]).await {
        Err(StoreError::ConditionFailed { .. }) => {
            let current: Option<Recorded> = store.get(&key).await?.map(from_item).transpose()?;
            match current {
                Some(current) if recorded.created_at - current.created_at >= RETENTION => {
                    let condition = Condition::equals(
                        "createdAt",
                        crate::domain::event::rfc3339::format(&current.created_at),
                    );
                    match store.transact(vec![put(condition)]).await {
                        Err(StoreError::ConditionFailed { .. }) => Ok(()),
                        other => other,
                    }
                }
                _ => Ok(()),
            }
        }
        other => other,
    }
}

impl Recorded {
    pub fn new(request_digest: String, status: u16, body: String, now: DateTime<Utc>) -> Self {
        let expires_at = (now + RETENTION + TimeDelta::hours(1)).timestamp();
        Self { request_digest, status, body, created_at: now, expires_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn derived_ids_are_stable_per_tenant_key_and_index() {
        let id = derived_event_id("t", "k", 0);
        assert_eq!(id, derived_event_id("t", "k", 0));
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        for other in
            [derived_event_id("t", "k", 1), derived_event_id("t2", "k", 0), derived_event_id("t", "k2", 0)]
        {
            assert_ne!(id, other);
        }
    }

    #[tokio::test]
    async fn answers_are_kept_for_a_day_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        let day_one: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
        let first = Recorded::new("digest-1".into(), 202, "{\"ids\":[1]}".into(), day_one);
        record(&store, "t", "k", &first).await.unwrap();
        assert_eq!(
            find(&store, "t", "k", day_one + TimeDelta::hours(23)).await.unwrap(),
            Some(first.clone())
        );
        assert_eq!(find(&store, "t2", "k", day_one).await.unwrap(), None, "keys are per tenant");
        // A concurrent request's record does not replace the first one.
        let racing = Recorded::new("digest-2".into(), 202, "{}".into(), day_one + TimeDelta::minutes(1));
        record(&store, "t", "k", &racing).await.unwrap();
        assert_eq!(find(&store, "t", "k", day_one).await.unwrap(), Some(first));
        // A day later the key is free again.
        let later = day_one + TimeDelta::hours(25);
        assert_eq!(find(&store, "t", "k", later).await.unwrap(), None);
        let next = Recorded::new("digest-3".into(), 202, "{}".into(), later);
        record(&store, "t", "k", &next).await.unwrap();
        assert_eq!(find(&store, "t", "k", later).await.unwrap(), Some(next));
    }
}
