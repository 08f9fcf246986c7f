//! The management REST API (ATOM over HTTP): look a topic, subscription or
//! queue up, and create it with `provision`. A missing entity without `provision`
//! is `NotFound` naming the fix.

use std::time::Duration;

use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{Error, Result, error_chain};

use super::settings::ServiceBusSettings;

/// The management API version the requests speak.
const API_VERSION: &str = "2021-05";
const ENTRY_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";

/// What a subscription is, as the service describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubscriptionFacts {
    pub lock_duration: Duration,
    pub requires_session: bool,
}

/// What a new subscription is created with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewSubscription {
    pub lock_duration: Duration,
    pub requires_session: bool,
    pub max_delivery_count: u32,
    pub forward_dead_letters_to: Option<String>,
}

/// Makes sure topic `name` exists.
///
/// # Errors
/// `NotFound` without `provision`, `PermissionDenied`, `Unavailable`.
pub(crate) async fn ensure_topic(
    s: &ServiceBusSettings,
    name: &str,
    provision: bool,
) -> Result<()> {
    let found = get(s, name).await.and_then(|body| exists(body, name));
    found_or_provisioned(
        found,
        provision,
        || async {
            let body = "<TopicDescription xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
                        xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\"/>";
            put(s, name, body).await
        },
        || {
            format!(
                "Service Bus topic `{name}` does not exist in namespace `{}`: create it, or set \
                 `\"provision\": true` under `providers.azure`",
                s.namespace()
            )
        },
    )
    .await
}

/// An entity messages are received from: a subscription of a topic, or a
/// queue (a topic entry with `"entity": "queue"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiving<'a> {
    /// Subscription `name` of `topic`.
    Subscription { topic: &'a str, name: &'a str },
    /// Queue `name`.
    Queue(&'a str),
}

impl Receiving<'_> {
    /// The entity's path in the namespace, which links and requests name.
    pub(crate) fn path(&self) -> String {
        match self {
            Receiving::Subscription { topic, name } => format!("{topic}/Subscriptions/{name}"),
            Receiving::Queue(name) => (*name).to_owned(),
        }
    }

    /// The element of the entity's description in the management API.
    fn description(&self) -> &'static str {
        match self {
            Receiving::Subscription { .. } => "SubscriptionDescription",
            Receiving::Queue(_) => "QueueDescription",
        }
    }

    /// What is missing, for `NotFound`.
    fn missing(&self) -> String {
        match self {
            Receiving::Subscription { topic, name } => {
                format!("Service Bus subscription `{name}` of topic `{topic}`")
            }
            Receiving::Queue(name) => format!("Service Bus queue `{name}`"),
        }
    }
}

/// Makes sure `entity` exists (created with `new` when missing and
/// `provision` is set), and reads what it is.
///
/// # Errors
/// As [`ensure_topic`].
pub(crate) async fn ensure_receiving(
    s: &ServiceBusSettings,
    entity: Receiving<'_>,
    provision: bool,
    new: &NewSubscription,
) -> Result<SubscriptionFacts> {
    let path = entity.path();
    let found = get(s, &path).await.and_then(|body| exists(body, &path));
    found_or_provisioned(
        found,
        provision,
        || async {
            // The elements keep the order the service's schema gives them;
            // both descriptions have these four in this order.
            let body = format!(
                "<{element} xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\">\
                 <LockDuration>PT{}S</LockDuration><RequiresSession>{}</RequiresSession>\
                 <MaxDeliveryCount>{}</MaxDeliveryCount>{}</{element}>",
                new.lock_duration.as_secs().clamp(5, 300),
                new.requires_session,
                new.max_delivery_count,
                new.forward_dead_letters_to
                    .as_ref()
                    .map(|to| format!(
                        "<ForwardDeadLetteredMessagesTo>{to}</ForwardDeadLetteredMessagesTo>"
                    ))
                    .unwrap_or_default(),
                element = entity.description(),
            );
            put(s, &path, &body).await
        },
        || {
            format!(
                "{} does not exist in namespace `{}`: create it, or set `\"provision\": true` \
                 under `providers.azure`",
                entity.missing(),
                s.namespace()
            )
        },
    )
    .await?;
    let body = get(s, &path).await?.unwrap_or_default();
    Ok(SubscriptionFacts {
        lock_duration: element(&body, "LockDuration")
            .and_then(|d| parse_duration(&d))
            .unwrap_or(Duration::from_secs(60)),
        requires_session: element(&body, "RequiresSession").is_some_and(|v| v == "true"),
    })
}

