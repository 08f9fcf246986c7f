//! The namespace: its entities, how addresses name them, and where sends go.

use crate::config::{EntityProperties, EntraConfig, NamespaceConfig, Policy};
use crate::journal::{Journal, Replayed};
use crate::message::{Incoming, now_ms};
use crate::store::Entity;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A topic: sends to it are copied into each of its subscriptions.
#[derive(Debug)]
pub struct Topic {
    /// Its name.
    pub name: String,
    /// Its properties (its time to live caps its subscriptions').
    pub props: EntityProperties,
    /// Subscriptions by lower-case name.
    pub subscriptions: RwLock<HashMap<String, Arc<Entity>>>,
}

/// What an address names.
#[derive(Debug, Clone)]
pub enum Node {
    /// A queue or subscription (or a dead-letter queue): it can be received from.
    Entity(Arc<Entity>),
    /// A topic: it can be sent to.
    Topic(Arc<Topic>),
}

/// Why a send was refused.
#[derive(Debug)]
pub enum SendError {
    /// No such entity.
    NotFound(String),
    /// Sent to a subscription or dead-letter queue, which take no sends.
    NotAllowed(String),
    /// A message without a session id sent to a queue that requires sessions.
    SessionRequired(String),
}

/// The one namespace this broker serves.
#[derive(Debug)]
pub struct Broker {
    /// The namespace name from the config.
    pub name: String,
    /// Keys CBS tokens are checked against.
    pub policies: Vec<Policy>,
    /// Whether (and which) Entra ID tokens are taken.
    pub entra: Option<EntraConfig>,
    /// The largest message accepted, in bytes.
    pub max_message_size: u64,
    queues: RwLock<HashMap<String, Arc<Entity>>>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    next_seq: AtomicI64,
    next_link: AtomicU64,
    journal: Option<Arc<Journal>>,
}

