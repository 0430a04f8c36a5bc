//! A tenant's settings: what it tells the platform about its sites. The
//! referrer domains ingest ignores when it derives an event's campaign
//! fields (payment providers, the tenant's own other domains), so that a
//! return from checkout is not a new referral; the custom dimensions
//! (`domain::dimensions`) the campaign rollups keep; and the time zone
//! whose days the campaign rollups count.
//!
//! One item per tenant, each setting an attribute of its own, written with
//! `SET` so that settings written by different routes never overwrite each
//! other.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::domain::attribution::{Day, day_number_in};

use crate::store::{Condition, Item, Store, StoreError, WriteOp, keys};

const IGNORED_REFERRERS: &str = "ignoredReferrers";
const DIMENSIONS: &str = "dimensions";
const TIMEZONE: &str = "timezone";
const UPDATED_AT: &str = "updatedAt";

/// A tenant's settings; a tenant that never set any has the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantSettings {
    /// Normalised hosts (`domain::campaign::normalize_ignored_domain`):
    /// a referrer from one of them, or a subdomain, is no referral.
    pub ignored_referrers: Vec<String>,
    /// The property keys of the tenant's custom dimensions.
    pub dimensions: Vec<String>,
    /// The time zone whose days the campaign rollups count (`None`: UTC).
    pub timezone: Option<Tz>,
    /// When a setting last changed (`None`: never).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A setting that is a list of names, replaced whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListSetting {
    /// The referrer domains (already normalised).
    IgnoredReferrers,
    /// The custom dimensions' property keys (already checked).
    Dimensions,
}

impl ListSetting {
    fn attribute(self) -> &'static str {
        match self {
            ListSetting::IgnoredReferrers => IGNORED_REFERRERS,
            ListSetting::Dimensions => DIMENSIONS,
        }
    }
}

impl TenantSettings {
    /// The time zone whose days the tenant's campaign rollups count.
    pub fn zone(&self) -> Tz {
        self.timezone.unwrap_or(Tz::UTC)
    }

    /// The number of the day `at` falls on in the tenant's time zone.
    pub fn day_of(&self, at: &DateTime<Utc>) -> Day {
        day_number_in(at, self.zone())
    }
}

fn from_item(item: &Item) -> TenantSettings {
    let texts = |setting: ListSetting| -> Vec<String> {
        item.get(setting.attribute())
            .and_then(Value::as_array)
            .map(|entries| entries.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let updated_at = item.get(UPDATED_AT).and_then(Value::as_str).and_then(|at| at.parse().ok());
    TenantSettings {
        ignored_referrers: texts(ListSetting::IgnoredReferrers),
        dimensions: texts(ListSetting::Dimensions),
        timezone: item.get(TIMEZONE).and_then(Value::as_str).and_then(|name| name.parse().ok()),
        updated_at,
    }
}

pub async fn get(store: &dyn Store, tenant_id: &str) -> Result<TenantSettings, StoreError> {
    Ok(store.get(&keys::tenant_settings(tenant_id)).await?.as_ref().map(from_item).unwrap_or_default())
}

/// Replaces one of the tenant's list settings; the others stay as they are.
pub async fn set_list(
    store: &dyn Store,
    tenant_id: &str,
    setting: ListSetting,
    list: &[String],
    now: DateTime<Utc>,
) -> Result<TenantSettings, StoreError> {
    set(store, tenant_id, setting.attribute(), Value::from(list.to_vec()), now).await
}

/// Sets the time zone whose days the tenant's campaign rollups count.
pub async fn set_timezone(
    store: &dyn Store,
    tenant_id: &str,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<TenantSettings, StoreError> {
    set(store, tenant_id, TIMEZONE, Value::from(zone.name()), now).await
}

/// Sets one attribute of the settings item (and when settings changed).
async fn set(
    store: &dyn Store,
    tenant_id: &str,
    attribute: &str,
    value: Value,
    now: DateTime<Utc>,
) -> Result<TenantSettings, StoreError> {
    let mut set = Item::new();
    set.insert(attribute.into(), value);
    set.insert(UPDATED_AT.into(), Value::from(crate::domain::event::rfc3339::format(&now)));
    store
        .transact(vec![WriteOp::Update {
            key: keys::tenant_settings(tenant_id),
            add: Vec::new(),
            set,
            condition: Condition::Always,
        }])
        .await?;
    get(store, tenant_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_tenant_without_settings_has_the_defaults_and_a_set_list_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("s.db")).unwrap();
        assert_eq!(get(&store, "t1").await.unwrap(), TenantSettings::default());
        let now: DateTime<Utc> = "2026-12-02T10:00:00Z".parse().unwrap();
        let domains = vec!["paypal.com".to_owned(), "shop.example".to_owned()];
        let set = set_list(&store, "t1", ListSetting::IgnoredReferrers, &domains, now).await.unwrap();
        assert_eq!(
            set,
            TenantSettings {
                ignored_referrers: domains.clone(),
                dimensions: vec![],
                timezone: None,
                updated_at: Some(now)
            }
        );
        let keys = vec!["device".to_owned()];
        let set = set_list(&store, "t1", ListSetting::Dimensions, &keys, now).await.unwrap();
        assert_eq!((set.ignored_referrers, set.dimensions), (domains, keys), "each setting keeps the other");
        assert_eq!(get(&store, "t1").await.unwrap().dimensions, ["device"]);
        assert_eq!(get(&store, "t2").await.unwrap(), TenantSettings::default(), "per tenant");
        let cleared = set_list(&store, "t1", ListSetting::IgnoredReferrers, &[], now).await.unwrap();
        assert!(cleared.ignored_referrers.is_empty());
        // The time zone: UTC until set; setting it keeps the lists.
        assert_eq!(cleared.zone(), Tz::UTC);
        let zoned = set_timezone(&store, "t1", chrono_tz::Asia::Kolkata, now).await.unwrap();
        assert_eq!(
            (zoned.zone(), zoned.dimensions.as_slice()),
            (chrono_tz::Asia::Kolkata, ["device".to_owned()].as_slice())
        );
        let evening: DateTime<Utc> = "2026-12-02T20:00:00Z".parse().unwrap();
        assert_eq!(crate::domain::attribution::day_date(zoned.day_of(&evening)), "2026-12-03");
        assert_eq!(get(&store, "t1").await.unwrap().timezone, Some(chrono_tz::Asia::Kolkata));
    }
}
