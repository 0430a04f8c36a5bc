//! The table design: every partition and sort key the repositories use,
//! built in this one place. ARCHITECTURE.md lists the access pattern each
//! key serves.
//!
//! Key parts are joined with `#`. Parts that come from users (experiment ids,
//! variant names, user ids, event ids) are escaped so that no two different
//! tuples can produce the same key: `%` becomes `%25` and `#` becomes `%23`.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Key;
use crate::domain::counting::{Membership, Scope, ScopeRef};

/// Singleton items use this sort key.
const ONE: &str = "-";

/// Escapes a user-supplied key part.
pub fn part(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    push_part(&mut out, raw);
    out
}

/// Appends the escaped form of a user-supplied key part. Keys are built for
/// every event several times over, so they are assembled with `push_str`
/// rather than `format!` (whose machinery was a tenth of the batch writer's
/// profile).
fn push_part(out: &mut String, raw: &str) {
    if !raw.contains(['%', '#']) {
        out.push_str(raw);
        return;
    }
    for c in raw.chars() {
        match c {
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
}

/// Joins literal and already-escaped pieces into one key string.
fn join(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    pieces.iter().for_each(|piece| out.push_str(piece));
    out
}

/// The bytes a user-supplied part takes in a key, escaped.
pub fn escaped_len(raw: &str) -> usize {
    raw.len() + 2 * raw.bytes().filter(|b| matches!(b, b'%' | b'#')).count()
}

// --- what fits ----------------------------------------------------------------
//
// Budgets for user-supplied parts, in escaped bytes, within which every key
// below fits DynamoDB's limits (`super::limits`); a test builds each key
// with every part at its budget. The longest keys are a variant's counter
// sort key (`V#<experiment>#<variant>`) and a variant membership's
// partition key (`MEM#<tenant>#V#<experiment>#<variant>#<user>`), the
// former with a shard suffix ([`on_shard`]).

/// Tenant ids are UUIDs (36 bytes) or the demo's; any up to this fits.
pub const MAX_TENANT_ID_BYTES: usize = 64;
/// An experiment id or a variant name.
pub const MAX_TAG_KEY_BYTES: usize = 508;
pub const MAX_USER_ID_KEY_BYTES: usize = 950;
/// An event id (128 characters take at most 512 bytes, so any fits).
pub const MAX_EVENT_ID_KEY_BYTES: usize = 512;

/// Inverse of [`part`].
pub fn unpart(escaped: &str) -> String {
    if !escaped.contains('%') {
        return escaped.to_owned();
    }
    escaped.replace("%23", "#").replace("%25", "%")
}

// --- tenants and API keys -------------------------------------------------

/// The one record of the largest shard layout any writer used
/// ([`super::layout`]); no tenant's key has this form (theirs all hold a
/// `#`).
pub fn layout_record() -> Key {
    Key::new("LAYOUT", ONE)
}

pub fn tenant(tenant_id: &str) -> Key {
    Key::new(format!("TENANT#{tenant_id}"), ONE)
}

/// A tenant's settings (`repo::settings`), beside its tenant item.
pub fn tenant_settings(tenant_id: &str) -> Key {
    Key::new(format!("TENANT#{tenant_id}"), "SETTINGS")
}

/// An API key, by the hex SHA-256 of its value.
pub fn api_key(key_hash: &str) -> Key {
    Key::new(format!("APIKEY#{key_hash}"), ONE)
}

/// The keys a tenant added (besides the one it was created with), by key id.
pub fn tenant_keys_partition(tenant_id: &str) -> String {
    format!("KEYS#{tenant_id}")
}

pub fn tenant_key(tenant_id: &str, key_id: &str) -> Key {
    Key::new(tenant_keys_partition(tenant_id), part(key_id))
}

// --- experiments ------------------------------------------------------------

/// All of a tenant's experiments; sort keys are UUIDv7 ids, so time-ordered.
pub fn experiments_partition(tenant_id: &str) -> String {
    format!("EXP#{tenant_id}")
}

pub fn experiment(tenant_id: &str, experiment_id: &str) -> Key {
    Key::new(experiments_partition(tenant_id), part(experiment_id))
}

// --- idempotency keys ---------------------------------------------------------

/// The first answer to a tenant's request made with an `Idempotency-Key`
/// (kept in the event table, whose TTL drops it after a day).
pub fn idempotency(tenant_id: &str, key: &str) -> Key {
    let mut pk = join(&["IDEM#", tenant_id, "#"]);
    push_part(&mut pk, key);
    Key::new(pk, ONE)
}

// --- events -----------------------------------------------------------------

/// Marks an event id as stored: the conditional put of this item is what
/// makes counting exactly-once.
pub fn event_marker(tenant_id: &str, event_id: &str) -> Key {
    let mut pk = join(&["EID#", tenant_id, "#"]);
    push_part(&mut pk, event_id);
    Key::new(pk, ONE)
}

/// Events of one tenant and UTC day in one of the day's event shards,
/// sorted by time. Shard 0 is the day's partition as it was before shards
/// (`EV#<tenant>#<day>`); shard `s` appends `#<s>`.
pub fn events_partition(tenant_id: &str, day: &str, shard: u16) -> String {
    let mut pk = join(&["EV#", tenant_id, "#", day]);
    push_shard(&mut pk, shard);
    pk
}

/// An event's item, in the shard of its day that its id falls in among
/// `shards` ([`event_shard`]).
pub fn event(tenant_id: &str, timestamp: &DateTime<Utc>, event_id: &str, shards: u16) -> Key {
    let mut sk = sort_time(timestamp);
    sk.push('#');
    push_part(&mut sk, event_id);
    Key::new(events_partition(tenant_id, &day(timestamp), event_shard(event_id, shards)), sk)
}

/// Which of `shards` event partitions an event id's item goes to: FNV-1a
/// of the id, so that it is the same in every process and release (a
/// redelivered event lands on its first delivery's item).
pub fn event_shard(event_id: &str, shards: u16) -> u16 {
    let hash = event_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(shards.max(1))) as u16
}

// --- shards of write-hot items -------------------------------------------------
//
// A counter, an hourly bucket or a campaign cell that many writers add to
// at once is split into shards: shard 0 is the item under the key built
// below, shard `s > 0` the same partition key with `#<s>` appended to the
// sort key. A writer adds to one shard; a reader sums all it finds. The
// shard goes in the sort key, not the partition key, so that a reader
// still gets every shard of a counter, or of a range of hours, in one
// query (ARCHITECTURE.md, "Shards", has the arithmetic).

/// The most shards a layout may use (`#255` is the longest suffix: key
/// budgets below leave room for it).
pub const MAX_SHARDS: u16 = 256;

fn push_shard(out: &mut String, shard: u16) {
    if shard > 0 {
        out.push('#');
        push_padded(out, u32::from(shard), 1);
    }
}

/// The key of shard `shard` of the hot item under `key`. An hourly
/// bucket's shard also moves to partition `shard % bucket_partitions` of
/// its scope ([`buckets_partition`]).
pub fn on_shard(key: &Key, shard: u16, bucket_partitions: u16) -> Key {
    let mut sk = String::with_capacity(key.sk.len() + 4);
    sk.push_str(&key.sk);
    push_shard(&mut sk, shard);
    let mut pk = key.pk.clone();
    if pk.starts_with(BUCKETS) {
        push_shard(&mut pk, shard % bucket_partitions.max(1));
    }
    Key::new(pk, sk)
}

/// Whether `sk` is the sort key of a shard of the item whose shard 0 has
/// sort key `base`.
pub fn is_shard_of(sk: &str, base: &str) -> bool {
    match sk.strip_prefix(base) {
        Some("") => true,
        Some(rest) => {
            rest.strip_prefix('#').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

/// The sort key of shard 0 of the shard with sort key `sk`, for items whose
/// own sort key holds no `#` (hourly buckets, campaign cells).
pub fn unsharded(sk: &str) -> &str {
    sk.split_once('#').map_or(sk, |(base, _)| base)
}

/// The highest sort key of any shard of the item whose shard 0 has sort key
/// `base` (`#` then digits sort below `:`), to end a `between` range with.
pub fn last_shard_sk(base: &str) -> String {
    join(&[base, "#:"])
}

// Time keys are written digit by digit rather than through a parsed
// `strftime` pattern or `format!`; a test pins them to the equivalent
// patterns.

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

/// Appends `value` in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut rest = value;
    let mut len = 0;
    while rest > 0 || len == 0 {
        digits[len] = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
    }
    (len..width).for_each(|_| out.push('0'));
    digits[..len].iter().rev().for_each(|&digit| out.push(char::from(digit)));
}

/// Appends `YYYY-MM-DD`.
fn push_date(out: &mut String, year: i32, month: u32, day: u32) {
    match u32::try_from(year) {
        Ok(year) if year <= 9999 => push_padded(out, year, 4),
        // Outside 0..=9999 (chrono allows it; validation does not), as before.
        _ => out.push_str(&format!("{year:04}")),
    }
    out.push('-');
    push_padded(out, month, 2);
    out.push('-');
    push_padded(out, day, 2);
}

/// `YYYY-MM-DD` of a timestamp (UTC).
pub fn day(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, ..) = fields(timestamp);
    let mut out = String::with_capacity(10);
    push_date(&mut out, year, month, day);
    out
}

/// Appends `YYYY-MM-DDTHH`.
fn push_hour(out: &mut String, (year, month, day, hour): (i32, u32, u32, u32)) {
    push_date(out, year, month, day);
    out.push('T');
    push_padded(out, hour, 2);
}

/// `YYYY-MM-DDTHH` of a timestamp (UTC): the hourly bucket it falls in.
pub fn hour(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, hour, ..) = fields(timestamp);
    let mut out = String::with_capacity(13);
    push_hour(&mut out, (year, month, day, hour));
    out
}

/// [`hour`] of the hour numbered `number` (hours since the Unix epoch).
pub fn hour_numbered(number: i64) -> String {
    hour(&DateTime::from_timestamp(number * 3600, 0).unwrap_or_default())
}

/// [`day`] of the UTC day numbered `number` (days since the Unix epoch).
pub fn day_numbered(number: i64) -> String {
    day(&DateTime::from_timestamp(number * 86_400, 0).unwrap_or_default())
}

/// Fixed-width time that sorts lexicographically in time order
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
pub fn sort_time(timestamp: &DateTime<Utc>) -> String {
    let (year, month, day, hour, minute, second, nanos) = fields(timestamp);
    // Room for an event id to follow (`event` appends `#id`).
    let mut out = String::with_capacity(64);
    push_hour(&mut out, (year, month, day, hour));
    out.push(':');
    push_padded(&mut out, minute, 2);
    out.push(':');
    push_padded(&mut out, second, 2);
    out.push('.');
    push_padded(&mut out, nanos / 1_000, 6);
    out.push('Z');
    out
}

// --- counters ---------------------------------------------------------------

impl Scope {
    pub fn encode(&self) -> String {
        ScopeRef::from(self).encode()
    }
}

impl ScopeRef<'_> {
    pub fn encode(self) -> String {
        let mut out = String::with_capacity(32);
        self.push_encoded(&mut out);
        out
    }

    fn push_encoded(self, out: &mut String) {
        match self {
            ScopeRef::Tenant => out.push('T'),
            ScopeRef::Experiment(experiment) => {
                out.push_str("E#");
                push_part(out, experiment);
            }
            ScopeRef::Variant(experiment, variant) => {
                out.push_str("V#");
                push_part(out, experiment);
                out.push('#');
                push_part(out, variant);
            }
            ScopeRef::VariantName(variant) => {
                out.push_str("N#");
                push_part(out, variant);
            }
        }
    }
}

