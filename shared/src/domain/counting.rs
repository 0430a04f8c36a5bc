//! What an event counts in: its scopes, the unique-user memberships it can
//! create, and the names of the counts kept per scope. How those counts are
//! stored (keys, items, transactions) is [`crate::repo::counting`]'s.

use super::event::Event;

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

/// A [`Scope`] borrowed from an event: the batch writer plans with these, so
/// that it need not clone every event's experiment and variant names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeRef<'a> {
    Tenant,
    Experiment(&'a str),
    Variant(&'a str, &'a str),
    VariantName(&'a str),
}

impl<'a> From<&'a Scope> for ScopeRef<'a> {
    fn from(scope: &'a Scope) -> Self {
        match scope {
            Scope::Tenant => ScopeRef::Tenant,
            Scope::Experiment(experiment) => ScopeRef::Experiment(experiment),
            Scope::Variant(experiment, variant) => ScopeRef::Variant(experiment, variant),
            Scope::VariantName(variant) => ScopeRef::VariantName(variant),
        }
    }
}

/// Membership items remember that a user was seen (or converted) in a
/// scope, so that unique-user counters flip exactly once per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Membership {
    Seen,
    Converted,
}

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
