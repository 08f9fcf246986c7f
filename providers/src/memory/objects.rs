//! In-memory objects.
