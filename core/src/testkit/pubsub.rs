//! Conformance cases for pubsub.
