//! [`OpenContext`]: what a provider may use while it opens a resource — the
//! config, its folder, the cloud account settings, the registry, and the
//! per-cloud shared objects ("clusters").

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::Registry;
use super::options::ProviderOptions;
use crate::config::LoadedConfig;
use crate::sync::lock;
use crate::{Error, Result};

/// Where the embedded defaults keep their files, under the config's folder.
pub const EMBEDDED_DIR: &str = ".strata";

type Shared = Arc<dyn Any + Send + Sync>;

/// Handed to every opener of one `Infra`. Cheap to share.
pub struct OpenContext {
    loaded: LoadedConfig,
    registry: &'static Registry,
    clusters: Mutex<HashMap<TypeId, Arc<OnceCell<Shared>>>>,
}

impl OpenContext {
    /// A context for `loaded`, resolving names in `registry`.
    pub fn new(loaded: LoadedConfig, registry: &'static Registry) -> Self {
        Self {
            loaded,
            registry,
            clusters: Mutex::default(),
        }
    }

    /// The config and where it came from.
    pub fn loaded(&self) -> &LoadedConfig {
        &self.loaded
    }

    /// The registry this build was assembled with.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// A path from the config, resolved against the config file's folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.loaded.resolve(path)
    }

    /// `.strata/<parts…>` under the config file's folder (or the working
    /// directory for the embedded defaults). Each part must be a checked
    /// name ([`crate::names`]), so the path stays inside `.strata/`.
    pub fn embedded_path(&self, parts: &[&str]) -> PathBuf {
        let mut path = self.loaded.base_dir.join(EMBEDDED_DIR);
        path.extend(parts);
        path
    }

    /// The config file's folder.
    pub fn base_dir(&self) -> &Path {
        &self.loaded.base_dir
    }

    /// What config messages call the config: its file, or `the config` for
    /// one built in code.
    pub fn origin(&self) -> String {
        self.loaded
            .file
            .as_ref()
            .map_or_else(|| "the config".to_owned(), |f| f.display().to_string())
    }

    /// An `InvalidConfig` error naming the config file and the JSON `path`
    /// (`pubsub.orders.name`), as the parser's: `infra.config.json at
    /// `pubsub.orders.name`: …`. The message must not repeat a value.
    pub fn invalid_config(&self, path: &str, message: impl std::fmt::Display) -> Error {
        Error::invalid_config(format!("{} at `{path}`: {message}", self.origin()))
    }

    /// `err` with the config file named in front when it is an
    /// `InvalidConfig` error that does not name it yet (a cloud's settings
    /// say ``at `providers.aws.endpoint`: …``); other errors unchanged.
    pub fn locate(&self, err: Error) -> Error {
        let origin = self.origin();
        if err.code() != crate::ErrorCode::InvalidConfig || err.message().starts_with(&origin) {
            return err;
        }
        let sep = if err.message().starts_with("at `") {
            " "
        } else {
            ": "
        };
        let message = format!("{origin}{sep}{}", err.message());
        err.with_message(message)
    }

    /// The provider's own fields of an entry, read as `T`; `at` is the
    /// entry's JSON path, for messages.
    ///
    /// # Errors
    /// `InvalidConfig` naming the file and the field, for a config built in
    /// code (the parser has checked it already).
    pub fn options<T: ProviderOptions>(&self, raw: &super::RawOptions, at: &str) -> Result<T> {
        raw.parse(at, self.registry).map_err(|e| self.locate(e))
    }

    /// The settings of cloud account `cloud` (`providers.<cloud>`), read as
    /// `T`, or `T::default()` when the config has none.
    ///
    /// # Errors
    /// `InvalidConfig` naming the file and the field, for a config built in
    /// code (the parser has checked it already).
    pub fn account<T: ProviderOptions + Default>(&self, cloud: &str) -> Result<T> {
        match self.loaded.config.providers.get(cloud) {
            Some(raw) => raw
                .parse(&format!("providers.{cloud}"), self.registry)
                .map_err(|e| self.locate(e)),
            None => Ok(T::default()),
        }
    }

    /// The one `C` of this `Infra`, made by `init` on first use: a cloud's
    /// clients, or the memory broker, shared by all its providers. Two
    /// callers racing get the same object; a failed `init` is tried again by
    /// the next caller.
    ///
    /// # Errors
    /// What `init` returned.
    pub async fn cluster<C, F, Fut>(&self, init: F) -> Result<Arc<C>>
    where
        C: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C>>,
    {
        let cell = lock(&self.clusters)
            .entry(TypeId::of::<C>())
            .or_default()
            .clone();
        let shared = cell
            .get_or_try_init(|| async { init().await.map(|c| Arc::new(c) as Shared) })
            .await?
            .clone();
        shared
            .downcast::<C>()
            .map_err(|_| Error::internal("a cluster was stored under another type"))
    }
}

