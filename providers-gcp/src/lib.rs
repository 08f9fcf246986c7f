//! Strata providers for gcp: implemented in their own issue.
