//! Strata providers for azure: implemented in their own issue.
