//! The conformance suite (feature `testkit`).
//!
//! One public async function per behaviour, driven through a harness trait per
//! building block that a provider implements to make fresh resources. Each case
//! is gated by the provider's declared capabilities, and negative cases check
//! that a provider does not claim what it lacks.
//!
//! A provider's test file implements the harness and calls `run_all` of each
//! block it provides (or the individual cases, to name them in its test output).

pub mod cache;
pub mod objects;
pub mod pubsub;
pub mod sqldb;
