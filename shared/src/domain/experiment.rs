//! Experiments: definition, validation and the status life cycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{MAX_TAG_CHARS, rfc3339};
use super::metric::{self, MetricDefinition};
use super::stats::{
    DEFAULT_SEQUENTIAL_TUNING, Engine, GaussianPrior, PRIOR_MEANS, PRIOR_STD_DEVS, SEQUENTIAL_TUNINGS,
};
use super::time_range::parse_range;
use super::{FieldError, check_length};

pub const MIN_VARIANTS: usize = 2;
pub const MAX_VARIANTS: usize = 10;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Weights are percentages; their sum may be off by rounding only.
const WEIGHT_TOLERANCE: f64 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Draft,
    Active,
    Paused,
    Completed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Draft, Status::Active, Status::Paused, Status::Completed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "DRAFT",
            Status::Active => "ACTIVE",
            Status::Paused => "PAUSED",
            Status::Completed => "COMPLETED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// DRAFT→ACTIVE, ACTIVE↔PAUSED, ACTIVE/PAUSED→COMPLETED.
    pub fn can_move_to(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Draft, Active) | (Active, Paused) | (Paused, Active) | (Active, Completed) | (Paused, Completed)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    pub name: String,
    /// Percentage of traffic, all variants summing to 100.
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: Status,
    pub variants: Vec<Variant>,
    /// The variant others are compared against (the first unless named).
    pub control_variant: String,
    /// Seed of deterministic assignment hashing (the id unless named).
    pub tracking_key: String,
    #[serde(with = "optional_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(with = "optional_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, bumped by every update.
    #[serde(skip_serializing, default)]
    #[schema(ignore)]
    pub version: u64,
    /// How results compare the variants unless a request names an engine
    /// (`?engine=`); the fixed-horizon one for experiments stored before
    /// engines existed.
    #[serde(default)]
    pub engine: Engine,
    /// The metrics results report (`domain::metric`); none: the built-in
    /// ones, decided on conversion to a CONVERSION event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricDefinition>,
}

/// Reads an experiment's `engine`: a name (`"sequential"`, with its
/// default settings) or `{name, tuning?, prior?: {mean, stdDev}}`.
fn parse_engine(errors: &mut Vec<FieldError>, value: &Value) -> Engine {
    let (name, settings) = match value {
        Value::String(name) => (name.as_str(), None),
        Value::Object(object) => match object.get("name").and_then(Value::as_str) {
            Some(name) => (name, Some(object)),
            None => ("", Some(object)),
        },
        _ => ("", None),
    };
    let number = |errors: &mut Vec<FieldError>,
                  field: &str,
                  raw: Option<&Value>,
                  range: std::ops::RangeInclusive<f64>| {
        match raw.and_then(Value::as_f64).filter(|n| range.contains(n)) {
            Some(n) => Some(n),
            None => {
                errors.push(FieldError::new(
                    field,
                    format!("must be a number from {} to {}", range.start(), range.end()),
                ));
                None
            }
        }
    };
    let setting = |key: &str| settings.and_then(|object| object.get(key)).filter(|v| !v.is_null());
    let engine = match name {
        "frequentist" => Engine::Frequentist,
        "sequential" => Engine::Sequential {
            tuning: match setting("tuning") {
                None => DEFAULT_SEQUENTIAL_TUNING,
                Some(raw) => number(errors, "engine.tuning", Some(raw), SEQUENTIAL_TUNINGS)
                    .unwrap_or(DEFAULT_SEQUENTIAL_TUNING),
            },
        },
        "bayesian" => Engine::Bayesian {
            prior: setting("prior").and_then(|prior| {
                let mean = number(errors, "engine.prior.mean", prior.get("mean"), PRIOR_MEANS);
                let std_dev = number(errors, "engine.prior.stdDev", prior.get("stdDev"), PRIOR_STD_DEVS);
                Some(GaussianPrior { mean: mean?, std_dev: std_dev? })
            }),
        },
        _ => {
            errors.push(FieldError::new(
                "engine",
                "must be frequentist, sequential or bayesian, or {name, tuning?, prior?: {mean, stdDev}}",
            ));
            return Engine::Frequentist;
        }
    };
    let allowed: &[&str] = match engine {
        Engine::Frequentist => &["name"],
        Engine::Sequential { .. } => &["name", "tuning"],
        Engine::Bayesian { .. } => &["name", "prior"],
    };
    if let Some(unknown) =
        settings.and_then(|object| object.keys().find(|key| !allowed.contains(&key.as_str())))
    {
        errors.push(FieldError::new("engine", format!("{unknown} is not a setting of the {name} engine")));
    }
    engine
}