/// The entity path of an address: scheme and authority gone, no leading slash.
/// `amqps://host:5673/q1` → `q1`.
pub fn entity_path(address: &str) -> &str {
    let rest = match address.find("://") {
        Some(i) => {
            let after = &address[i + 3..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None => address,
    };
    rest.trim_start_matches('/').trim_end_matches('/')
}

impl Broker {
    /// Builds the namespace from its config, restoring a journal if given one.
    pub fn new(
        config: &NamespaceConfig,
        journal: Option<(Journal, Replayed)>,
    ) -> Result<Arc<Broker>, String> {
        let (journal, replayed) = match journal {
            Some((j, r)) => (Some(Arc::new(j)), Some(r)),
            None => (None, None),
        };
        let broker = Broker {
            name: config.name.clone(),
            policies: config.shared_access_policies.clone(),
            entra: config.entra.clone(),
            max_message_size: config.max_message_size_in_kilobytes * 1024,
            queues: RwLock::new(HashMap::new()),
            topics: RwLock::new(HashMap::new()),
            next_seq: AtomicI64::new(1),
            next_link: AtomicU64::new(1),
            journal,
        };
        for q in &config.queues {
            broker.create_queue(&q.name, q.properties.resolve(&format!("queue {}", q.name))?)?;
        }
        for t in &config.topics {
            broker.create_topic(&t.name, t.properties.resolve(&format!("topic {}", t.name))?)?;
            for s in &t.subscriptions {
                let props = s
                    .properties
                    .resolve(&format!("subscription {}/{}", t.name, s.name))?;
                broker.create_subscription(&t.name, &s.name, props)?;
            }
        }
        let broker = Arc::new(broker);
        if let Some(r) = replayed {
            broker.restore(r);
        }
        Ok(broker)
    }

    fn restore(&self, r: Replayed) {
        self.next_seq.store(r.last_seq + 1, Ordering::SeqCst);
        let mut restored = 0usize;
        for (path, messages) in r.messages {
            let Some(Node::Entity(e)) = self.resolve(&path) else {
                crate::log::warn(&format!(
                    "journal: entity {path} is gone; {} messages dropped",
                    messages.len()
                ));
                continue;
            };
            restored += messages.len();
            for m in messages.into_values() {
                e.restore(m);
            }
        }
        for (path, states) in r.session_states {
            if let Some(Node::Entity(e)) = self.resolve(&path) {
                for (session, state) in states {
                    e.restore_session_state(&session, Some(state));
                }
            }
        }
        crate::log::info(&format!(
            "journal: restored {restored} messages{}",
            if r.torn > 0 {
                format!(" ({} unreadable records skipped)", r.torn)
            } else {
                String::new()
            }
        ));
    }

    /// A new broker-wide link id (lock owners are links).
    pub fn link_id(&self) -> u64 {
        self.next_link.fetch_add(1, Ordering::Relaxed)
    }

    /// Creates a queue; an existing one is an error.
    pub fn create_queue(&self, name: &str, props: EntityProperties) -> Result<Arc<Entity>, String> {
        check_name(name)?;
        let key = name.to_ascii_lowercase();
        let mut queues = self.queues.write().unwrap_or_else(|p| p.into_inner());
        if queues.contains_key(&key) || self.topic(name).is_some() {
            return Err(format!("an entity named {name} exists"));
        }
        let e = Entity::new(name.to_owned(), props, true, self.journal.clone());
        queues.insert(key, e.clone());
        Ok(e)
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, props: EntityProperties) -> Result<Arc<Topic>, String> {
        check_name(name)?;
        let key = name.to_ascii_lowercase();
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(&key) || self.queue(name).is_some() {
            return Err(format!("an entity named {name} exists"));
        }
        let t = Arc::new(Topic {
            name: name.to_owned(),
            props,
            subscriptions: RwLock::new(HashMap::new()),
        });
        topics.insert(key, t.clone());
        Ok(t)
    }

    /// Creates a subscription of a topic.
    pub fn create_subscription(
        &self,
        topic: &str,
        name: &str,
        props: EntityProperties,
    ) -> Result<Arc<Entity>, String> {
        check_name(name)?;
        let t = self
            .topic(topic)
            .ok_or_else(|| format!("no topic named {topic}"))?;
        let mut subs = t.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        let key = name.to_ascii_lowercase();
        if subs.contains_key(&key) {
            return Err(format!("topic {topic} has a subscription named {name}"));
        }
        let e = Entity::new(
            format!("{}/Subscriptions/{name}", t.name),
            props,
            true,
            self.journal.clone(),
        );
        subs.insert(key, e.clone());
        Ok(e)
    }

    /// A queue by name.
    pub fn queue(&self, name: &str) -> Option<Arc<Entity>> {
        self.queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Deletes a queue or topic (and its subscriptions); false when there is none.
    pub fn delete(&self, name: &str) -> bool {
        let key = name.to_ascii_lowercase();
        let q = self
            .queues
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
            .is_some();
        q || self
            .topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key)
            .is_some()
    }

    /// Deletes a subscription.
    pub fn delete_subscription(&self, topic: &str, name: &str) -> bool {
        self.topic(topic).is_some_and(|t| {
            t.subscriptions
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&name.to_ascii_lowercase())
                .is_some()
        })
    }

    /// Every queue-like entity, dead-letter queues included (for the sweeper).
    pub fn entities(&self) -> Vec<Arc<Entity>> {
        let mut out: Vec<Arc<Entity>> = self
            .queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for t in self
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            out.extend(
                t.subscriptions
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .cloned(),
            );
        }
        let dlqs: Vec<Arc<Entity>> = out.iter().filter_map(|e| e.dead_letter.clone()).collect();
        out.extend(dlqs);
        out
    }

    /// Resolves an entity path (`q1`, `t1/Subscriptions/s1`, `q1/$DeadLetterQueue`), any case.
    pub fn resolve(&self, path: &str) -> Option<Node> {
        let parts: Vec<&str> = path.split('/').collect();
        let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        let dlq = |e: Arc<Entity>, rest: &[String]| -> Option<Arc<Entity>> {
            match rest {
                [] => Some(e),
                [d] if d == "$deadletterqueue" => e.dead_letter.clone(),
                _ => None,
            }
        };
        if let Some(q) = self.queue(parts[0]) {
            return dlq(q, &lower[1..]).map(Node::Entity);
        }
        let t = self.topic(parts[0])?;
        match &lower[1..] {
            [] => Some(Node::Topic(t)),
            [s, name, rest @ ..] if s == "subscriptions" => {
                let sub = t
                    .subscriptions
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(name)
                    .cloned()?;
                dlq(sub, rest).map(Node::Entity)
            }
            _ => None,
        }
    }

    /// Accepts messages sent to `path`: stamps them and stores them (copied to each
    /// subscription for a topic). Returns the sequence numbers given.
    pub fn send(&self, path: &str, messages: Vec<Incoming>) -> Result<Vec<i64>, SendError> {
        let node = self.resolve(path);
        let targets: Vec<(Arc<Entity>, Option<std::time::Duration>)> = match node.clone() {
            None => return Err(SendError::NotFound(path.to_owned())),
            Some(Node::Entity(e))
                if e.dead_letter.is_some()
                    && !path.to_ascii_lowercase().contains("/subscriptions/") =>
            {
                let ttl = e.props().default_ttl;
                vec![(e, ttl)]
            }
            Some(Node::Entity(e)) => return Err(SendError::NotAllowed(e.path.clone())),
            Some(Node::Topic(t)) => {
                let subs = t.subscriptions.read().unwrap_or_else(|p| p.into_inner());
                subs.values()
                    .map(|s| {
                        let ttl = match (s.props().default_ttl, t.props.default_ttl) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        (s.clone(), ttl)
                    })
                    .collect()
            }
        };
        if let Some(Node::Entity(queue)) = &node
            && queue.props().requires_session
            && messages.iter().any(|m| m.message.session_id.is_none())
        {
            return Err(SendError::SessionRequired(queue.path.clone()));
        }
        let now = now_ms();
        let stamped: Vec<_> = messages
            .into_iter()
            .map(|incoming| {
                let mut m = incoming.message;
                m.seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
                m.enqueued_ms = now;
                (m, incoming.ttl_ms)
            })
            .collect();
        for (entity, default_ttl) in targets {
            let copies = stamped
                .iter()
                .map(|(m, ttl)| {
                    let mut m = m.clone();
                    let default_ms = default_ttl.map(|d| d.as_millis() as u64);
                    let ttl = match (*ttl, default_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    // Time to live counts from when the message becomes visible.
                    let start = m.scheduled_ms.unwrap_or(now).max(now);
                    m.expires_ms =
                        ttl.map(|t| start.saturating_add(t.min(i64::MAX as u64 / 2) as i64));
                    m
                })
                .collect();
            entity.enqueue(copies);
        }
        Ok(stamped.iter().map(|(m, _)| m.seq).collect())
    }

    /// Cancels scheduled messages of a queue or topic; false when there is no such entity.
    pub fn cancel_scheduled(&self, path: &str, seqs: &[i64]) -> bool {
        match self.resolve(path) {
            Some(Node::Entity(e)) => {
                e.cancel_scheduled(seqs);
                true
            }
            Some(Node::Topic(t)) => {
                for s in t
                    .subscriptions
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                {
                    s.cancel_scheduled(seqs);
                }
                true
            }
            None => false,
        }
    }
}

/// Entity names: 1–260 characters of letters, digits, `.`, `-`, `_`, not starting or
/// ending with `.`. (The service also allows `/` in queue names; this broker does not.)
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 260
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid entity name (letters, digits, '.', '-', '_'; at most 260)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_scheme_and_host() {
        assert_eq!(entity_path("amqps://127.0.0.1:5673/q1"), "q1");
        assert_eq!(
            entity_path("sb://h/t1/Subscriptions/s1/"),
            "t1/Subscriptions/s1"
        );
        assert_eq!(entity_path("q1/$management"), "q1/$management");
        assert_eq!(entity_path("amqp://host"), "");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("orders.v1-eu_2").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("../etc").is_err());
        assert!(check_name("q 1").is_err());
        assert!(check_name("q/$DeadLetterQueue").is_err());
        assert!(check_name(&"x".repeat(261)).is_err());
    }
}
