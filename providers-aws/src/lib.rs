//! Strata providers for aws: implemented in their own issue.
