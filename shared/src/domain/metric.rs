//! The metrics an experiment defines: what each selects from a user's
//! events, and what each user adds to their arm's sufficient statistics.
//!
//! A metric reads one or two **selections** of events: an event type,
//! optionally property values the event must have (`where`), optionally a
//! numeric property to sum (`valueProperty`). For each selection a user's
//! arm keeps a [`Tally`] (events selected, their values summed) on the
//! user's attribution item, so an event updates it in O(1). A tally is a
//! function of the *set* of the user's events: the order of arrival
//! changes nothing, and a redelivered event (stored once) adds nothing.
//!
//! From a user's tallies a metric gives per-user values `y` (and `x`, a
//! ratio's denominator). The arm keeps Σy, Σy², Σx, Σx² and Σxy
//! ([`MetricSums`]) by adding the difference of a user's contribution before
//! and after each change, in the transaction that stores the event, the
//! way `domain::arm_sums` keeps the built-in per-user metrics.
//!
//! Values are kept as integers, so that the sums are the same in any
//! order: `y` and `x` in millionths, squares and products in hundredths
//! squared, each rounded per user (see `arm_sums`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::FieldError;
use super::event::{Event, EventType};

/// What a metric measures per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Whether the user did it at least once: a share of users.
    Conversion,
    /// How many times, averaged over users.
    Count,
    /// A numeric property summed per user, averaged over users.
    Sum,
    /// One per-user sum over another, as a ratio of their totals.
    Ratio,
}

/// What a metric is for in the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    /// The metric the experiment is decided on.
    Goal,
    /// Reported, and corrected for, but not decided on.
    Secondary,
    /// Must not get significantly worse: a treatment that harms one is not
    /// shipped.
    Guardrail,
}

/// How a ratio's numerator or denominator aggregates its selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Count,
    Sum,
}

/// Events of one type, with the given property values; `value_property`
/// is what a sum adds up (`None`: the selection is only counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub event_type: EventType,
    pub filter: BTreeMap<String, Value>,
    pub value_property: Option<String>,
}

impl Selection {
    /// Whether `event` is one of these events.
    pub fn selects(&self, event: &Event) -> bool {
        event.event_type == self.event_type
            && self
                .filter
                .iter()
                .all(|(key, wanted)| event.properties.get(key).is_some_and(|v| same(v, wanted)))
    }

    /// The digest a user's tally of this selection is stored under: the
    /// same selection (whichever metric asks) shares one tally.
    pub fn digest(&self) -> String {
        let filter = serde_json::to_string(&self.filter).unwrap_or_default();
        let value = self.value_property.as_deref().unwrap_or("");
        short_digest(&[self.event_type.as_str(), value, &filter])
    }

    /// What `event` adds to a user's tally of this selection.
    pub fn tally_of(&self, event: &Event) -> Tally {
        let value = self.value_property.as_deref().map_or(0, |key| value_of(&event.properties, key));
        Tally { events: 1, value }
    }
}

/// Property values compare as JSON, numbers by value (`2` is `2.0`).
fn same(actual: &Value, wanted: &Value) -> bool {
    match (actual.as_f64(), wanted.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => actual == wanted,
    }
}

/// 64 bits of SHA-256 over NUL-joined parts, in hex: stable across
/// processes and versions, since stored items are keyed by it.
fn short_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Amounts (revenue, any summed property) are kept in millionths of the
/// unit, as integers, so that sums are exact and the same in any order.
pub const REVENUE_SCALE: f64 = 1_000_000.0;

/// A value beyond this (in either direction) adds nothing: its millionths
/// would not fit the counters.
pub const MAX_REVENUE_VALUE: f64 = 1e12;

/// `value / scale`, rounded half away from zero, saturating at 64 bits.
pub(crate) fn rounded(value: i128, scale: i128) -> i64 {
    let half = scale / 2 * value.signum();
    i64::try_from((value + half) / scale).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// The numeric property `key` in millionths (absent, not a number, or
/// beyond [`MAX_REVENUE_VALUE`]: 0), as revenue is kept.
pub fn value_of(properties: &Map<String, Value>, key: &str) -> i64 {
    match properties.get(key).and_then(Value::as_f64) {
        Some(value) if value.is_finite() && value.abs() <= MAX_REVENUE_VALUE => {
            (value * REVENUE_SCALE).round() as i64
        }
        _ => 0,
    }
}

/// A user's events of one selection in one arm: how many, and their
/// values summed (millionths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub events: i64,
    pub value: i64,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.events = self.events.saturating_add(other.events);
        self.value = self.value.saturating_add(other.value);
    }
}

