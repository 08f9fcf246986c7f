//! The harness that runs the objects conformance suite on Azurite, and the
//! clients the other Azure tests share: Azurite's well-known development
//! account (`UseDevelopmentEmulator=true`) at its endpoint, unique
//! container names.

use std::sync::Arc;

use async_trait::async_trait;
use strata_azure::{
    AzureAccount, AzureClients, AzureCredentialsConfig, AzureSettings, BlobBucket,
    BlobBucketOptions,
};
use strata_core::objects::Bucket;
use strata_core::testkit::objects::ObjectsHarness;
use strata_integration_tests::emulator::{EmulatorEndpoint, UniqueNames};

/// Azurite's Blob service, the account in the path.
pub const AZURITE: EmulatorEndpoint = EmulatorEndpoint {
    name: "azurite",
    env: "STRATA_TEST_AZURITE_BLOB_ENDPOINT",
    default_endpoint: "http://127.0.0.1:10000/devstoreaccount1",
};

/// `providers.azure` for Azurite with `credentials`, provisioning on.
pub fn account(credentials: AzureCredentialsConfig) -> AzureAccount {
    AzureAccount {
        endpoint: Some(AZURITE.endpoint()),
        credentials: Some(credentials),
        provision: true,
        ..AzureAccount::default()
    }
}

/// Azurite's development account, by its connection string.
pub fn development_account() -> AzureAccount {
    account(AzureCredentialsConfig {
        connection_string: Some("UseDevelopmentEmulator=true".into()),
        ..AzureCredentialsConfig::default()
    })
}

/// Clients for `account`; fails the test, saying how to start Azurite,
/// when nothing answers at its endpoint.
pub async fn clients_for(account: &AzureAccount) -> AzureClients {
    AZURITE.check_reachable().await;
    let settings = AzureSettings::from_account(account)
        .unwrap_or_else(|err| panic!("settings for Azurite: {err}"));
    AzureClients::connect(&settings)
        .await
        .unwrap_or_else(|err| panic!("clients for Azurite: {err}"))
}

/// Fresh containers on Azurite, signed with the development account's key.
pub struct AzureObjectsHarness {
    clients: AzureClients,
    names: UniqueNames,
}

impl AzureObjectsHarness {
    pub async fn new() -> Self {
        Self {
            clients: clients_for(&development_account()).await,
            names: UniqueNames::new(),
        }
    }

    /// A fresh container's driver and name.
    pub async fn blob_bucket(&self) -> (String, BlobBucket) {
        let name = self.names.unique("b");
        let opts = BlobBucketOptions {
            provision: true,
            ..BlobBucketOptions::default()
        };
        let bucket = BlobBucket::open(&self.clients, &name, opts)
            .await
            .unwrap_or_else(|err| panic!("container `{name}`: {err}"));
        (name, bucket)
    }
}

#[async_trait]
impl ObjectsHarness for AzureObjectsHarness {
    async fn bucket(&self) -> Bucket {
        let (name, driver) = self.blob_bucket().await;
        Bucket::new(name, Arc::new(driver))
    }
}
