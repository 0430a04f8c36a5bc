//! The rate-limit port: who may make how many requests. The local stack
//! plays API Gateway's usage plans with an adapter of its own
//! (`local/src/throttle.rs`); on AWS the gateway throttles before a
//! function runs, and the functions have no limiter.
//!
//! Limits apply after authentication, per tenant and route group, so a
//! client cannot escape its tenant's limit by sending made-up keys; callers
//! without a known key (missing, malformed or unknown) share a small limit
//! per client address, as do the admin routes.

use std::net::IpAddr;

use crate::config::Function;

/// Who a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An authenticated tenant, for one route group.
    Tenant(&'a str, Function),
    /// A caller without a known key, by address (if the listener knows it).
    Unauthenticated(Option<IpAddr>),
    /// A caller of the admin routes, by address.
    Admin(Option<IpAddr>),
}

pub trait RequestLimiter: Send + Sync + 'static {
    /// Takes a token for `subject`, or says how many seconds to wait.
    fn check(&self, subject: Subject<'_>) -> Result<(), u64>;
}

/// The client's address, put into request extensions by a listener that
/// knows it (the local stack; behind API Gateway it is the gateway's job).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The address of a request's client, if its listener said.
pub fn client_addr<B>(request: &http::Request<B>) -> Option<IpAddr> {
    request.extensions().get::<ClientAddr>().map(|addr| addr.0)
}