/// Running totals of a tenant live in one partition, one item per scope.
pub fn counters_partition(tenant_id: &str) -> String {
    join(&["CNT#", tenant_id])
}

pub fn counter<'a>(tenant_id: &str, scope: impl Into<ScopeRef<'a>>) -> Key {
    Key::new(counters_partition(tenant_id), scope.into().encode())
}

/// Sort-key prefix of every variant counter of one experiment.
pub fn variant_counters_prefix(experiment_id: &str) -> String {
    let mut prefix = String::from("V#");
    push_part(&mut prefix, experiment_id);
    prefix.push('#');
    prefix
}

pub const VARIANT_NAME_COUNTERS_PREFIX: &str = "N#";

/// Sort-key prefix of every metric-sums item of one experiment.
pub fn metric_sums_prefix(experiment_id: &str) -> String {
    let mut prefix = String::from("M#");
    push_part(&mut prefix, experiment_id);
    prefix.push('#');
    prefix
}

/// An experiment arm's sums of one metric (by the metric's digest, hex),
/// beside the counters: a hot item, sharded like them.
pub fn metric_sums(tenant_id: &str, experiment_id: &str, variant: &str, metric_digest: &str) -> Key {
    let mut sk = metric_sums_prefix(experiment_id);
    push_part(&mut sk, variant);
    sk.push('#');
    sk.push_str(metric_digest);
    Key::new(counters_partition(tenant_id), sk)
}

