//! What the production store can hold: DynamoDB's documented limits, in
//! one place. Ingest refuses an event these rules refuse (400, naming the
//! field) instead of accepting it and failing to store it later; the
//! embedded store would hold more, but an event accepted locally must be
//! one the AWS backend could store too.
//!
//! From the DynamoDB Developer Guide, "Quotas in Amazon DynamoDB" and
//! "Supported data types":
//! - partition key values: 1 to 2,048 bytes; sort key values: 1 to 1,024;
//! - an item: at most 400 KB, names and values together;
//! - nested maps and lists: at most 32 levels;
//! - numbers: at most 38 significant digits, magnitudes from 1E-130 to
//!   9.9999999999999999999999999999999999999E+125 (or zero);
//! - attribute names, map keys included: at least one character.

use serde_json::Value;

pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_NESTING_LEVELS: usize = 32;
pub const MAX_NUMBER_DIGITS: usize = 38;
/// The smallest non-zero magnitude a number may have.
pub const MIN_NUMBER_MAGNITUDE: f64 = 1e-130;
/// Every magnitude a number may have is below this.
pub const NUMBER_MAGNITUDE_BOUND: f64 = 1e126;

/// Why a value cannot be stored, and where in it (`a.b[2]`, relative to
/// the attribute checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unstorable {
    pub path: String,
    pub reason: String,
}

/// Checks a value stored as an attribute nested `level` levels deep in an
/// item (a top-level attribute is level 0; the members of a map there are
/// level 1).
pub fn check_attribute(value: &Value, level: usize) -> Result<(), Unstorable> {
    check_at(value, level, &mut String::new())
}

fn check_at(value: &Value, level: usize, path: &mut String) -> Result<(), Unstorable> {
    let refuse = |path: &str, reason: String| Err(Unstorable { path: path.to_owned(), reason });
    match value {
        Value::Number(number) => {
            // Integers of 64 bits have at most 20 digits. A float prints
            // in at most 17 significant digits; only its magnitude can be
            // out of range (1e308, 1e-200).
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                let magnitude = float.abs();
                if magnitude != 0.0 && !(MIN_NUMBER_MAGNITUDE..NUMBER_MAGNITUDE_BOUND).contains(&magnitude) {
                    return refuse(
                        path,
                        format!("must be 0 or of a magnitude from 1e-130 to below 1e126, got {float}"),
                    );
                }
            }
            Ok(())
        }
        Value::Array(_) | Value::Object(_) if level >= MAX_NESTING_LEVELS => refuse(
            path,
            format!("nests too deeply: at most {MAX_NESTING_LEVELS} levels of objects and arrays"),
        ),
        Value::Array(members) => {
            for (index, member) in members.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                check_at(member, level + 1, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (name, member) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                if name.is_empty() {
                    return refuse(
                        path,
                        "has an empty property name; names need at least one character".into(),
                    );
                }
                check_at(member, level + 1, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_within_dynamodb_range_pass_and_others_fail() {
        for ok in [json!(0), json!(-0.0), json!(1e-130), json!(9.99e125), json!(u64::MAX), json!(i64::MIN)] {
            assert_eq!(check_attribute(&ok, 1), Ok(()), "{ok}");
        }
        for bad in [json!(1e308), json!(-1e126), json!(1e-131), json!(-5e-200)] {
            assert!(check_attribute(&bad, 1).is_err(), "{bad}");
        }
        // f64's shortest representation never exceeds the 38 digits allowed.
        assert!(
            format!("{}", 0.1f64 + 0.2).chars().filter(char::is_ascii_digit).count() <= MAX_NUMBER_DIGITS
        );
    }

    #[test]
    fn nesting_stops_at_32_levels() {
        let nest = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!({"n": inner}));
        // `properties` is a top-level attribute (level 0): a map there of
        // 32 levels reaches level 31 at its innermost map.
        assert_eq!(check_attribute(&nest(32), 0), Ok(()));
        let too_deep = check_attribute(&nest(33), 0).unwrap_err();
        assert_eq!(too_deep.path, ["n"; 32].join("."));
        let lists = (0..40).fold(json!(1), |inner, _| json!([inner]));
        assert!(check_attribute(&lists, 0).unwrap_err().reason.contains("32 levels"));
    }

    #[test]
    fn empty_names_are_refused_where_they_are() {
        let value = json!({"a": {"b": [0, {"": 1}]}});
        let refused = check_attribute(&value, 0).unwrap_err();
        assert_eq!(refused.path, "a.b[1].");
        assert!(check_attribute(&json!({"": 1}), 0).is_err());
        assert_eq!(check_attribute(&json!({"a": "", "b": [], "c": {}}), 0), Ok(()));
    }

    #[test]
    fn refusals_name_the_path_to_the_bad_value() {
        let value = json!({"cart": {"items": [{"price": 1e300}]}});
        assert_eq!(check_attribute(&value, 0).unwrap_err().path, "cart.items[0].price");
    }
}
