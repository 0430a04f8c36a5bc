//! campaign-analytics: the code every Lambda function and the local stack
//! share. See ARCHITECTURE.md for the map.
//!
//! - [`domain`]: pure types and rules (validation, counting plans, summaries).
//! - [`store`], [`queue`] and [`gateway`]: the ports, with their adapters.
//! - [`repo`]: domain reads and writes over the store port.
//! - [`api`]: HTTP handlers from `http::Request` to `http::Response`.
//! - [`outbox`]: accepted events to queue messages, shared by concurrent requests.
//! - [`batch_writer`]: queue messages to stored, counted events.

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod batch_writer;
#[cfg(feature = "aws")]
pub mod call_counter;
pub mod config;
pub mod context;
pub mod demo;
pub mod domain;
pub mod gateway;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod limiter;
pub mod messages;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod repo;
pub mod store;
pub mod ttl_cache;
pub mod wiring;
