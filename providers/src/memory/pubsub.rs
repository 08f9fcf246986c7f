//! In-memory pubsub.
