//! What every cloud's provider crate needs, written once: the per-cloud
//! [`Cluster`] (its clients and its topics by logical name), the endpoint
//! URL check of its account settings, and the "missing: create it or say
//! how" step of opening a resource.
//!
//! A cloud implements [`CloudClients`] for its clients type and names
//! `Cluster<ItsClients>`; nothing here knows a cloud.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::context::OpenContext;
use super::options::{FieldError, OptionsType, ProviderOptions};
use super::provider::CloudAccount;
use crate::sync::lock;
use crate::{Error, ErrorCode, Result};

/// A cloud's shared clients, as its [`Cluster`] makes them.
pub trait CloudClients: Sized + Send + Sync + 'static {
    /// The cloud's name in configs: its providers' name and the key of its
    /// account under `providers`.
    const NAME: &'static str;
    /// The cloud's account settings (`providers.<NAME>`).
    type Account: ProviderOptions + Default;
    /// What the cloud's pub/sub provider keeps of an opened topic, so a
    /// subscription finds its topic and its dead-letter topic.
    type Topic: Clone + Send + Sync + 'static;

    /// The clients for `account`.
    ///
    /// # Errors
    /// `InvalidConfig` for settings the cloud cannot use.
    fn for_account(account: Self::Account) -> impl Future<Output = Result<Self>> + Send;
}

impl CloudAccount {
    /// The account registration of the cloud whose clients are `C`:
    /// `providers.<NAME>`, read by `C::Account`.
    pub fn of<C: CloudClients>(description: &'static str) -> Self {
        Self {
            name: C::NAME,
            description,
            options: OptionsType::of::<C::Account>(),
        }
    }
}

/// The one object per `Infra` that all of a cloud's providers share: its
/// clients, and its topics by logical name.
pub struct Cluster<C: CloudClients> {
    clients: C,
    topics: Mutex<HashMap<String, C::Topic>>,
}

impl<C: CloudClients> Cluster<C> {
    /// The cluster of `cx`, connected on first use from `providers.<NAME>`
    /// (its defaults when the config has none).
    ///
    /// # Errors
    /// What [`CloudClients::for_account`] returned; the next caller tries again.
    pub async fn of(cx: &OpenContext) -> Result<Arc<Self>> {
        cx.cluster(|| async {
            let account: C::Account = cx.account(C::NAME)?;
            Ok(Cluster {
                // Settings errors name `providers.<cloud>.<field>`; the file goes in front.
                clients: C::for_account(account).await.map_err(|e| cx.locate(e))?,
                topics: Mutex::default(),
            })
        })
        .await
    }

    /// The clients, for a call Strata does not wrap.
    pub fn clients(&self) -> &C {
        &self.clients
    }

    /// Keeps `topic`, opened for the logical topic `name`.
    pub fn add_topic(&self, name: &str, topic: C::Topic) {
        lock(&self.topics).insert(name.to_owned(), topic);
    }

    /// The topic opened for logical topic `name`, if this cloud opened it.
    pub fn find_topic(&self, name: &str) -> Option<C::Topic> {
        lock(&self.topics).get(name).cloned()
    }

    /// The topic opened for logical topic `name`.
    ///
    /// # Errors
    /// `InvalidConfig` when another provider has that topic: a subscription
    /// (and a native dead-letter topic) must be on the same cloud.
    pub fn topic(&self, name: &str) -> Result<C::Topic> {
        self.find_topic(name).ok_or_else(|| {
            let cloud = C::NAME;
            Error::invalid_config(format!(
                "pubsub.{name}: subscriptions of the `{cloud}` provider need their topic (and \
                 their dead-letter topic) to use the `{cloud}` provider too"
            ))
        })
    }
}

/// An endpoint must be an `http(s)://` URL; the message never repeats it
/// (a misplaced value may be a secret).
///
/// # Errors
/// What is wrong, for the field's path.
pub fn check_endpoint(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err("not an endpoint URL (expected http://host:port or https://host)".into()),
    }
}

/// Checks each set endpoint of an account: `(field, value)` pairs, the field
/// relative to the account (`endpoints.s3`).
///
/// # Errors
/// The first field that is not an endpoint URL, and why.
pub fn check_endpoints<'a>(
    endpoints: impl IntoIterator<Item = (&'a str, &'a Option<String>)>,
) -> std::result::Result<(), FieldError> {
    for (field, url) in endpoints {
        if let Some(url) = url {
            check_endpoint(url).map_err(|msg| (field.to_owned(), msg))?;
        }
    }
    Ok(())
}

/// The step every cloud takes when it opens a resource that must exist:
/// `found` is the result of looking it up. When it is missing (`NotFound`),
/// `provision` creates it with `create`; without `provision` the error says
/// `missing()` (what is missing and how to fix it), with the lookup's error
/// as its source. Any other outcome of the lookup is returned as it is.
///
/// # Errors
/// `NotFound` as above, or what the lookup or `create` returned.
pub async fn found_or_provisioned<T, Fut>(
    found: Result<T>,
    provision: bool,
    create: impl FnOnce() -> Fut,
    missing: impl FnOnce() -> String,
) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    match found {
        Err(err) if err.code() == ErrorCode::NotFound => {
            if provision {
                create().await
            } else {
                Err(Error::not_found(missing()).with_source(err))
            }
        }
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls_and_messages_never_repeat_them() {
        assert!(check_endpoint("http://127.0.0.1:4566").is_ok());
        assert!(check_endpoint("https://s3.example.com").is_ok());
        assert!(check_endpoint("http://").is_err());
        for bad in ["127.0.0.1:4566", "ftp://host", "secret-value"] {
            let msg = check_endpoint(bad).unwrap_err();
            assert!(!msg.contains(bad), "{msg}");
        }
        let none = None;
        let bad = Some("nope".to_owned());
        let err = check_endpoints([("endpoint", &none), ("endpoints.s3", &bad)]).unwrap_err();
        assert_eq!(err.0, "endpoints.s3");
    }

    #[tokio::test]
    async fn a_missing_resource_is_created_with_provision_and_explained_without() {
        let missing = || Err::<u8, _>(Error::not_found("lookup"));
        let created = found_or_provisioned(missing(), true, || async { Ok(7) }, String::new);
        assert_eq!(created.await.unwrap(), 7);
        let err = found_or_provisioned(missing(), false, || async { Ok(7) }, || "fix".into())
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.message()), (ErrorCode::NotFound, "fix"));
        let other = Err::<u8, _>(Error::unavailable("down"));
        let err = found_or_provisioned(other, true, || async { Ok(7) }, String::new)
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable);
    }
}
