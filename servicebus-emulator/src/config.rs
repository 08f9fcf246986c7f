//! The entity config, in the shape of Microsoft's emulator `Config.json`.
//!
//! A file written for Microsoft's emulator loads here unchanged; three optional
//! namespace fields are ours: `SharedAccessPolicies` (the keys CBS tokens are checked
//! against), `Entra` (whether, and which, Entra ID tokens are taken too) and
//! `MaxMessageSizeInKilobytes`.

use serde::Deserialize;
use std::time::Duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFile {
    /// Microsoft's emulator nests everything under `UserConfig`.
    pub user_config: UserConfig,
}

/// `UserConfig`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserConfig {
    /// One namespace is served; Microsoft's emulator takes exactly one too.
    pub namespaces: Vec<NamespaceConfig>,
}

/// A shared access policy: a key name and its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// `SharedAccessKeyName` in a connection string.
    pub name: String,
    /// `SharedAccessKey`.
    pub key: String,
}

/// Entra ID tokens: taken (besides shared access signatures) when the namespace has this
/// section. See `jwt.rs` for what is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EntraConfig {
    /// The accepted `aud` claims: Service Bus's (`https://servicebus.azure.net`, what a
    /// token for `https://servicebus.azure.net/.default` carries) when absent.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    /// The required `iss` claim, if any.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The required `tid` claim (the directory), if any.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

fn default_audiences() -> Vec<String> {
    vec!["https://servicebus.azure.net".into()]
}

/// A namespace and its entities.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceConfig {
    /// The namespace name (informational: clients address the host, not the name).
    pub name: String,
    /// Queues.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    /// Topics and their subscriptions.
    #[serde(default)]
    pub topics: Vec<TopicConfig>,
    /// Keys a CBS token may be signed with; Microsoft's emulator's well-known one when absent.
    #[serde(default = "default_policies")]
    pub shared_access_policies: Vec<Policy>,
    /// Entra ID tokens are taken only with this section.
    #[serde(default)]
    pub entra: Option<EntraConfig>,
    /// The largest message accepted, in KiB: 256 as on the Standard tier, up to 102400 (Premium).
    #[serde(default = "default_max_kib")]
    pub max_message_size_in_kilobytes: u64,
}

fn default_policies() -> Vec<Policy> {
    vec![Policy {
        name: "RootManageSharedAccessKey".into(),
        key: "SAS_KEY_VALUE".into(),
    }]
}

fn default_max_kib() -> u64 {
    256
}

/// A queue.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueConfig {
    /// Its name.
    pub name: String,
    /// Its properties.
    #[serde(default)]
    pub properties: EntityPropertiesConfig,
}

/// A topic.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicConfig {
    /// Its name.
    pub name: String,
    /// Its properties (a topic's `DefaultMessageTimeToLive` caps its subscriptions').
    #[serde(default)]
    pub properties: EntityPropertiesConfig,
    /// Its subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<QueueConfig>,
}

/// Entity properties as Microsoft spells them; durations are ISO 8601 (`PT1M`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntityPropertiesConfig {
    /// `LockDuration`.
    pub lock_duration: Option<String>,
    /// `MaxDeliveryCount`.
    pub max_delivery_count: Option<u32>,
    /// `RequiresSession`.
    pub requires_session: Option<bool>,
    /// `DefaultMessageTimeToLive`.
    pub default_message_time_to_live: Option<String>,
    /// `DeadLetteringOnMessageExpiration`.
    pub dead_lettering_on_message_expiration: Option<bool>,
}

/// Entity properties the broker acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityProperties {
    /// How long a peek-lock holds a message (and a session lock holds a session).
    pub lock_duration: Duration,
    /// Deliveries after which a message is dead-lettered.
    pub max_delivery_count: u32,
    /// Whether receivers must take a session.
    pub requires_session: bool,
    /// The time to live of a message that sets none (and the cap on one that does).
    pub default_ttl: Option<Duration>,
    /// Whether an expired message goes to the dead-letter queue instead of away.
    pub dead_letter_on_expiration: bool,
}

impl Default for EntityProperties {
    fn default() -> Self {
        // The service's defaults for a new entity.
        EntityProperties {
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
            requires_session: false,
            default_ttl: None,
            dead_letter_on_expiration: false,
        }
    }
}