/// One side of a metric: a selection, counted or summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub kind: PartKind,
    pub selection: Selection,
}

impl Part {
    /// The user's value of this part, in millionths.
    fn of(&self, tallies: &BTreeMap<String, Tally>, digest: &str) -> i64 {
        let tally = tallies.get(digest).copied().unwrap_or_default();
        match self.kind {
            PartKind::Count => tally.events.saturating_mul(REVENUE_SCALE as i64),
            PartKind::Sum => tally.value,
        }
    }
}

/// A metric an experiment defines, as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricDefinition {
    /// Unique within the experiment: `[a-z0-9_]`, up to 40 characters.
    pub id: String,
    pub name: String,
    pub kind: MetricKind,
    pub role: MetricRole,
    /// Lower is better (e.g. errors, refunds, latency).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inverse: bool,
    /// The events of a `conversion`, `count` or `sum` metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    /// Property values the events must have.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<BTreeMap<String, Value>>,
    /// The numeric property a `sum` adds up (`value` unless named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_property: Option<String>,
    /// A ratio's numerator and denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<PartDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<PartDefinition>,
    /// When the metric was defined.
    #[serde(with = "super::event::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub defined_at: DateTime<Utc>,
    /// Whether its figures cover the experiment from its start: false for a
    /// metric added once the experiment had counted events, whose earlier
    /// events are not in its sums.
    pub from_start: bool,
}

/// A ratio's numerator or denominator, as stored and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartDefinition {
    pub kind: PartKind,
    pub event_type: EventType,
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_property: Option<String>,
}

impl PartDefinition {
    fn part(&self) -> Part {
        Part {
            kind: self.kind,
            selection: Selection {
                event_type: self.event_type,
                filter: self.filter.clone().unwrap_or_default(),
                value_property: (self.kind == PartKind::Sum)
                    .then(|| self.value_property.clone().unwrap_or_else(|| DEFAULT_VALUE_PROPERTY.into())),
            },
        }
    }
}

pub const DEFAULT_VALUE_PROPERTY: &str = "value";
pub const MAX_METRICS: usize = 10;
const MAX_FILTERS: usize = 5;
const MAX_NAME_CHARS: usize = 100;
const MAX_ID_CHARS: usize = 40;
const MAX_PROPERTY_CHARS: usize = 100;

impl MetricDefinition {
    /// What the metric's per-user `y` (and a ratio's `x`) are made of.
    pub fn parts(&self) -> (Part, Option<Part>) {
        match (&self.numerator, &self.denominator) {
            (Some(numerator), Some(denominator)) => (numerator.part(), Some(denominator.part())),
            _ => {
                let kind = if self.kind == MetricKind::Sum { PartKind::Sum } else { PartKind::Count };
                let part = PartDefinition {
                    kind,
                    event_type: self.event_type.unwrap_or(EventType::Conversion),
                    filter: self.filter.clone(),
                    value_property: self.value_property.clone(),
                };
                (part.part(), None)
            }
        }
    }

    /// What identifies the metric's sums: its kind and selections (not its
    /// id, name or role, which may change without changing what is counted).
    pub fn digest(&self) -> String {
        let (y, x) = self.parts();
        let kind = serde_json::to_string(&self.kind).unwrap_or_default();
        let side = |part: &Part| format!("{:?}:{}", part.kind, part.selection.digest());
        short_digest(&[&kind, &side(&y), &x.as_ref().map(side).unwrap_or_default()])
    }
}

/// A metric as the writer applies it: its parts' tally digests, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledMetric {
    pub digest: String,
    pub kind: MetricKind,
    y: (Part, String),
    x: Option<(Part, String)>,
}

impl CompiledMetric {
    pub fn of(definition: &MetricDefinition) -> CompiledMetric {
        let (y, x) = definition.parts();
        let with_digest = |part: Part| {
            let digest = part.selection.digest();
            (part, digest)
        };
        CompiledMetric {
            digest: definition.digest(),
            kind: definition.kind,
            y: with_digest(y),
            x: x.map(with_digest),
        }
    }