mod optional_rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

fn optional_string(
    errors: &mut Vec<FieldError>,
    body: &serde_json::Map<String, Value>,
    field: &str,
    max: usize,
) -> Option<Option<String>> {
    match body.get(field)? {
        Value::Null => Some(None),
        Value::String(value) => {
            check_length(errors, field, value, 0, max);
            Some(Some(value.clone()))
        }
        _ => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

fn required_name(errors: &mut Vec<FieldError>, value: Option<&Value>) -> String {
    match value {
        Some(Value::String(name)) if !name.trim().is_empty() => {
            check_length(errors, "name", name, 1, MAX_NAME_CHARS);
            name.trim().to_owned()
        }
        _ => {
            errors.push(FieldError::new(
                "name",
                format!("is required: a non-blank string of at most {MAX_NAME_CHARS} characters"),
            ));
            String::new()
        }
    }
}

/// Parses `["A","B"]` (equal weights) or `[{name, weight|trafficSplit}]`.
pub fn parse_variants(errors: &mut Vec<FieldError>, value: Option<&Value>) -> Vec<Variant> {
    let Some(Value::Array(entries)) = value else {
        errors.push(FieldError::new(
            "variants",
            "is required: a list of variant names or of {name, weight} objects",
        ));
        return Vec::new();
    };
    if entries.len() < MIN_VARIANTS || entries.len() > MAX_VARIANTS {
        errors.push(FieldError::new(
            "variants",
            format!("must list {MIN_VARIANTS} to {MAX_VARIANTS} variants"),
        ));
        return Vec::new();
    }
    let equal = 100.0 / entries.len() as f64;
    let all_names = entries.iter().all(Value::is_string);
    let mut variants = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("variants[{i}]");
        let (name, weight) = match entry {
            Value::String(name) if all_names => (Some(name.clone()), Some(equal)),
            Value::Object(object) => {
                let name = object.get("name").and_then(Value::as_str).map(str::to_owned);
                let weight =
                    object.get("weight").or_else(|| object.get("trafficSplit")).and_then(Value::as_f64);
                if weight.is_none() {
                    errors.push(FieldError::new(
                        format!("{field}.weight"),
                        "is required: a percentage (all weights sum to 100)",
                    ));
                }
                (name, weight)
            }
            _ => {
                errors.push(FieldError::new(
                    &field,
                    "must be a variant name, or every variant an object {name, weight}",
                ));
                continue;
            }
        };
        match &name {
            Some(name) => check_length(errors, format_args!("{field}.name"), name, 1, MAX_TAG_CHARS),
            None => errors.push(FieldError::new(format!("{field}.name"), "is required")),
        }
        if let Some(weight) = weight
            && !(weight > 0.0 && weight <= 100.0)
        {
            errors.push(FieldError::new(
                format!("{field}.weight"),
                "must be a percentage greater than 0 and at most 100",
            ));
        }
        variants.push(Variant { name: name.unwrap_or_default(), weight: weight.unwrap_or(0.0) });
    }
    if variants.len() == entries.len() {
        let mut names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            errors.push(FieldError::new("variants", "variant names must be unique"));
        }
        let total: f64 = variants.iter().map(|v| v.weight).sum();
        if !all_names && (total - 100.0).abs() > WEIGHT_TOLERANCE {
            errors.push(FieldError::new("variants", format!("weights must sum to 100, got {total}")));
        }
    }
    variants
}

fn parse_dates(
    errors: &mut Vec<FieldError>,
    start: Option<&Value>,
    end: Option<&Value>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let as_text = |errors: &mut Vec<FieldError>, field: &str, value: Option<&Value>| match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a date or RFC 3339 date-time string"));
            None
        }
    };
    let start = as_text(errors, "startDate", start);
    let end = as_text(errors, "endDate", end);
    match parse_range(start.as_deref(), end.as_deref()) {
        Ok(range) => (range.start, range.end),
        Err(mut range_errors) => {
            errors.append(&mut range_errors);
            (None, None)
        }
    }
}

fn control_variant(errors: &mut Vec<FieldError>, value: Option<&Value>, variants: &[Variant]) -> String {
    let first = variants.first().map(|v| v.name.clone()).unwrap_or_default();
    match value {
        None | Some(Value::Null) => first,
        Some(Value::String(name)) if variants.iter().any(|v| &v.name == name) => name.clone(),
        Some(_) => {
            errors.push(FieldError::new("controlVariant", "must name one of the variants"));
            first
        }
    }
}

