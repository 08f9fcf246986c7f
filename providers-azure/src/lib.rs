//! Strata providers for Azure. So far: Entra ID access tokens as database
//! passwords for Azure Database for PostgreSQL ([`EntraAuthTokenSource`]).
//! Service Bus and Blob Storage come in their own issue.

mod entra;

pub use entra::{DATABASE_SCOPE, EntraAuthTokenSource, EntraSettings};