    /// Every selection the metric reads, with its tally digest.
    pub fn selections(&self) -> impl Iterator<Item = (&Selection, &str)> {
        std::iter::once(&self.y)
            .chain(self.x.as_ref())
            .map(|(part, digest)| (&part.selection, digest.as_str()))
    }

    /// What a user with these tallies adds to the arm's sums.
    pub fn contribution(&self, tallies: &BTreeMap<String, Tally>) -> MetricSums {
        let mut y = self.y.0.of(tallies, &self.y.1);
        if self.kind == MetricKind::Conversion {
            y = if y > 0 { REVENUE_SCALE as i64 } else { 0 };
        }
        let x = self.x.as_ref().map_or(0, |(part, digest)| part.of(tallies, digest));
        let square = |a: i64, b: i64| rounded(i128::from(a) * i128::from(b), MICROS_PER_HUNDREDTH.pow(2));
        MetricSums { y, yy: square(y, y), x, xx: square(x, x), xy: square(x, y) }
    }
}

/// The compiled metrics of an experiment, and every selection they read
/// (each once), as the writer keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExperimentMetrics {
    pub metrics: Vec<CompiledMetric>,
    pub selections: Vec<(Selection, String)>,
}

impl ExperimentMetrics {
    pub fn of(definitions: &[MetricDefinition]) -> ExperimentMetrics {
        let metrics: Vec<CompiledMetric> = definitions.iter().map(CompiledMetric::of).collect();
        let mut selections: Vec<(Selection, String)> = Vec::new();
        for metric in &metrics {
            for (selection, digest) in metric.selections() {
                if !selections.iter().any(|(_, known)| known == digest) {
                    selections.push((selection.clone(), digest.to_owned()));
                }
            }
        }
        ExperimentMetrics { metrics, selections }
    }

    /// What `event` adds to each selection it is in, by tally digest.
    pub fn tallies_of<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = (&'a str, Tally)> + 'a {
        self.selections
            .iter()
            .filter(|(selection, _)| selection.selects(event))
            .map(|(selection, digest)| (digest.as_str(), selection.tally_of(event)))
    }

    pub fn selects(&self, event: &Event) -> bool {
        self.selections.iter().any(|(selection, _)| selection.selects(event))
    }
}

/// Millionths per hundredth, the unit squares and products are kept in.
const MICROS_PER_HUNDREDTH: i128 = 10_000;
/// Hundredths squared per unit squared.
const HUNDREDTHS_SQUARED_PER_UNIT: f64 = 10_000.0;

/// An arm's sums of one metric over its users (or one user's change).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricSums {
    /// Σy, in millionths.
    pub y: i64,
    /// Σy², in hundredths squared.
    pub yy: i64,
    /// Σx, in millionths (ratios only).
    pub x: i64,
    pub xx: i64,
    /// Σxy, in hundredths squared.
    pub xy: i64,
}

/// Names of the stored attributes, in the order of [`MetricSums::as_array`].
pub const ATTRIBUTES: [&str; 5] = ["y", "yy", "x", "xx", "xy"];

impl MetricSums {
    pub fn as_array(&self) -> [i64; 5] {
        [self.y, self.yy, self.x, self.xx, self.xy]
    }

    pub fn of_array([y, yy, x, xx, xy]: [i64; 5]) -> MetricSums {
        MetricSums { y, yy, x, xx, xy }
    }

    pub fn minus(self, other: MetricSums) -> MetricSums {
        let [a, b] = [self.as_array(), other.as_array()];
        MetricSums::of_array(std::array::from_fn(|i| a[i].wrapping_sub(b[i])))
    }

    pub fn plus(self, other: MetricSums) -> MetricSums {
        let [a, b] = [self.as_array(), other.as_array()];
        MetricSums::of_array(std::array::from_fn(|i| a[i].wrapping_add(b[i])))
    }

    pub fn is_zero(&self) -> bool {
        self.as_array() == [0; 5]
    }

    /// (Σy, Σy², Σx, Σx², Σxy) in units.
    pub fn units(&self) -> [f64; 5] {
        let unit = |v: i64| v as f64 / REVENUE_SCALE;
        let squared = |v: i64| v as f64 / HUNDREDTHS_SQUARED_PER_UNIT;
        [unit(self.y), squared(self.yy), unit(self.x), squared(self.xx), squared(self.xy)]
    }
}