/// An entry is a found entity; a feed (the service's answer for a missing
/// one) or nothing is `NotFound`.
fn exists(body: Option<String>, path: &str) -> Result<()> {
    match body {
        Some(body) if body.contains("<entry") => Ok(()),
        _ => Err(Error::not_found(format!("`{path}` does not exist"))),
    }
}

fn url(s: &ServiceBusSettings, path: &str) -> String {
    format!("{}{path}?api-version={API_VERSION}", s.management_url())
}

/// A SAS token or `Bearer <Entra ID token>`.
async fn authorization(s: &ServiceBusSettings) -> Result<String> {
    s.auth.authorization(&s.audience(), s.namespace()).await
}

/// GET: the body, or `None` for 404.
async fn get(s: &ServiceBusSettings, path: &str) -> Result<Option<String>> {
    let client = strata_core::http::client()?;
    let response = client
        .get(url(s, path))
        .header("Authorization", authorization(s).await?)
        .send()
        .await
        .map_err(|e| unreachable(s, &error_chain(&e)))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    match status {
        200 => Ok(Some(body)),
        404 => Ok(None),
        _ => Err(status_error(s, path, status)),
    }
}

/// PUT a new entity; one that appeared meanwhile (409) is fine.
async fn put(s: &ServiceBusSettings, path: &str, description: &str) -> Result<()> {
    let entry = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><entry xmlns=\"http://www.w3.org/2005/Atom\">\
         <content type=\"application/xml\">{description}</content></entry>"
    );
    let client = strata_core::http::client()?;
    let response = client
        .put(url(s, path))
        .header("Authorization", authorization(s).await?)
        .header("Content-Type", ENTRY_TYPE)
        .body(entry)
        .send()
        .await
        .map_err(|e| unreachable(s, &error_chain(&e)))?;
    match response.status().as_u16() {
        200 | 201 | 409 => Ok(()),
        status => Err(status_error(s, path, status)),
    }
}

fn status_error(s: &ServiceBusSettings, path: &str, status: u16) -> Error {
    let ns = s.namespace();
    match status {
        401 | 403 => s.auth.refused(ns, &format!(" ({status})")),
        400 => Error::invalid_argument(format!(
            "Service Bus namespace `{ns}` refused `{path}` as invalid (400)"
        )),
        _ => Error::unavailable(format!(
            "Service Bus namespace `{ns}` answered {status} for `{path}`"
        )),
    }
}

fn unreachable(s: &ServiceBusSettings, detail: &str) -> Error {
    Error::unavailable(format!(
        "Service Bus namespace `{}` management API at {} is unreachable: {detail}",
        s.namespace(),
        s.management_url()
    ))
}

/// The text of the first element named `local` (any namespace prefix).
fn element(xml: &str, local: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = xml[from..].find('<') {
        let start = from + at + 1;
        let end = start + xml[start..].find('>')?;
        let tag = &xml[start..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        let bare = name.rsplit(':').next().unwrap_or(name);
        if bare == local && !tag.starts_with('/') && !tag.ends_with('/') {
            let rest = &xml[end + 1..];
            let close = rest.find('<')?;
            return Some(rest[..close].trim().to_owned());
        }
        from = end;
    }
    None
}

/// An ISO 8601 duration of the shape Service Bus writes (`PT1M`, `PT30S`,
/// `P1DT2H`, `PT0.5S`).
fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut secs = 0f64;
    if let Some(d) = days.strip_suffix('D') {
        secs += d.parse::<f64>().ok()? * 86_400.0;
    } else if !days.is_empty() {
        return None;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            'H' | 'M' | 'S' => {
                let n: f64 = number.parse().ok()?;
                secs += n * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => number.push(c),
        }
    }
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_services_shapes() {
        assert_eq!(parse_duration("PT1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT30S"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("P1DT1H"), Some(Duration::from_secs(90_000)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn elements_are_found_under_any_prefix() {
        let xml = "<entry><content><SubscriptionDescription><LockDuration>PT5S</LockDuration>\
                   <d:RequiresSession>true</d:RequiresSession></SubscriptionDescription>";
        assert_eq!(element(xml, "LockDuration").as_deref(), Some("PT5S"));
        assert_eq!(element(xml, "RequiresSession").as_deref(), Some("true"));
        assert_eq!(element(xml, "MaxDeliveryCount"), None);
    }
}
