//! Events: what clients send, how it is validated and normalised.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldError, check_length};

pub const MAX_USER_ID_CHARS: usize = 256;
pub const MAX_EVENT_ID_CHARS: usize = 128;
pub const MAX_TAG_CHARS: usize = 128;
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Clocks drift; a timestamp up to this far ahead of ours is still accepted.
pub const MAX_CLOCK_SKEW: Duration = Duration::hours(24);
/// How old an event's timestamp may be by default (`MAX_EVENT_AGE_DAYS`).
pub const DEFAULT_MAX_EVENT_AGE_DAYS: u32 = 3650;

/// No event is older than this, whatever `MAX_EVENT_AGE_DAYS` says: the
/// platform's data starts this century, and a stray `0001-01-01` would
/// otherwise stretch every default view over two thousand years.
pub fn earliest_event_time() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or(DateTime::UNIX_EPOCH) // 2000-01-01T00:00:00Z
}

/// The most a client's clock may be corrected by (`sentAt`): a larger
/// difference is a broken `sentAt`, not a clock, and is refused.
pub const MAX_CLOCK_CORRECTION: Duration = Duration::days(7);

/// The instants an event's timestamp may name, as of one moment: from
/// `max_age` ago (never before 2000-01-01) to [`MAX_CLOCK_SKEW`] ahead.
/// A client's timestamps are first moved by `clock_offset`, how far its
/// clock is behind ours (see [`AcceptedTimes::with_client_clock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptedTimes {
    pub now: DateTime<Utc>,
    pub max_age_days: u32,
    pub clock_offset: Duration,
}

impl AcceptedTimes {
    /// As of `now`, with the default age limit.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self { now, max_age_days: DEFAULT_MAX_EVENT_AGE_DAYS, clock_offset: Duration::zero() }
    }

    pub fn with_max_age_days(mut self, days: u32) -> Self {
        self.max_age_days = days;
        self
    }

    /// Corrects the client's clock by its `sentAt` (its clock when it sent
    /// the request, as PostHog's and Segment's clients send it): an event
    /// it timestamped `t` happened at `t + (now − sentAt)` on our clock.
    /// The time a request spends in flight is counted as clock error too,
    /// so events move later by that much (milliseconds). Without `sentAt`
    /// (`null` or absent) timestamps are taken as sent.
    pub fn with_client_clock(mut self, sent_at: Option<&Value>, field: &str) -> Result<Self, FieldError> {
        let sent_at = match sent_at {
            None | Some(Value::Null) => return Ok(self),
            Some(Value::String(raw)) => DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    FieldError::new(field, "must be an RFC 3339 date-time: the client's clock when it sent")
                })?
                .with_timezone(&Utc),
            Some(_) => return Err(FieldError::new(field, "must be an RFC 3339 string")),
        };
        let offset = self.now.signed_duration_since(sent_at.trunc_subsecs(6));
        if offset.abs() > MAX_CLOCK_CORRECTION {
            return Err(FieldError::new(
                field,
                format!("is more than {} days from the server's clock", MAX_CLOCK_CORRECTION.num_days()),
            ));
        }
        self.clock_offset = offset;
        Ok(self)
    }

    /// The oldest accepted timestamp.
    pub fn earliest(&self) -> DateTime<Utc> {
        let by_age = self.now.checked_sub_signed(Duration::days(i64::from(self.max_age_days)));
        by_age.map_or_else(earliest_event_time, |t| t.max(earliest_event_time()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    PageView,
    Click,
    Conversion,
    /// A user was shown an experiment's variant (the browser SDK's
    /// `assign`, or a GrowthBook SDK's tracking callback): it names the
    /// experiment and variant, and counts like any other event.
    Exposure,
}

impl EventType {
    pub const ALL: [EventType; 4] =
        [EventType::PageView, EventType::Click, EventType::Conversion, EventType::Exposure];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "PAGE_VIEW",
            EventType::Click => "CLICK",
            EventType::Conversion => "CONVERSION",
            EventType::Exposure => "EXPOSURE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// A validated, normalised event as it is queued, stored and returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub event_type: EventType,
    pub experiment_id: Option<String>,
    pub variant: Option<String>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime<Utc>,
}

impl Event {
    pub fn is_conversion(&self) -> bool {
        self.event_type == EventType::Conversion
    }
}

/// Timestamps go out as RFC 3339 in UTC with millisecond precision or finer.
pub mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn format(timestamp: &DateTime<Utc>) -> String {
        timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// Where an event sits in a request, for the field names of its errors:
/// the whole body, or `events[i]` of a batch.
#[derive(Clone, Copy, Debug)]
pub enum EventAt {
    Body,
    Batch(usize),
}

/// A field of an event, named as its errors name it (`events[3].userId`);
/// formatted only when an error needs it.
#[derive(Clone, Copy)]
struct Field<'a>(EventAt, &'a str, &'a str);

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let Field(at, group, name) = *self;
        match at {
            EventAt::Body => write!(f, "{group}{name}"),
            EventAt::Batch(index) => write!(f, "events[{index}].{group}{name}"),
        }
    }
}

/// The name errors give a field of an event at `at` (`events[3].userId`).
pub fn field_name(at: EventAt, name: &str) -> String {
    Field(at, "", name).to_string()
}

impl From<Field<'_>> for String {
    fn from(field: Field<'_>) -> String {
        field.to_string()
    }
}