/// Reads an experiment's `metrics`: at most [`MAX_METRICS`], ids unique,
/// exactly one goal. `now` is when new ones are defined.
pub fn parse_metrics(
    errors: &mut Vec<FieldError>,
    value: &Value,
    now: DateTime<Utc>,
) -> Vec<MetricDefinition> {
    let Some(entries) = value.as_array() else {
        errors.push(FieldError::new("metrics", "must be an array of metric definitions"));
        return Vec::new();
    };
    if entries.len() > MAX_METRICS {
        errors.push(FieldError::new("metrics", format!("must have at most {MAX_METRICS} metrics")));
        return Vec::new();
    }
    let before = errors.len();
    let metrics: Vec<MetricDefinition> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| parse_metric(errors, &format!("metrics[{i}]"), entry, now))
        .collect();
    if errors.len() > before {
        return metrics;
    }
    let mut seen = HashMap::new();
    for (i, metric) in metrics.iter().enumerate() {
        if let Some(first) = seen.insert(metric.id.as_str(), i) {
            errors.push(FieldError::new(
                format!("metrics[{i}].id"),
                format!("{} is already the id of metrics[{first}]", metric.id),
            ));
        }
    }
    let goals = metrics.iter().filter(|m| m.role == MetricRole::Goal).count();
    if !metrics.is_empty() && goals != 1 {
        errors.push(FieldError::new(
            "metrics",
            format!("must have exactly one goal (role \"goal\"), not {goals}"),
        ));
    }
    metrics
}

fn parse_metric(
    errors: &mut Vec<FieldError>,
    at: &str,
    value: &Value,
    now: DateTime<Utc>,
) -> Option<MetricDefinition> {
    let Some(object) = value.as_object() else {
        errors.push(FieldError::new(at, "must be an object {id, name, kind, role, …}"));
        return None;
    };
    let before = errors.len();
    let field = |name: &str| format!("{at}.{name}");
    let id = match object.get("id").and_then(Value::as_str) {
        Some(id)
            if (1..=MAX_ID_CHARS).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            id.to_owned()
        }
        _ => {
            errors.push(FieldError::new(
                field("id"),
                format!("must be 1 to {MAX_ID_CHARS} characters of a-z, 0-9 and _"),
            ));
            String::new()
        }
    };
    let name = match object.get("name") {
        None | Some(Value::Null) => id.clone(),
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_NAME_CHARS => {
            name.trim().to_owned()
        }
        Some(_) => {
            errors.push(FieldError::new(
                field("name"),
                format!("must be a string of 1 to {MAX_NAME_CHARS} characters"),
            ));
            String::new()
        }
    };
    let kind = match object.get("kind").and_then(Value::as_str) {
        Some("conversion") => Some(MetricKind::Conversion),
        Some("count") => Some(MetricKind::Count),
        Some("sum") => Some(MetricKind::Sum),
        Some("ratio") => Some(MetricKind::Ratio),
        Some("funnel") => {
            errors.push(FieldError::new(field("kind"), "funnel metrics are not available yet"));
            None
        }
        _ => {
            errors.push(FieldError::new(field("kind"), "must be conversion, count, sum or ratio"));
            None
        }
    };
    let role = match object.get("role").and_then(Value::as_str) {
        None => MetricRole::Secondary,
        Some("goal") => MetricRole::Goal,
        Some("secondary") => MetricRole::Secondary,
        Some("guardrail") => MetricRole::Guardrail,
        Some(_) => {
            errors.push(FieldError::new(field("role"), "must be goal, secondary or guardrail"));
            MetricRole::Secondary
        }
    };
    if object.get("role").is_some_and(|role| !role.is_string()) {
        errors.push(FieldError::new(field("role"), "must be goal, secondary or guardrail"));
    }
    let inverse = match object.get("inverse") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(inverse)) => *inverse,
        Some(_) => {
            errors.push(FieldError::new(field("inverse"), "must be true or false"));
            false
        }
    };
    let kind = kind?;
    let (allowed, event_type, filter, value_property, numerator, denominator): (&[&str], _, _, _, _, _) =
        match kind {
            MetricKind::Ratio => {
                let numerator = parse_part(errors, &field("numerator"), object.get("numerator"));
                let denominator = parse_part(errors, &field("denominator"), object.get("denominator"));
                (&["numerator", "denominator"], None, None, None, numerator, denominator)
            }
            _ => {
                let event_type = parse_event_type(errors, &field("eventType"), object.get("eventType"));
                let filter = parse_filter(errors, &field("where"), object.get("where"));
                let value_property = match kind {
                    MetricKind::Sum => Some(parse_value_property(
                        errors,
                        &field("valueProperty"),
                        object.get("valueProperty"),
                    )),
                    _ => None,
                };
                let allowed: &[&str] = if kind == MetricKind::Sum {
                    &["eventType", "where", "valueProperty"]
                } else {
                    &["eventType", "where"]
                };
                (allowed, event_type, filter, value_property, None, None)
            }
        };
    const COMMON: [&str; 5] = ["id", "name", "kind", "role", "inverse"];
    if let Some(unknown) =
        object.keys().find(|key| !COMMON.contains(&key.as_str()) && !allowed.contains(&key.as_str()))
    {
        errors.push(FieldError::new(
            field(unknown),
            format!("is not a field of a {} metric", object["kind"].as_str().unwrap_or("")),
        ));
    }
    (errors.len() == before).then_some(MetricDefinition {
        id,
        name,
        kind,
        role,
        inverse,
        event_type,
        filter,
        value_property,
        numerator,
        denominator,
        defined_at: now,
        from_start: true,
    })
}

