//! Custom dimensions: property keys a tenant declares (`PUT
//! /api/dimensions`, e.g. `device`, `country`, `plan`) whose values the
//! campaign rollups keep, so a report can be grouped by them
//! (`groupBy=property:device`).
//!
//! A dimension is event-scoped, like an experiment arm: a user counts in
//! each value their events in the range had (a user on a phone and a
//! laptop counts under both), credited to their first touch's row like
//! everything else. Events without the property count as `(not set)`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::FieldError;
use super::attribution::NOT_SET;
use super::campaign::normalize;

/// How many dimensions a tenant may declare.
pub const MAX_DIMENSIONS: usize = 5;
/// The longest key (property name) a dimension may have.
pub const MAX_DIMENSION_KEY_CHARS: usize = 128;

/// The value of dimension `key` an event's `properties` give: a string
/// normalised like campaign fields (trimmed, lowercased, at most 128
/// characters), a number or boolean as its JSON text; anything else, an
/// empty string or no such property, is `(not set)`.
pub fn value_of<'a>(properties: &'a Map<String, Value>, key: &str) -> Cow<'a, str> {
    match properties.get(key) {
        Some(Value::String(text)) => normalize(text).map_or(Cow::Borrowed(NOT_SET), Cow::Owned),
        Some(Value::Number(number)) => Cow::Owned(number.to_string()),
        Some(Value::Bool(flag)) => Cow::Borrowed(if *flag { "true" } else { "false" }),
        _ => Cow::Borrowed(NOT_SET),
    }
}

/// The keys of a `PUT /api/dimensions` body, `{"keys": ["device", …]}`:
/// at most [`MAX_DIMENSIONS`] property names, each 1 to 128 characters,
/// kept as given (property names are case-sensitive); repeats count once.
pub fn parse_dimensions(body: &Value) -> Result<Vec<String>, Vec<FieldError>> {
    let Some(entries) = body.get("keys").and_then(Value::as_array) else {
        return Err(vec![FieldError::new("keys", "is required: a list of property names (may be empty)")]);
    };
    let mut keys: Vec<String> = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry.as_str() {
            Some(key) if !key.is_empty() && key.chars().count() <= MAX_DIMENSION_KEY_CHARS => {
                if !keys.iter().any(|known| known == key) {
                    keys.push(key.to_owned());
                }
            }
            _ => errors.push(FieldError::new(
                format!("keys[{index}]"),
                format!("must be a property name of 1 to {MAX_DIMENSION_KEY_CHARS} characters"),
            )),
        }
    }
    if errors.is_empty() && keys.len() > MAX_DIMENSIONS {
        errors.push(FieldError::new(
            "keys",
            format!("at most {MAX_DIMENSIONS} dimensions, got {}", keys.len()),
        ));
    }
    if errors.is_empty() { Ok(keys) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_normalised_like_campaign_fields() {
        let properties = json!({
            "device": "  Mobile ", "plan": "", "seats": 12, "trial": true, "price": 9.5,
            "nested": {"a": 1}, "none": null, "long": "x".repeat(200),
        });
        let properties = properties.as_object().unwrap();
        let value = |key: &str| value_of(properties, key).into_owned();
        assert_eq!(value("device"), "mobile");
        assert_eq!(value("plan"), NOT_SET);
        assert_eq!(value("seats"), "12");
        assert_eq!(value("price"), "9.5");
        assert_eq!(value("trial"), "true");
        assert_eq!(value("nested"), NOT_SET);
        assert_eq!(value("none"), NOT_SET);
        assert_eq!(value("absent"), NOT_SET);
        assert_eq!(value("long").chars().count(), 128);
    }

    #[test]
    fn declarations_are_checked() {
        assert_eq!(
            parse_dimensions(&json!({"keys": ["device", "Plan", "device"]})).unwrap(),
            ["device", "Plan"]
        );
        assert!(parse_dimensions(&json!({"keys": []})).unwrap().is_empty());
        let fields = |body: Value| -> Vec<String> {
            parse_dimensions(&body).unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(json!({"keys": ["ok", 7, ""]})), ["keys[1]", "keys[2]"]);
        assert_eq!(fields(json!({"keys": ["x".repeat(129)]})), ["keys[0]"]);
        assert_eq!(fields(json!({"key": []})), ["keys"]);
        assert_eq!(fields(json!({"keys": ["a", "b", "c", "d", "e", "f"]})), ["keys"]);
    }
}