const BUCKETS: &str = "BKT#";

/// Hourly counters of one scope, sorted by hour, in one of the scope's
/// bucket partitions: 0 is `BKT#<tenant>#<scope>`, `p` appends `#<p>` (a
/// scope's own parts are escaped, so no scope's partition ends so).
pub fn buckets_partition<'a>(tenant_id: &str, scope: impl Into<ScopeRef<'a>>, partition: u16) -> String {
    let mut pk = join(&[BUCKETS, tenant_id, "#"]);
    scope.into().push_encoded(&mut pk);
    push_shard(&mut pk, partition);
    pk
}

/// Shard 0 of a scope's bucket of `hour`.
pub fn bucket<'a>(tenant_id: &str, scope: impl Into<ScopeRef<'a>>, hour: &str) -> Key {
    Key::new(buckets_partition(tenant_id, scope, 0), hour.to_owned())
}

/// Sketches of a scope's users per hour and per UTC day
/// ([`crate::domain::distinct`]), in one partition per scope and sketch
/// shard: shard 0 is `SKT#<tenant>#<scope>`, shard `s` appends `#<s>`
/// (the scope's own parts are escaped, so no scope's partition ends so).
pub fn sketches_partition<'a>(tenant_id: &str, scope: impl Into<ScopeRef<'a>>, shard: u16) -> String {
    let mut pk = join(&["SKT#", tenant_id, "#"]);
    scope.into().push_encoded(&mut pk);
    push_shard(&mut pk, shard);
    pk
}