/// Validates a create body into a new experiment.
pub fn new_experiment(body: &Value, now: DateTime<Utc>) -> Result<Experiment, Vec<FieldError>> {
    let Some(body) = body.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let name = required_name(&mut errors, body.get("name"));
    let description = optional_string(&mut errors, body, "description", MAX_DESCRIPTION_CHARS).flatten();
    let variants = parse_variants(&mut errors, body.get("variants"));
    let status = match body.get("status") {
        None | Some(Value::Null) => Status::Draft,
        Some(Value::String(raw)) => match Status::parse(raw) {
            Some(status @ (Status::Draft | Status::Active)) => status,
            _ => {
                errors.push(FieldError::new("status", "must be DRAFT or ACTIVE for a new experiment"));
                Status::Draft
            }
        },
        Some(_) => {
            errors.push(FieldError::new("status", "must be DRAFT or ACTIVE for a new experiment"));
            Status::Draft
        }
    };
    let (mut start_date, end_date) = parse_dates(&mut errors, body.get("startDate"), body.get("endDate"));
    let control = control_variant(&mut errors, body.get("controlVariant"), &variants);
    let id = uuid::Uuid::now_v7().to_string();
    let tracking_key = match optional_string(&mut errors, body, "trackingKey", MAX_TAG_CHARS).flatten() {
        Some(key) if !key.is_empty() => key,
        _ => id.clone(),
    };
    let engine = body
        .get("engine")
        .filter(|v| !v.is_null())
        .map_or(Engine::Frequentist, |v| parse_engine(&mut errors, v));
    let metrics = body
        .get("metrics")
        .filter(|v| !v.is_null())
        .map_or_else(Vec::new, |v| metric::parse_metrics(&mut errors, v, now));
    if !errors.is_empty() {
        return Err(errors);
    }
    if status == Status::Active && start_date.is_none() {
        start_date = Some(now);
    }
    Ok(Experiment {
        id,
        name,
        description,
        status,
        variants,
        control_variant: control,
        tracking_key,
        start_date,
        end_date,
        created_at: now,
        updated_at: now,
        version: 1,
        engine,
        metrics,
    })
}

#[derive(Debug, PartialEq)]
pub enum PatchError {
    Invalid(Vec<FieldError>),
    /// The change is well-formed but not allowed in the current state.
    Conflict(String),
}

