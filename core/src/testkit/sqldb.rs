//! Conformance cases for sqldb.
