//! Pure domain logic: types, validation and arithmetic with no I/O.

pub mod arm_sums;
pub mod assignment;
pub mod attribution;
pub mod campaign;
pub mod campaign_report;
pub mod counting;
pub mod crawlers;
pub mod dimensions;
pub mod distinct;
pub mod event;
pub mod experiment;
pub mod metric;
pub mod results;
pub mod stats;
pub mod summary;
pub mod tenant;
pub mod time_range;
pub mod timeseries;

use serde::Serialize;

/// One reason an input was refused, naming the field (`properties.variant`,
/// `events[3].userId`, …) so a client can fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Validates an optional string field's length in characters. The field's
/// name is only formatted if it is refused (ingest validates every event).
pub(crate) fn check_length(
    errors: &mut Vec<FieldError>,
    field: impl std::fmt::Display,
    value: &str,
    min: usize,
    max: usize,
) {
    let length = value.chars().count();
    if length < min || length > max {
        errors.push(FieldError::new(
            field.to_string(),
            format!("must be a string of {min} to {max} characters"),
        ));
    }
}
