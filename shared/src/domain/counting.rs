//! What an event counts in: its scopes, the unique-user memberships it can
//! create, and the names of the counts kept per scope. How those counts are
//! stored (keys, items, transactions) is [`crate::repo::counting`]'s.

use super::event::Event;
use crate::store::keys::{Membership, ScopeRef};

/// Counts of a scope's all-time counter.
pub const EVENTS: &str = "events";
pub const CONVERSIONS: &str = "conversions";
pub const USERS: &str = "users";
pub const CONVERTED_USERS: &str = "convertedUsers";
/// Counts of an hourly bucket (with `EVENTS` and `CONVERSIONS`): users whose
/// earliest event (earliest conversion) falls in the hour.
pub const NEW_USERS: &str = "newUsers";
pub const NEW_CONVERTED_USERS: &str = "newConvertedUsers";

/// Every scope an event counts in.
pub fn scopes(event: &Event) -> impl Iterator<Item = ScopeRef<'_>> {
    let experiment = event.experiment_id.as_deref();
    let variant = experiment.zip(event.variant.as_deref());
    std::iter::once(ScopeRef::Tenant)
        .chain(experiment.map(ScopeRef::Experiment))
        .chain(variant.map(|(experiment, variant)| ScopeRef::Variant(experiment, variant)))
        .chain(variant.map(|(_, variant)| ScopeRef::VariantName(variant)))
}

/// The membership kinds an event can make its user a member of.
pub fn membership_kinds(event: &Event) -> &'static [Membership] {
    if event.is_conversion() { &[Membership::Seen, Membership::Converted] } else { &[Membership::Seen] }
}