impl std::fmt::Debug for OpenContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenContext")
            .field("file", &self.loaded.file)
            .field("base_dir", &self.loaded.base_dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::config::InfraConfig;
    use crate::registry::{FieldError, RawOptions};

    #[derive(Debug, Default, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Account {
        /// Read only by the bounds check.
        #[serde(default)]
        #[schemars(range(min = 1, max = 10))]
        #[allow(dead_code)]
        retries: Option<u32>,
        #[serde(default)]
        endpoint: Option<String>,
    }

    impl ProviderOptions for Account {
        fn check(&self, _registry: &Registry) -> std::result::Result<(), FieldError> {
            match &self.endpoint {
                Some(e) if !e.starts_with("http") => {
                    Err(("endpoint".into(), "not an endpoint URL".into()))
                }
                _ => Ok(()),
            }
        }
    }

    fn context(account: serde_json::Value) -> OpenContext {
        let mut config = InfraConfig::default();
        let serde_json::Value::Object(fields) = account else {
            panic!("an object")
        };
        config
            .providers
            .insert("cloud".into(), RawOptions::new(fields));
        let loaded = LoadedConfig {
            config,
            base_dir: PathBuf::from("conf"),
            file: Some(PathBuf::from("conf/infra.config.json")),
        };
        OpenContext::new(loaded, Box::leak(Box::new(Registry::new())))
    }

    /// Errors raised while opening (a config built in code, a cloud's
    /// settings) name the file as the parser's do.
    #[test]
    fn open_time_config_errors_name_the_file_and_the_path() {
        let cx = context(json!({ "endpoint": "s3cr3t-not-a-url" }));
        let err = cx.account::<Account>("cloud").unwrap_err();
        assert_eq!(
            err.message(),
            "conf/infra.config.json at `providers.cloud.endpoint`: not an endpoint URL"
        );
        let cx = context(json!({ "retries": 4_000_000_000_u64 }));
        let err = cx.account::<Account>("cloud").unwrap_err();
        assert_eq!(
            err.message(),
            "conf/infra.config.json at `providers.cloud.retries`: expected at most 10"
        );
        let settings = Error::invalid_config("at `providers.cloud.endpoint`: not an endpoint URL");
        assert_eq!(
            cx.locate(settings).message(),
            "conf/infra.config.json at `providers.cloud.endpoint`: not an endpoint URL"
        );
        let no_path = Error::invalid_config("no region: set providers.cloud.region");
        assert_eq!(
            cx.locate(no_path).message(),
            "conf/infra.config.json: no region: set providers.cloud.region"
        );
        let located = cx.locate(cx.invalid_config("pubsub.t.name", "bad"));
        assert_eq!(
            located.message(),
            "conf/infra.config.json at `pubsub.t.name`: bad"
        );
        let other = cx.locate(Error::unavailable("down"));
        assert_eq!(other.message(), "down");
    }
}
