//! Conformance cases for objects.
