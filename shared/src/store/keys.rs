//! The table design: every partition and sort key the repositories use,
//! built in this one place. ARCHITECTURE.md lists the access pattern each
//! key serves.
//!
//! Key parts are joined with `#`. Parts that come from users (experiment ids,
//! variant names, user ids, event ids) are escaped so that no two different
//! tuples can produce the same key: `%` becomes `%25` and `#` becomes `%23`.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Key;

/// Singleton items use this sort key.
const ONE: &str = "-";

/// Escapes a user-supplied key part.
pub fn part(raw: &str) -> String {
    if !raw.contains(['%', '#']) {
        return raw.to_owned();
    }
    raw.replace('%', "%25").replace('#', "%23")
}

/// Inverse of [`part`].
pub fn unpart(escaped: &str) -> String {
    if !escaped.contains('%') {
        return escaped.to_owned();
    }
    escaped.replace("%23", "#").replace("%25", "%")
}

// --- tenants and API keys -------------------------------------------------

pub fn tenant(tenant_id: &str) -> Key {
    Key::new(format!("TENANT#{tenant_id}"), ONE)
}

/// An API key, by the hex SHA-256 of its value.
pub fn api_key(key_hash: &str) -> Key {
    Key::new(format!("APIKEY#{key_hash}"), ONE)
}

// --- experiments ------------------------------------------------------------

/// All of a tenant's experiments; sort keys are UUIDv7 ids, so time-ordered.
pub fn experiments_partition(tenant_id: &str) -> String {
    format!("EXP#{tenant_id}")
}

pub fn experiment(tenant_id: &str, experiment_id: &str) -> Key {
    Key::new(experiments_partition(tenant_id), part(experiment_id))
}

// --- events -----------------------------------------------------------------

/// Marks an event id as stored: the conditional put of this item is what
/// makes counting exactly-once.
pub fn event_marker(tenant_id: &str, event_id: &str) -> Key {
    Key::new(format!("EID#{tenant_id}#{}", part(event_id)), ONE)
}

/// Events of one tenant and UTC day, sorted by time.
pub fn events_partition(tenant_id: &str, day: &str) -> String {
    format!("EV#{tenant_id}#{day}")
}

pub fn event(tenant_id: &str, timestamp: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        events_partition(tenant_id, &day(timestamp)),
        format!("{}#{}", sort_time(timestamp), part(event_id)),
    )
}

// Keys are built for every event several times over, so these format with
// plain integer writes rather than a parsed `strftime` pattern; a test pins
// them to the equivalent patterns.

/// A timestamp's UTC fields, with a leap second shown as second 60 (as
/// `strftime`'s `%S` does).
fn fields(timestamp: &DateTime<Utc>) -> (i32, u32, u32, u32, u32, u32, u32) {
    let nanos = timestamp.nanosecond();
    let (second, nanos) =
        if nanos >= 1_000_000_000 { (60, nanos - 1_000_000_000) } else { (timestamp.second(), nanos) };
    (
        timestamp.year(),
        timestamp.month(),
        timestamp.day(),
        timestamp.hour(),
        timestamp.minute(),
        second,
        nanos,
    )
}

/// `YYYY-MM-DD` of a timestamp (UTC).
pub fn day(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, ..) = fields(timestamp);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DDTHH` of a timestamp (UTC): the hourly bucket it falls in.
pub fn hour(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, hour, ..) = fields(timestamp);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}")
}

/// Fixed-width time that sorts lexicographically in time order
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub fn sort_time(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, hour, minute, second, nanos) = fields(timestamp);
    let micros = nanos / 1_000;
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
}

// --- counters ---------------------------------------------------------------

/// What a counter counts over. Every event counts in `Tenant`; an event with
/// an experiment id in `Experiment`; with a variant too, in `Variant` and in
/// `VariantName` (the seed's summary groups by variant name across
/// experiments when no experiment is asked for).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Tenant,
    Experiment(String),
    Variant(String, String),
    VariantName(String),
}

impl Scope {
    pub fn encode(&self) -> String {
        match self {
            Scope::Tenant => "T".to_owned(),
            Scope::Experiment(experiment) => format!("E#{}", part(experiment)),
            Scope::Variant(experiment, variant) => {
                format!("V#{}#{}", part(experiment), part(variant))
            }
            Scope::VariantName(variant) => format!("N#{}", part(variant)),
        }
    }
}

/// Running totals of a tenant live in one partition, one item per scope.
pub fn counters_partition(tenant_id: &str) -> String {
    format!("CNT#{tenant_id}")
}

pub fn counter(tenant_id: &str, scope: &Scope) -> Key {
    Key::new(counters_partition(tenant_id), scope.encode())
}

/// Sort-key prefix of every variant counter of one experiment.
pub fn variant_counters_prefix(experiment_id: &str) -> String {
    format!("V#{}#", part(experiment_id))
}

pub const VARIANT_NAME_COUNTERS_PREFIX: &str = "N#";

/// Hourly counters of one scope, sorted by hour.
pub fn buckets_partition(tenant_id: &str, scope: &Scope) -> String {
    format!("BKT#{tenant_id}#{}", scope.encode())
}

pub fn bucket(tenant_id: &str, scope: &Scope, hour: &str) -> Key {
    Key::new(buckets_partition(tenant_id, scope), hour.to_owned())
}

/// Membership items remember that a user was seen (or converted) in a
/// scope, so that unique-user counters flip exactly once per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Membership {
    Seen,
    Converted,
}

pub fn membership(tenant_id: &str, scope: &Scope, kind: Membership, user_id: &str) -> Key {
    let tag = match kind {
        Membership::Seen => "S",
        Membership::Converted => "C",
    };
    Key::new(format!("MEM#{tenant_id}#{}#{}", scope.encode(), part(user_id)), tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_tuples_apart() {
        let a = Scope::Variant("a#b".into(), "c".into()).encode();
        let b = Scope::Variant("a".into(), "b#c".into()).encode();
        assert_ne!(a, b);
        assert_eq!(unpart(&part("50%#off")), "50%#off");
    }

    #[test]
    fn sort_time_orders_like_time() {
        let early: DateTime<Utc> = "1999-12-31T23:59:59.5Z".parse().unwrap();
        let late: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().unwrap();
        assert!(sort_time(&early) < sort_time(&late));
        assert_eq!(sort_time(&late), "2000-01-01T00:00:00.000000Z");
    }

    #[test]
    fn time_keys_match_their_strftime_patterns() {
        for text in [
            "2026-11-29T13:05:09.123456789Z",
            "1999-12-31T23:59:59Z",
            "0001-01-01T00:00:00.000001Z",
            "2016-12-31T23:59:60.5Z",
        ] {
            let t: DateTime<Utc> = DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
            assert_eq!(day(&t), t.format("%Y-%m-%d").to_string(), "{text}");
            assert_eq!(hour(&t), t.format("%Y-%m-%dT%H").to_string(), "{text}");
            assert_eq!(sort_time(&t), t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), "{text}");
        }
    }
}
