//! Conformance cases for cache.