/// The key of `key` (a sketch, or a day sketch's version marker, of shard
/// 0) in sketch shard `shard`.
pub fn in_sketch_shard(key: &Key, shard: u16) -> Key {
    let mut pk = key.pk.clone();
    push_shard(&mut pk, shard);
    Key::new(pk, key.sk.clone())
}

/// How long a sketch's period is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// `YYYY-MM-DDTHH`
    Hour,
    /// `YYYY-MM-DD`, a UTC day.
    Day,
}

/// Sort-key prefix of one kind's sketches of one period length; the
/// period's [`hour`] or [`day`] follows, so a range of periods is one
/// `between` query.
pub fn sketches_prefix(kind: Membership, period: Period) -> &'static str {
    match (kind, period) {
        (Membership::Seen, Period::Hour) => "S#H#",
        (Membership::Seen, Period::Day) => "S#D#",
        (Membership::Converted, Period::Hour) => "C#H#",
        (Membership::Converted, Period::Day) => "C#D#",
    }
}

/// Sort-key prefix of the version markers of day sketches: the marker of
/// a day sketch is its sort key after this, in the same partition.
const DAY_SKETCH_VERSION: &str = "V#";

/// The version marker of a day sketch (`None` for an hour's): a small item
/// holding the sketch's version, written with it, so that a range read
/// learns which days changed without reading their registers.
pub fn day_sketch_version(sketch: &Key) -> Option<Key> {
    let is_day = [Membership::Seen, Membership::Converted]
        .iter()
        .any(|&kind| sketch.sk.starts_with(sketches_prefix(kind, Period::Day)));
    is_day.then(|| Key::new(sketch.pk.clone(), join(&[DAY_SKETCH_VERSION, &sketch.sk])))
}