fn parse_event_type(errors: &mut Vec<FieldError>, at: &str, value: Option<&Value>) -> Option<EventType> {
    let parsed = value.and_then(Value::as_str).and_then(EventType::parse);
    if parsed.is_none() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        errors.push(FieldError::new(at, format!("must be one of {}", names.join(", "))));
    }
    parsed
}

fn parse_filter(
    errors: &mut Vec<FieldError>,
    at: &str,
    value: Option<&Value>,
) -> Option<BTreeMap<String, Value>> {
    let object = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(object)) => object,
        Some(_) => {
            errors.push(FieldError::new(at, "must be an object of property values"));
            return None;
        }
    };
    if object.is_empty() {
        return None;
    }
    if object.len() > MAX_FILTERS {
        errors.push(FieldError::new(at, format!("must have at most {MAX_FILTERS} properties")));
        return None;
    }
    let mut filter = BTreeMap::new();
    for (key, wanted) in object {
        let scalar = matches!(wanted, Value::String(_) | Value::Number(_) | Value::Bool(_));
        if key.is_empty() || key.chars().count() > MAX_PROPERTY_CHARS || !scalar {
            errors.push(FieldError::new(
                format!("{at}.{key}"),
                format!(
                    "must be a string, number or boolean, under a key of 1 to {MAX_PROPERTY_CHARS} characters"
                ),
            ));
        } else {
            filter.insert(key.clone(), wanted.clone());
        }
    }
    Some(filter)
}

fn parse_value_property(errors: &mut Vec<FieldError>, at: &str, value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => DEFAULT_VALUE_PROPERTY.to_owned(),
        Some(Value::String(key)) if !key.is_empty() && key.chars().count() <= MAX_PROPERTY_CHARS => {
            key.clone()
        }
        Some(_) => {
            errors.push(FieldError::new(
                at,
                format!("must be a property name of 1 to {MAX_PROPERTY_CHARS} characters"),
            ));
            DEFAULT_VALUE_PROPERTY.to_owned()
        }
    }
}

fn parse_part(errors: &mut Vec<FieldError>, at: &str, value: Option<&Value>) -> Option<PartDefinition> {
    let Some(object) = value.and_then(Value::as_object) else {
        errors.push(FieldError::new(at, "must be {kind: count|sum, eventType, where?, valueProperty?}"));
        return None;
    };
    let field = |name: &str| format!("{at}.{name}");
    let kind = match object.get("kind").and_then(Value::as_str) {
        Some("count") => Some(PartKind::Count),
        Some("sum") => Some(PartKind::Sum),
        _ => {
            errors.push(FieldError::new(field("kind"), "must be count or sum"));
            None
        }
    };
    let event_type = parse_event_type(errors, &field("eventType"), object.get("eventType"));
    let filter = parse_filter(errors, &field("where"), object.get("where"));
    let value_property = (kind == Some(PartKind::Sum))
        .then(|| parse_value_property(errors, &field("valueProperty"), object.get("valueProperty")));
    let allowed: &[&str] = if kind == Some(PartKind::Sum) {
        &["kind", "eventType", "where", "valueProperty"]
    } else {
        &["kind", "eventType", "where"]
    };
    if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        errors.push(FieldError::new(field(unknown), "is not a field of this part"));
    }
    Some(PartDefinition { kind: kind?, event_type: event_type?, filter, value_property })
}

