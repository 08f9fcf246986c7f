//! # strata-infra
//!
//! The assembly: [`registry`] is the one list of the providers this build
//! has (the embedded and self-hosted ones, and each cloud behind its cargo
//! feature), and [`Infra`] turns an infra config into live providers by
//! looking them up there. It knows no provider by name: adding one is a
//! registration line in `src/registrations.rs`.
//!
//! Layers: `strata-core` (traits, config, engine, registry types) ←
//! provider crates (`strata-providers`, `strata-aws`, `strata-gcp`,
//! `strata-azure`) ← `strata-infra` ← bindings (`strata-node`).

mod infra;
mod registrations;

pub use infra::{Infra, SubscribeOptions};
pub use registrations::{EMBEDDED_DEFAULTS, EmbeddedDefaults, registry};