/// The sort key of the version marker of the day sketch sorted at `sk`.
pub fn day_sketch_version_sk(sk: &str) -> String {
    join(&[DAY_SKETCH_VERSION, sk])
}

/// The day sketch's sort key of a version marker's.
pub fn day_sketch_of_version(version_sk: &str) -> Option<&str> {
    version_sk.strip_prefix(DAY_SKETCH_VERSION)
}

/// The sketch of `kind` users of a scope in one period (`when`: its
/// [`hour`] or [`day`]), under the scope's [`sketches_partition`].
pub fn sketch(partition: &str, kind: Membership, period: Period, when: &str) -> Key {
    let prefix = sketches_prefix(kind, period);
    let mut sk = String::with_capacity(prefix.len() + when.len());
    sk.push_str(prefix);
    sk.push_str(when);
    Key::new(partition, sk)
}

pub fn membership<'a>(
    tenant_id: &str,
    scope: impl Into<ScopeRef<'a>>,
    kind: Membership,
    user_id: &str,
) -> Key {
    membership_in(&memberships_prefix(tenant_id, scope), kind, user_id)
}

/// The part of a membership key shared by all users of one scope, for
/// [`membership_in`]: planning builds it once per scope, not once per event.
pub fn memberships_prefix<'a>(tenant_id: &str, scope: impl Into<ScopeRef<'a>>) -> String {
    let mut prefix = join(&["MEM#", tenant_id, "#"]);
    scope.into().push_encoded(&mut prefix);
    prefix.push('#');
    prefix
}

/// A user's membership key, given its scope's [`memberships_prefix`].
pub fn membership_in(prefix: &str, kind: Membership, user_id: &str) -> Key {
    let tag = match kind {
        Membership::Seen => "S",
        Membership::Converted => "C",
    };
    let mut pk = String::with_capacity(prefix.len() + user_id.len());
    pk.push_str(prefix);
    push_part(&mut pk, user_id);
    Key::new(pk, tag)
}

// --- campaign attribution ------------------------------------------------------

/// A user's first touch, active days and conversions (`repo::attribution`).
pub fn attribution(tenant_id: &str, user_id: &str) -> Key {
    let mut pk = join(&["ATT#", tenant_id, "#"]);
    push_part(&mut pk, user_id);
    Key::new(pk, ONE)
}

/// The campaign rows of one tenant and UTC day (`YYYY-MM-DD`): a report
/// reads one partition per day of its range.
pub fn campaign_day_partition(tenant_id: &str, day: &str) -> String {
    join(&["CMP#", tenant_id, "#", day])
}

/// One campaign row of one day, by the row's digest (`repo::attribution::row_id`:
/// its fields, up to five of 128 characters, would not fit a sort key).
pub fn campaign_row(tenant_id: &str, day: &str, row_id: &str) -> Key {
    Key::new(campaign_day_partition(tenant_id, day), row_id)
}

/// The campaign cells of one experiment's arms, for one tenant and UTC day
/// (the campaign × variant cross-tab): one query per day, like the rows';
/// each cell's sort key is the digest of its fields.
pub fn campaign_arm_day_partition(tenant_id: &str, experiment_id: &str, day: &str) -> String {
    segment_day_partition("CMX#", tenant_id, experiment_id, day)
}