/// `next`'s metrics, each keeping when it was defined and whether it covers
/// the experiment from its start if `current` has it already (same id and
/// what it counts); a new or changed one covers the start only if nothing
/// has been counted yet (`counted`).
pub fn carry_over(current: &[MetricDefinition], next: &mut [MetricDefinition], counted: bool) {
    for metric in next {
        match current.iter().find(|old| old.id == metric.id && old.digest() == metric.digest()) {
            Some(old) => {
                metric.defined_at = old.defined_at;
                metric.from_start = old.from_start;
            }
            None => metric.from_start = !counted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    fn parsed(value: Value) -> Result<Vec<MetricDefinition>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let metrics = parse_metrics(&mut errors, &value, now());
        if errors.is_empty() { Ok(metrics) } else { Err(errors) }
    }

    fn event(kind: EventType, properties: Value) -> Event {
        Event {
            id: "e".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            event_type: kind,
            experiment_id: Some("x".into()),
            variant: Some("A".into()),
            properties: properties.as_object().cloned().unwrap_or_default(),
            timestamp: now(),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn definitions_are_validated_with_the_field_at_fault() {
        let ok = parsed(json!([
            {"id": "buy", "kind": "conversion", "role": "goal", "eventType": "CONVERSION"},
            {"id": "revenue", "name": "Revenue", "kind": "sum", "eventType": "CONVERSION", "valueProperty": "amount"},
            {"id": "errors", "kind": "count", "role": "guardrail", "inverse": true, "eventType": "CLICK",
             "where": {"button": "error"}},
            {"id": "aov", "kind": "ratio", "numerator": {"kind": "sum", "eventType": "CONVERSION"},
             "denominator": {"kind": "count", "eventType": "CONVERSION"}},
        ]))
        .unwrap();
        assert_eq!(ok.len(), 4);
        assert_eq!((ok[0].name.as_str(), ok[1].role, ok[2].inverse), ("buy", MetricRole::Secondary, true));
        assert_eq!(ok[1].value_property.as_deref(), Some("amount"));
        assert!(ok.iter().all(|m| m.from_start && m.defined_at == now()));

        let goal = json!({"id": "g", "kind": "conversion", "role": "goal", "eventType": "CONVERSION"});
        for (bad, field) in [
            (json!({"metrics": 1}), "metrics"),
            (json!([{"id": "A", "kind": "count", "role": "goal", "eventType": "CLICK"}]), "metrics[0].id"),
            (json!([{"id": "f", "kind": "funnel", "role": "goal"}]), "metrics[0].kind"),
            (
                json!([{"id": "c", "kind": "count", "role": "goal", "eventType": "TAP"}]),
                "metrics[0].eventType",
            ),
            (
                json!([{"id": "c", "kind": "count", "role": "goal", "eventType": "CLICK", "where": {"a": [1]}}]),
                "metrics[0].where.a",
            ),
            (
                json!([{"id": "c", "kind": "count", "role": "goal", "eventType": "CLICK", "valueProperty": "v"}]),
                "metrics[0].valueProperty",
            ),
            (
                json!([{"id": "r", "kind": "ratio", "role": "goal", "numerator": {"kind": "avg", "eventType": "CLICK"},
                     "denominator": {"kind": "count", "eventType": "CLICK"}}]),
                "metrics[0].numerator.kind",
            ),
            (
                json!([{"id": "r", "kind": "ratio", "role": "goal", "numerator": {"kind": "count", "eventType": "CLICK"}}]),
                "metrics[0].denominator",
            ),
            (json!([goal, {"id": "g", "kind": "count", "eventType": "CLICK"}]), "metrics[1].id"),
            (json!([{"id": "s", "kind": "count", "eventType": "CLICK"}]), "metrics"),
            (json!([goal, {"id": "h", "kind": "count", "role": "goal", "eventType": "CLICK"}]), "metrics"),
            (
                json!([{"id": "g", "kind": "conversion", "role": "boss", "eventType": "CONVERSION"}]),
                "metrics[0].role",
            ),
        ] {
            let errors = parsed(bad.clone()).expect_err(&bad.to_string());
            assert!(fields(errors.clone()).contains(&field.to_owned()), "{bad}: {:?}", errors);
        }
        let eleven: Vec<Value> =
            (0..11).map(|i| json!({"id": format!("m{i}"), "kind": "count", "eventType": "CLICK"})).collect();
        assert_eq!(fields(parsed(json!(eleven)).unwrap_err()), ["metrics"]);
    }

    #[test]
    fn selections_match_type_and_property_values() {
        let selection = Selection {
            event_type: EventType::Click,
            filter: BTreeMap::from([("button".into(), json!("buy")), ("step".into(), json!(2))]),
            value_property: None,
        };
        assert!(selection.selects(&event(EventType::Click, json!({"button": "buy", "step": 2.0}))));
        assert!(!selection.selects(&event(EventType::Click, json!({"button": "buy"}))));
        assert!(!selection.selects(&event(EventType::Click, json!({"button": "Buy", "step": 2}))));
        assert!(!selection.selects(&event(EventType::PageView, json!({"button": "buy", "step": 2}))));
    }

    #[test]
    fn digests_follow_what_is_counted_not_names() {
        let metric = |value: Value| parsed(json!([value])).unwrap().remove(0);
        let a = metric(json!({"id": "a", "kind": "sum", "role": "goal", "eventType": "CONVERSION"}));
        let b =
            metric(json!({"id": "b", "name": "B", "kind": "sum", "role": "goal", "eventType": "CONVERSION",
                              "valueProperty": "value"}));
        let c = metric(json!({"id": "a", "kind": "count", "role": "goal", "eventType": "CONVERSION"}));
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.digest().len(), 16);
        // Pinned: stored sums and tallies are keyed by these.
        let selection =
            Selection { event_type: EventType::Click, filter: BTreeMap::new(), value_property: None };
        assert_eq!(selection.digest(), short_digest(&["CLICK", "", "{}"]));
    }

    #[test]
    fn contributions_per_kind() {
        let metrics = parsed(json!([
            {"id": "conv", "kind": "conversion", "role": "goal", "eventType": "CONVERSION"},
            {"id": "views", "kind": "count", "eventType": "PAGE_VIEW"},
            {"id": "rev", "kind": "sum", "eventType": "CONVERSION"},
            {"id": "aov", "kind": "ratio", "numerator": {"kind": "sum", "eventType": "CONVERSION"},
             "denominator": {"kind": "count", "eventType": "CONVERSION"}},
        ]))
        .unwrap();
        let compiled = ExperimentMetrics::of(&metrics);
        assert_eq!(compiled.selections.len(), 3, "the sum's selection is shared");
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        for e in [
            event(EventType::PageView, json!({})),
            event(EventType::PageView, json!({})),
            event(EventType::Conversion, json!({"value": 12.5})),
            event(EventType::Conversion, json!({"value": "n/a"})),
        ] {
            for (digest, tally) in compiled.tallies_of(&e) {
                tallies.entry(digest.to_owned()).or_default().add(tally);
            }
        }
        let units: Vec<[f64; 5]> =
            compiled.metrics.iter().map(|m| m.contribution(&tallies).units()).collect();
        assert_eq!(units[0], [1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(units[1], [2.0, 4.0, 0.0, 0.0, 0.0]);
        assert_eq!(units[2], [12.5, 156.25, 0.0, 0.0, 0.0]);
        assert_eq!(units[3], [12.5, 156.25, 2.0, 4.0, 25.0]);
        assert!(compiled.metrics[0].contribution(&BTreeMap::new()).is_zero());
    }

    #[test]
    fn a_metric_kept_keeps_its_coverage_and_a_new_one_starts_late() {
        let first =
            parsed(json!([{"id": "g", "kind": "conversion", "role": "goal", "eventType": "CONVERSION"}]))
                .unwrap();
        let mut next = parsed(json!([
            {"id": "g", "name": "Renamed", "kind": "conversion", "role": "goal", "eventType": "CONVERSION"},
            {"id": "clicks", "kind": "count", "eventType": "CLICK"},
        ]))
        .unwrap();
        for metric in &mut next {
            metric.defined_at = now() + chrono::Duration::hours(1);
        }
        carry_over(&first, &mut next, true);
        assert_eq!((next[0].defined_at, next[0].from_start), (now(), true));
        assert!(!next[1].from_start);
        carry_over(&first, &mut next, false);
        assert!(next[1].from_start, "nothing counted yet: it covers the start");
    }
}
