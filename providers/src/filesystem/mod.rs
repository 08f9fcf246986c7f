//! Objects in the local filesystem.