impl EntityPropertiesConfig {
    /// Checks and converts; `what` names the entity in an error.
    pub fn resolve(&self, what: &str) -> Result<EntityProperties, String> {
        let defaults = EntityProperties::default();
        let duration = |field: &str, value: &Option<String>| -> Result<Option<Duration>, String> {
            value
                .as_deref()
                .map(|text| {
                    parse_duration(text).ok_or_else(|| {
                        format!("{what}: {field} {text:?} is not an ISO 8601 duration such as PT1M")
                    })
                })
                .transpose()
        };
        let lock_duration =
            duration("LockDuration", &self.lock_duration)?.unwrap_or(defaults.lock_duration);
        if lock_duration < Duration::from_secs(1) || lock_duration > Duration::from_secs(300) {
            return Err(format!(
                "{what}: LockDuration must be between PT1S and PT5M"
            ));
        }
        let max_delivery_count = self
            .max_delivery_count
            .unwrap_or(defaults.max_delivery_count);
        if max_delivery_count == 0 {
            return Err(format!("{what}: MaxDeliveryCount must be at least 1"));
        }
        // The service's "never" is TimeSpan.MaxValue; anything past a century is the same here.
        let default_ttl = duration(
            "DefaultMessageTimeToLive",
            &self.default_message_time_to_live,
        )?
        .filter(|ttl| *ttl < Duration::from_secs(100 * 365 * 24 * 3600));
        Ok(EntityProperties {
            lock_duration,
            max_delivery_count,
            requires_session: self.requires_session.unwrap_or(false),
            default_ttl,
            dead_letter_on_expiration: self.dead_lettering_on_message_expiration.unwrap_or(false),
        })
    }
}

/// Parses an ISO 8601 duration (`P1DT2H`, `PT0.5S`, `PT1M`); years and months are refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut seconds = 0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let (_, scale) = units.iter().find(|(u, _)| *u == c)?;
            seconds += number.parse::<f64>().ok()? * scale;
            number.clear();
            any = true;
        }
        number.is_empty().then_some(())
    };
    take(days, &[('D', 86_400.0), ('W', 604_800.0)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        take(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (any && seconds.is_finite()).then(|| Duration::from_secs_f64(seconds.min(1e15)))
}

/// Formats a duration as the service does in its ATOM documents (`PT1M`, `P14D`).
pub fn format_duration(d: Duration) -> String {
    let total = d.as_secs();
    let millis = d.subsec_millis();
    let (days, rem) = (total / 86_400, total % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if h + m + s > 0 || millis > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || millis > 0 || (h == 0 && m == 0) {
            if millis > 0 {
                out.push_str(&format!("{s}.{millis:03}S"));
            } else {
                out.push_str(&format!("{s}S"));
            }
        }
    }
    out
}

/// Reads and checks a config file; errors name the file and the JSON path.
pub fn load(path: &std::path::Path) -> Result<NamespaceConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a config document.
pub fn parse(text: &str) -> Result<NamespaceConfig, String> {
    let file: ConfigFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut namespaces = file.user_config.namespaces;
    if namespaces.len() != 1 {
        return Err(format!(
            "UserConfig.Namespaces holds {} namespaces; the emulator serves exactly one",
            namespaces.len()
        ));
    }
    let ns = namespaces.remove(0);
    if !(1..=102_400).contains(&ns.max_message_size_in_kilobytes) {
        return Err("MaxMessageSizeInKilobytes must be between 1 and 102400".into());
    }
    if ns.entra.as_ref().is_some_and(|e| e.audiences.is_empty()) {
        return Err("Entra.Audiences is empty: no Entra ID token could be taken".into());
    }
    if ns.shared_access_policies.is_empty() {
        return Err("SharedAccessPolicies is empty: no client could sign a token".into());
    }
    Ok(ns)
}

/// The config used when none is given: one queue, one topic with one subscription,
/// and a session-enabled queue, as in Microsoft's emulator sample.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("PT1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::from_secs(93_600)));
        assert_eq!(
            parse_duration("P14D"),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(parse_duration("1M"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("P1Y"), None);
        assert_eq!(parse_duration("PTxS"), None);
        assert_eq!(format_duration(Duration::from_secs(60)), "PT1M");
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "P14D");
        assert_eq!(format_duration(Duration::from_millis(1500)), "PT1.500S");
        assert_eq!(format_duration(Duration::ZERO), "PT0S");
    }

    #[test]
    fn the_default_config_loads() {
        let ns = parse(DEFAULT_CONFIG).expect("default config");
        assert!(!ns.queues.is_empty());
        assert_eq!(
            ns.shared_access_policies[0].name,
            "RootManageSharedAccessKey"
        );
    }

    #[test]
    fn the_entra_section_is_optional_and_defaults_to_service_buss_audience() {
        assert!(parse(DEFAULT_CONFIG).expect("default").entra.is_none());
        let ns =
            parse(r#"{"UserConfig":{"Namespaces":[{"Name":"ns","Entra":{"TenantId":"t-1"}}]}}"#)
                .expect("entra");
        let entra = ns.entra.expect("the section");
        assert_eq!(entra.audiences, ["https://servicebus.azure.net"]);
        assert_eq!(entra.tenant_id.as_deref(), Some("t-1"));
        let empty = r#"{"UserConfig":{"Namespaces":[{"Name":"ns","Entra":{"Audiences":[]}}]}}"#;
        assert!(parse(empty).expect_err("empty").contains("Entra.Audiences"));
    }

    #[test]
    fn bad_properties_name_the_entity_and_field() {
        let props = EntityPropertiesConfig {
            lock_duration: Some("one minute".into()),
            ..Default::default()
        };
        let err = props.resolve("queue q1").expect_err("refused");
        assert!(
            err.contains("queue q1") && err.contains("LockDuration"),
            "{err}"
        );
    }
}
