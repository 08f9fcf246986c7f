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

    /// The provider's own fields of an entry, read as `T`; `at` is the
    /// entry's JSON path, for messages.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field, for a config built in code (the
    /// parser has checked it already).
    pub fn options<T: ProviderOptions>(&self, raw: &super::RawOptions, at: &str) -> Result<T> {
        raw.parse(at, self.registry)
    }

    /// The settings of cloud account `cloud` (`providers.<cloud>`), read as
    /// `T`, or `T::default()` when the config has none.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field, for a config built in code (the
    /// parser has checked it already).
    pub fn account<T: ProviderOptions + Default>(&self, cloud: &str) -> Result<T> {
        match self.loaded.config.providers.get(cloud) {
            Some(raw) => raw.parse(&format!("providers.{cloud}"), self.registry),
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
