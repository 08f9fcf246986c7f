//! In-memory cache.