/// Applies a PATCH body (`status`, `name`, `description`, `startDate`,
/// `endDate`, `variants`, `controlVariant`, `engine`, `metrics`) to an
/// experiment. The engine and the metrics may change in any state: a
/// metric new to the experiment is taken not to cover its start (see
/// [`metric::carry_over`]; the caller knowing nothing was counted yet may
/// say otherwise).
pub fn apply_patch(current: &Experiment, body: &Value, now: DateTime<Utc>) -> Result<Experiment, PatchError> {
    const UPDATABLE: [&str; 9] = [
        "status",
        "name",
        "description",
        "startDate",
        "endDate",
        "variants",
        "controlVariant",
        "engine",
        "metrics",
    ];
    let Some(body) = body.as_object() else {
        return Err(PatchError::Invalid(vec![FieldError::new("body", "must be a JSON object")]));
    };
    if !UPDATABLE.iter().any(|field| body.contains_key(*field)) {
        return Err(PatchError::Invalid(vec![FieldError::new(
            "body",
            format!("names nothing to update; updatable fields: {}", UPDATABLE.join(", ")),
        )]));
    }
    let mut errors = Vec::new();
    let mut next = current.clone();
    if body.contains_key("name") {
        next.name = required_name(&mut errors, body.get("name"));
    }
    if let Some(description) = optional_string(&mut errors, body, "description", MAX_DESCRIPTION_CHARS) {
        next.description = description;
    }
    let new_status = match body.get("status") {
        None => None,
        Some(Value::String(raw)) if Status::parse(raw).is_some() => Status::parse(raw),
        Some(_) => {
            errors.push(FieldError::new("status", "must be one of DRAFT, ACTIVE, PAUSED, COMPLETED"));
            None
        }
    };
    if body.contains_key("variants") {
        next.variants = parse_variants(&mut errors, body.get("variants"));
        if !next.variants.iter().any(|v| v.name == next.control_variant) {
            next.control_variant = next.variants.first().map(|v| v.name.clone()).unwrap_or_default();
        }
    }
    if body.contains_key("controlVariant") {
        next.control_variant = control_variant(&mut errors, body.get("controlVariant"), &next.variants);
    }
    if let Some(engine) = body.get("engine") {
        next.engine = if engine.is_null() { Engine::Frequentist } else { parse_engine(&mut errors, engine) };
    }
    if let Some(metrics) = body.get("metrics") {
        next.metrics =
            if metrics.is_null() { Vec::new() } else { metric::parse_metrics(&mut errors, metrics, now) };
        metric::carry_over(&current.metrics, &mut next.metrics, true);
    }
    if body.contains_key("startDate") || body.contains_key("endDate") {
        let start_value = body.get("startDate").cloned().unwrap_or_else(|| {
            current.start_date.map_or(Value::Null, |t| Value::String(rfc3339::format(&t)))
        });
        let end_value = body
            .get("endDate")
            .cloned()
            .unwrap_or_else(|| current.end_date.map_or(Value::Null, |t| Value::String(rfc3339::format(&t))));
        let (start, end) = parse_dates(&mut errors, Some(&start_value), Some(&end_value));
        next.start_date = start;
        next.end_date = end;
    }
    if !errors.is_empty() {
        return Err(PatchError::Invalid(errors));
    }
    if current.status != Status::Draft
        && (next.variants != current.variants || next.control_variant != current.control_variant)
    {
        return Err(PatchError::Conflict(format!(
            "variants cannot change once an experiment has left DRAFT (it is {})",
            current.status.as_str()
        )));
    }
    if let Some(status) = new_status.filter(|s| *s != current.status) {
        if !current.status.can_move_to(status) {
            return Err(PatchError::Conflict(format!(
                "cannot move an experiment from {} to {}",
                current.status.as_str(),
                status.as_str()
            )));
        }
        next.status = status;
        if status == Status::Active && next.start_date.is_none() {
            next.start_date = Some(now);
        }
        if status == Status::Completed && next.end_date.is_none() {
            next.end_date = Some(now);
        }
    }
    next.updated_at = now;
    next.version = current.version + 1;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn an_engine_is_named_or_set_and_checked() {
        let create = |engine: Value| {
            new_experiment(&json!({"name": "x", "variants": ["A", "B"], "engine": engine}), now())
        };
        assert_eq!(create(Value::Null).unwrap().engine, Engine::Frequentist);
        assert_eq!(
            create(json!("sequential")).unwrap().engine,
            Engine::Sequential { tuning: DEFAULT_SEQUENTIAL_TUNING }
        );
        assert_eq!(
            create(json!({"name": "sequential", "tuning": 800})).unwrap().engine,
            Engine::Sequential { tuning: 800.0 }
        );
        assert_eq!(create(json!("bayesian")).unwrap().engine, Engine::Bayesian { prior: None });
        assert_eq!(
            create(json!({"name": "bayesian", "prior": {"mean": 0.05, "stdDev": 0.2}})).unwrap().engine,
            Engine::Bayesian { prior: Some(GaussianPrior { mean: 0.05, std_dev: 0.2 }) }
        );
        for (bad, field) in [
            (json!("magic"), "engine"),
            (json!(7), "engine"),
            (json!({"tuning": 5}), "engine"),
            (json!({"name": "sequential", "tuning": 0}), "engine.tuning"),
            (json!({"name": "sequential", "prior": {"mean": 0, "stdDev": 1}}), "engine"),
            (json!({"name": "bayesian", "prior": {"mean": 0}}), "engine.prior.stdDev"),
            (json!({"name": "bayesian", "prior": {"mean": 50, "stdDev": 1}}), "engine.prior.mean"),
        ] {
            assert_eq!(fields(create(bad.clone()).unwrap_err()), vec![field.to_owned()], "{bad}");
        }
        // Stored before engines existed: the fixed-horizon engine.
        let mut stored = serde_json::to_value(create(json!("bayesian")).unwrap()).unwrap();
        stored.as_object_mut().unwrap().remove("engine");
        assert_eq!(serde_json::from_value::<Experiment>(stored).unwrap().engine, Engine::Frequentist);
        // Patched in any state, back to the default with null.
        let running =
            apply_patch(&create(Value::Null).unwrap(), &json!({"status": "ACTIVE"}), now()).unwrap();
        let patched = apply_patch(&running, &json!({"engine": "sequential"}), now()).unwrap();
        assert_eq!(patched.engine, Engine::Sequential { tuning: DEFAULT_SEQUENTIAL_TUNING });
        assert_eq!(
            apply_patch(&patched, &json!({"engine": null}), now()).unwrap().engine,
            Engine::Frequentist
        );
        let out = serde_json::to_value(&patched).unwrap();
        assert_eq!(out["engine"], json!({"name": "sequential", "tuning": 5000.0}));
    }

    #[test]
    fn names_get_equal_weights() {
        let experiment = new_experiment(&json!({"name": "CTA", "variants": ["A", "B", "C"]}), now()).unwrap();
        assert_eq!(experiment.status, Status::Draft);
        assert_eq!(experiment.control_variant, "A");
        assert_eq!(experiment.tracking_key, experiment.id);
        assert!(experiment.variants.iter().all(|v| (v.weight - 100.0 / 3.0).abs() < 1e-9));
        let out = serde_json::to_value(&experiment).unwrap();
        assert_eq!(out["status"], "DRAFT");
        assert!(out.get("version").is_none());
        assert_eq!(out["startDate"], Value::Null);
    }

    #[test]
    fn weighted_variants_accept_the_traffic_split_alias() {
        let body = json!({"name": "x", "status": "ACTIVE",
            "variants": [{"name": "A", "weight": 70}, {"name": "B", "trafficSplit": 30}]});
        let experiment = new_experiment(&body, now()).unwrap();
        assert_eq!(experiment.variants[1], Variant { name: "B".into(), weight: 30.0 });
        assert_eq!(experiment.start_date, Some(now()), "activation starts the clock");
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            (json!({"variants": ["A", "B"]}), vec!["name"]),
            (json!({"name": "x", "variants": ["A"]}), vec!["variants"]),
            (json!({"name": "x", "variants": ["A", "A"]}), vec!["variants"]),
            (
                json!({"name": "x", "variants": [{"name": "A", "weight": 60}, {"name": "B", "weight": 30}]}),
                vec!["variants"],
            ),
            (
                json!({"name": "x", "variants": [{"name": "A", "weight": 100}, {"name": "B", "weight": 0}]}),
                vec!["variants[1].weight"],
            ),
            (json!({"name": "x", "variants": ["A", {"name": "B", "weight": 50}]}), vec!["variants[0]"]),
            (json!({"name": "x", "variants": ["A", "B"], "status": "COMPLETED"}), vec!["status"]),
            (
                json!({"name": "x", "variants": ["A", "B"], "startDate": "2026-02-01", "endDate": "2026-01-01"}),
                vec!["startDate"],
            ),
            (json!({"name": "x", "variants": ["A", "B"], "controlVariant": "C"}), vec!["controlVariant"]),
        ];
        for (body, expected) in cases {
            assert_eq!(fields(new_experiment(&body, now()).unwrap_err()), expected, "{body}");
        }
    }

    #[test]
    fn status_moves_follow_the_life_cycle() {
        use Status::*;
        let allowed =
            [(Draft, Active), (Active, Paused), (Paused, Active), (Active, Completed), (Paused, Completed)];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(from.can_move_to(to), allowed.contains(&(from, to)), "{from:?}->{to:?}");
            }
        }
    }

    #[test]
    fn patches_respect_state() {
        let draft = new_experiment(&json!({"name": "x", "variants": ["A", "B"]}), now()).unwrap();
        let renamed = apply_patch(&draft, &json!({"variants": ["A", "B", "C"], "name": "y"}), now()).unwrap();
        assert_eq!(renamed.variants.len(), 3);
        assert_eq!(renamed.version, draft.version + 1);
        let active = apply_patch(&renamed, &json!({"status": "ACTIVE"}), now()).unwrap();
        assert_eq!(active.start_date, Some(now()));
        assert!(matches!(
            apply_patch(&active, &json!({"variants": ["A", "B"]}), now()),
            Err(PatchError::Conflict(_))
        ));
        assert!(matches!(
            apply_patch(&active, &json!({"status": "DRAFT"}), now()),
            Err(PatchError::Conflict(_))
        ));
        let completed = apply_patch(&active, &json!({"status": "COMPLETED"}), now()).unwrap();
        assert_eq!(completed.end_date, Some(now()));
        assert!(matches!(
            apply_patch(&completed, &json!({"status": "ACTIVE"}), now()),
            Err(PatchError::Conflict(_))
        ));
        assert!(matches!(apply_patch(&completed, &json!({}), now()), Err(PatchError::Invalid(_))));
        assert!(matches!(
            apply_patch(&completed, &json!({"status": "DONE"}), now()),
            Err(PatchError::Invalid(_))
        ));
        let cleared = apply_patch(&completed, &json!({"endDate": null, "description": "d"}), now()).unwrap();
        assert_eq!(cleared.end_date, None);
        assert_eq!(cleared.description.as_deref(), Some("d"));
    }
}