/// Counts the bytes written to it: a JSON value's serialised size without
/// allocating its text.
#[derive(Default)]
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Validates one event body (`{userId, eventType, properties?, timestamp?,
/// eventId?}`) and normalises it. Field names in errors say where the event
/// is (e.g. `events[3].userId`) so batch errors point at the right place.
pub fn validate_event(
    tenant_id: &str,
    body: &Value,
    accepted: AcceptedTimes,
    at: EventAt,
) -> Result<Event, Vec<FieldError>> {
    let mut errors = Vec::new();
    // Stored sort keys carry microseconds; so do the timestamps we return.
    let now = accepted.now.trunc_subsecs(6);
    let field = |name| Field(at, "", name);
    let Some(body) = body.as_object() else {
        let name = match at {
            EventAt::Body => "body".to_owned(),
            EventAt::Batch(index) => format!("events[{index}]"),
        };
        return Err(vec![FieldError::new(name, "must be a JSON object")]);
    };

    let user_id = match body.get("userId") {
        Some(Value::String(user)) => {
            check_length(&mut errors, field("userId"), user, 1, MAX_USER_ID_CHARS);
            user.clone()
        }
        Some(_) => {
            errors.push(FieldError::new(field("userId"), "must be a string"));
            String::new()
        }
        None => {
            errors.push(FieldError::new(field("userId"), "is required"));
            String::new()
        }
    };

    let event_type = match body.get("eventType") {
        Some(Value::String(raw)) => EventType::parse(raw),
        _ => None,
    };
    if event_type.is_none() {
        errors.push(FieldError::new(
            field("eventType"),
            "must be one of PAGE_VIEW, CLICK, CONVERSION, EXPOSURE",
        ));
    }

    let properties = match body.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(properties)) => {
            let mut size = ByteCount::default();
            let size = serde_json::to_writer(&mut size, properties).map_or(usize::MAX, |()| size.0);
            if size > MAX_PROPERTIES_BYTES {
                errors.push(FieldError::new(
                    field("properties"),
                    format!("must serialise to at most {MAX_PROPERTIES_BYTES} bytes, got {size}"),
                ));
            }
            properties.clone()
        }
        Some(_) => {
            errors.push(FieldError::new(field("properties"), "must be a JSON object"));
            Map::new()
        }
    };
    let mut tag = |name: &str| match properties.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => {
            check_length(&mut errors, Field(at, "properties.", name), value, 1, MAX_TAG_CHARS);
            Some(value.clone())
        }
        Some(_) => {
            errors.push(FieldError::new(Field(at, "properties.", name), "must be a string"));
            None
        }
    };
    let experiment_id = tag("experimentId");
    let variant = tag("variant");
    if event_type == Some(EventType::Exposure) {
        for (name, value) in [("experimentId", &experiment_id), ("variant", &variant)] {
            if value.is_none() && properties.get(name).is_none_or(Value::is_null) {
                errors.push(FieldError::new(
                    Field(at, "properties.", name),
                    "is required on an EXPOSURE: the experiment and the variant shown",
                ));
            }
        }
    }

    let timestamp = match body.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(raw)) => match DateTime::parse_from_rfc3339(raw) {
            Ok(parsed) => {
                let parsed = parsed.with_timezone(&Utc).trunc_subsecs(6);
                let parsed = parsed.checked_add_signed(accepted.clock_offset).unwrap_or(parsed);
                if now.checked_add_signed(MAX_CLOCK_SKEW).is_some_and(|latest| parsed > latest) {
                    errors.push(FieldError::new(
                        field("timestamp"),
                        "must not be more than 24 hours in the future",
                    ));
                }
                let earliest = accepted.earliest();
                if parsed < earliest {
                    errors.push(FieldError::new(
                        field("timestamp"),
                        format!(
                            "must not be before {} ({} days ago, and never before 2000-01-01)",
                            rfc3339::format(&earliest),
                            accepted.max_age_days
                        ),
                    ));
                }
                parsed
            }
            Err(_) => {
                errors.push(FieldError::new(
                    field("timestamp"),
                    "must be an RFC 3339 date-time such as 2025-01-15T10:00:00Z",
                ));
                now
            }
        },
        Some(_) => {
            errors.push(FieldError::new(field("timestamp"), "must be an RFC 3339 string"));
            now
        }
    };

    let id = match body.get("eventId") {
        None | Some(Value::Null) => uuid::Uuid::now_v7().to_string(),
        Some(Value::String(id)) => {
            check_length(&mut errors, field("eventId"), id, 1, MAX_EVENT_ID_CHARS);
            id.clone()
        }
        Some(_) => {
            errors.push(FieldError::new(field("eventId"), "must be a string"));
            String::new()
        }
    };

    match (errors.is_empty(), event_type) {
        (true, Some(event_type)) => Ok(Event {
            id,
            tenant_id: tenant_id.to_owned(),
            user_id,
            event_type,
            experiment_id,
            variant,
            properties,
            timestamp,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn accepted() -> AcceptedTimes {
        AcceptedTimes::at(now())
    }

    fn fields(result: Result<Event, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn normalises_a_seed_style_event() {
        let body = json!({
            "userId": "user_123",
            "eventType": "CONVERSION",
            "properties": {"experimentId": "exp_1", "variant": "A", "value": 9.5},
            "timestamp": "2025-01-15T11:00:00+01:00"
        });
        let event = validate_event("t1", &body, accepted(), EventAt::Body).unwrap();
        assert_eq!(event.experiment_id.as_deref(), Some("exp_1"));
        assert_eq!(event.variant.as_deref(), Some("A"));
        assert_eq!(rfc3339::format(&event.timestamp), "2025-01-15T10:00:00Z");
        assert_eq!(event.tenant_id, "t1");
        assert!(uuid::Uuid::parse_str(&event.id).is_ok());
        let out = serde_json::to_value(&event).unwrap();
        assert_eq!(out["eventType"], "CONVERSION");
        assert_eq!(out["timestamp"], "2025-01-15T10:00:00Z");
    }

    #[test]
    fn defaults_timestamp_and_tags() {
        let body = json!({"userId": "u", "eventType": "CLICK", "eventId": "e-1"});
        let event = validate_event("t", &body, accepted(), EventAt::Body).unwrap();
        assert_eq!(event.timestamp, now());
        assert_eq!(event.id, "e-1");
        assert_eq!(event.experiment_id, None);
        assert_eq!(event.variant, None);
    }

    #[test]
    fn an_exposure_names_its_experiment_and_variant() {
        let shown = json!({"userId": "u", "eventType": "EXPOSURE",
                           "properties": {"experimentId": "exp-1", "variant": "B"}});
        let event = validate_event("t", &shown, accepted(), EventAt::Body).unwrap();
        assert_eq!((event.event_type, event.variant.as_deref()), (EventType::Exposure, Some("B")));
        let bare = json!({"userId": "u", "eventType": "EXPOSURE", "properties": {"variant": 3}});
        assert_eq!(
            fields(validate_event("t", &bare, accepted(), EventAt::Batch(1))),
            ["events[1].properties.variant", "events[1].properties.experimentId"]
        );
    }

    #[test]
    fn names_every_bad_field() {
        let body = json!({
            "userId": "",
            "eventType": "PURCHASE",
            "properties": {"experimentId": 7, "variant": "x".repeat(129)},
            "timestamp": "yesterday",
            "eventId": 5
        });
        assert_eq!(
            fields(validate_event("t", &body, accepted(), EventAt::Batch(2))),
            [
                "events[2].userId",
                "events[2].eventType",
                "events[2].properties.experimentId",
                "events[2].properties.variant",
                "events[2].timestamp",
                "events[2].eventId"
            ]
        );
    }

    #[test]
    fn refuses_timestamps_older_than_the_horizon_or_this_century() {
        let at = |raw: &str, accepted: AcceptedTimes| {
            let body = json!({"userId": "u", "eventType": "CLICK", "timestamp": raw});
            validate_event("t", &body, accepted, EventAt::Body).map(|e| e.timestamp)
        };
        // The default horizon: 3,650 days before 2026-11-29T12:00Z.
        assert!(at("2016-12-01T12:00:00Z", accepted()).is_ok());
        assert_eq!(at("2016-12-01T11:59:59Z", accepted()).unwrap_err()[0].field, "timestamp");
        let short = accepted().with_max_age_days(7);
        assert!(at("2026-11-22T12:00:00Z", short).is_ok());
        assert!(at("2026-11-22T11:59:59Z", short).is_err());
        // However long the horizon, nothing before 2000.
        let long = accepted().with_max_age_days(u32::MAX);
        assert!(at("2000-01-01T00:00:00Z", long).is_ok());
        assert!(at("1999-12-31T23:59:59Z", long).is_err());
    }

    #[test]
    fn sent_at_corrects_the_client_clock_within_a_week() {
        let at = |timestamp: &str, accepted: AcceptedTimes| {
            let body = json!({"userId": "u", "eventType": "CLICK", "timestamp": timestamp});
            validate_event("t", &body, accepted, EventAt::Body).map(|e| rfc3339::format(&e.timestamp))
        };
        let clock = |sent_at: Value| accepted().with_client_clock(Some(&sent_at), "sentAt");
        // A client two hours behind: its events happened two hours later.
        let behind = clock(json!("2026-11-29T10:00:00Z")).unwrap();
        assert_eq!(at("2026-11-29T09:59:30Z", behind).unwrap(), "2026-11-29T11:59:30Z");
        // A client a day and a half ahead: its "future" events are fine once corrected.
        let ahead = clock(json!("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(at("2026-12-01T00:00:00Z", ahead).unwrap(), "2026-11-29T12:00:00Z");
        assert!(at("2026-12-01T00:00:00Z", accepted()).is_err(), "uncorrected, 36 h ahead");
        // Events without a timestamp are ours already.
        let untimed = json!({"userId": "u", "eventType": "CLICK"});
        assert_eq!(validate_event("t", &untimed, behind, EventAt::Body).unwrap().timestamp, now());
        // No sentAt, no correction; a broken one is refused.
        assert_eq!(accepted().with_client_clock(None, "sentAt").unwrap(), accepted());
        assert_eq!(clock(Value::Null).unwrap(), accepted());
        assert!(clock(json!("2026-11-22T12:00:00Z")).is_ok());
        for broken in [json!("2026-11-22T11:59:59Z"), json!("2026-12-06T12:00:01Z"), json!("soon"), json!(5)]
        {
            assert_eq!(clock(broken.clone()).unwrap_err().field, "sentAt", "{broken}");
        }
    }

    #[test]
    fn enforces_limits_at_their_edges() {
        let ok = json!({"userId": "u".repeat(256), "eventType": "PAGE_VIEW",
                        "timestamp": "2026-11-30T12:00:00Z"});
        assert!(validate_event("t", &ok, accepted(), EventAt::Body).is_ok());
        let long_user = json!({"userId": "u".repeat(257), "eventType": "PAGE_VIEW"});
        assert_eq!(fields(validate_event("t", &long_user, accepted(), EventAt::Body)), ["userId"]);
        let future = json!({"userId": "u", "eventType": "PAGE_VIEW",
                            "timestamp": "2026-11-30T12:00:01Z"});
        assert_eq!(fields(validate_event("t", &future, accepted(), EventAt::Body)), ["timestamp"]);
        let big = json!({"userId": "u", "eventType": "PAGE_VIEW",
                         "properties": {"blob": "x".repeat(MAX_PROPERTIES_BYTES)}});
        assert_eq!(fields(validate_event("t", &big, accepted(), EventAt::Body)), ["properties"]);
        let ancient = json!({"userId": "u", "eventType": "PAGE_VIEW", "timestamp": "0001-01-01T00:00:00Z"});
        assert_eq!(fields(validate_event("t", &ancient, accepted(), EventAt::Body)), ["timestamp"]);
        let not_object = json!(["userId"]);
        assert!(validate_event("t", &not_object, accepted(), EventAt::Body).is_err());
        let missing = json!({});
        assert_eq!(fields(validate_event("t", &missing, accepted(), EventAt::Body)), ["userId", "eventType"]);
    }
}
