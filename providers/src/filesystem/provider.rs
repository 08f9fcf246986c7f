//! The filesystem provider's registration: `"provider": "filesystem"` under
//! `objects`, the embedded default for buckets.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::Result;
use strata_core::names::check_logical_name;
use strata_core::objects::BucketDriver;
use strata_core::registry::{
    BucketEntry, ObjectsProvider, OpenContext, OptionsType, ProviderOptions,
};

use super::FsBucket;

/// The `filesystem` bucket's own fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsBucketOptions {
    /// The folder holding the bucket (default `.strata/objects/<name>`),
    /// relative to the config file.
    #[serde(default)]
    pub root: Option<String>,
}

impl ProviderOptions for FsBucketOptions {}

/// Buckets as folders on the local disk.
pub struct FilesystemProvider;

#[async_trait]
impl ObjectsProvider for FilesystemProvider {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<FsBucketOptions>()
    }

    async fn open_bucket(
        &self,
        cx: &OpenContext,
        bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>> {
        let options: FsBucketOptions = cx.options(&bucket.config.options, &bucket.path())?;
        let root = match options.root {
            Some(root) => cx.resolve(&root),
            // The physical name becomes a folder name: the logical-name rule
            // keeps it inside `.strata/objects/`.
            None => {
                check_logical_name("bucket", bucket.physical)?;
                cx.embedded_path(&["objects", bucket.physical])
            }
        };
        Ok(Arc::new(FsBucket::open(root)?))
    }
}