/// The campaign cells of one custom dimension's values, for one tenant and
/// UTC day (`groupBy=property:<key>`): one query per day, like the rows'.
pub fn campaign_property_day_partition(tenant_id: &str, key: &str, day: &str) -> String {
    segment_day_partition("CMD#", tenant_id, key, day)
}

/// Which values of one custom dimension one UTC day keeps
/// (`repo::day_values`): one item per tenant, dimension and day.
pub fn dimension_day_values(tenant_id: &str, key: &str, day: &str) -> Key {
    Key::new(segment_day_partition("CMV#", tenant_id, key, day), ONE)
}

/// `<prefix><tenantId>#<scope>#<day>`, the scope (experiment id, property
/// key) escaped.
fn segment_day_partition(prefix: &str, tenant_id: &str, scope: &str, day: &str) -> String {
    let mut pk = join(&[prefix, tenant_id, "#"]);
    push_part(&mut pk, scope);
    pk.push('#');
    pk.push_str(day);
    pk
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

    #[test]
    fn every_key_fits_dynamodb_with_every_part_at_its_budget() {
        use super::super::limits::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
        let tenant = "t".repeat(MAX_TENANT_ID_BYTES);
        // Escaping triples `#`: a part of `#`s at the budget, and one of
        // four-byte characters, both take the budget's bytes.
        let at_budget = |budget: usize| ["#".repeat(budget / 3), "\u{1F600}".repeat(budget / 4)];
        let latest: DateTime<Utc> = "9999-12-31T23:59:59.999999Z".parse().unwrap();
        for ((experiment, variant), (user, event)) in at_budget(MAX_TAG_KEY_BYTES)
            .into_iter()
            .zip(at_budget(MAX_TAG_KEY_BYTES))
            .zip(at_budget(MAX_USER_ID_KEY_BYTES).into_iter().zip(at_budget(MAX_EVENT_ID_KEY_BYTES)))
        {
            assert!(
                escaped_len(&experiment) <= MAX_TAG_KEY_BYTES && escaped_len(&user) <= MAX_USER_ID_KEY_BYTES
            );
            let scopes = [
                Scope::Tenant,
                Scope::Experiment(experiment.clone()),
                Scope::Variant(experiment.clone(), variant.clone()),
                Scope::VariantName(variant.clone()),
            ];
            let mut built = vec![
                event_marker(&tenant, &event),
                super::event(&tenant, &latest, &event, MAX_SHARDS),
                super::experiment(&tenant, &experiment),
            ];
            for scope in &scopes {
                built.push(on_shard(&counter(&tenant, scope), MAX_SHARDS - 1, MAX_SHARDS));
                built.push(on_shard(&bucket(&tenant, scope, &hour(&latest)), MAX_SHARDS - 1, MAX_SHARDS));
                built.push(sketch(
                    &sketches_partition(&tenant, scope, MAX_SHARDS - 1),
                    Membership::Converted,
                    Period::Hour,
                    &hour(&latest),
                ));
                built.push(membership(&tenant, scope, Membership::Seen, &user));
                built.push(membership(&tenant, scope, Membership::Converted, &user));
            }
            built.push(attribution(&tenant, &user));
            built.push(on_shard(&campaign_row(&tenant, &day(&latest), &"f".repeat(32)), MAX_SHARDS - 1, 1));
            for key in built {
                assert!(key.pk.len() <= MAX_PARTITION_KEY_BYTES, "pk of {} bytes", key.pk.len());
                assert!(
                    key.sk.len() <= MAX_SORT_KEY_BYTES,
                    "sk of {} bytes: {}",
                    key.sk.len(),
                    &key.sk[..20]
                );
            }
        }
        // And one byte more than the budgets does not fit: they are tight.
        let over = "x".repeat(MAX_TAG_KEY_BYTES + 2);
        let counter = counter(&tenant, &Scope::Variant(over.clone(), over));
        assert!(on_shard(&counter, MAX_SHARDS - 1, 1).sk.len() > MAX_SORT_KEY_BYTES);
    }

    #[test]
    fn shards_of_an_item_are_told_apart_from_other_items() {
        let base = counter("t", &Scope::Experiment("a".into()));
        assert_eq!(on_shard(&base, 0, 4), base);
        assert_eq!(on_shard(&base, 17, 4), Key::new("CNT#t", "E#a#17"));
        // A bucket's shard also goes to one of its scope's partitions.
        let bucket = bucket("t", &Scope::Tenant, "2026-12-07T05");
        assert_eq!(on_shard(&bucket, 17, 4), Key::new("BKT#t#T#1", "2026-12-07T05#17"));
        assert_eq!(on_shard(&bucket, 16, 4), Key::new("BKT#t#T", "2026-12-07T05#16"));
        assert!(is_shard_of("E#a", "E#a") && is_shard_of("E#a#17", "E#a"));
        // Another experiment whose id starts alike, even with a `#` (escaped).
        for other in ["E#ab", "E#a%2317", "E#a#", "E#a#1x"] {
            assert!(!is_shard_of(other, "E#a"), "{other}");
        }
        assert!(is_shard_of("T#3", "T") && !is_shard_of("T3", "T"));
        assert_eq!(unsharded("2026-12-07T05#12"), "2026-12-07T05");
        assert_eq!(unsharded("2026-12-07T05"), "2026-12-07T05");
        // Every shard of an hour sorts between its shard 0 and the next hour.
        let last = last_shard_sk("2026-12-07T05");
        for shard in [1, 9, 10, 255] {
            let sk = on_shard(&Key::new("p", "2026-12-07T05"), shard, 1).sk;
            assert!("2026-12-07T05" < sk.as_str() && sk <= last && last.as_str() < "2026-12-07T06", "{sk}");
        }
    }

    #[test]
    fn an_event_keeps_its_shard_and_shards_spread_events() {
        let at: DateTime<Utc> = "2026-12-07T05:00:00Z".parse().unwrap();
        assert_eq!(event("t", &at, "e1", 1).pk, "EV#t#2026-12-07");
        assert_eq!(event_shard("e1", 1), 0);
        // FNV-1a, pinned: the shard of a stored event must never change.
        assert_eq!(event_shard("e1", 64), (0x088e_7b07_b539_b883_u64 % 64) as u16);
        let mut per_shard = [0u32; 16];
        (0..16_000).for_each(|n| per_shard[usize::from(event_shard(&format!("event-{n}"), 16))] += 1);
        assert!(per_shard.iter().all(|&n| (800..1_200).contains(&n)), "{per_shard:?}");
        let key = event("t", &at, "e1", 64);
        let shard = event_shard("e1", 64);
        assert_eq!(key.pk, events_partition("t", "2026-12-07", shard));
    }

    #[test]
    fn escaped_len_is_the_escaped_parts_length() {
        for raw in ["plain", "50%#off", "##", "\u{1F600}#"] {
            assert_eq!(escaped_len(raw), part(raw).len(), "{raw}");
        }
    }

    #[test]
    fn keys_escape_user_parts() {
        assert_eq!(part("50%#off"), "50%25%23off");
        assert_eq!(part("plain"), "plain");
        let scope = Scope::Variant("a#b".into(), "c%".into());
        assert_eq!(scope.encode(), "V#a%23b#c%25");
        assert_eq!(counter("t", &scope), Key::new("CNT#t", "V#a%23b#c%25"));
        assert_eq!(bucket("t", &scope, "2026-11-29T10"), Key::new("BKT#t#V#a%23b#c%25", "2026-11-29T10"));
        assert_eq!(
            membership("t", &scope, Membership::Converted, "u#1"),
            Key::new("MEM#t#V#a%23b#c%25#u%231", "C")
        );
        assert_eq!(event_marker("t", "e#1"), Key::new("EID#t#e%231", "-"));
        assert_eq!(attribution("t", "u#1"), Key::new("ATT#t#u%231", "-"));
        assert_eq!(variant_counters_prefix("a#b"), "V#a%23b#");
    }
}
