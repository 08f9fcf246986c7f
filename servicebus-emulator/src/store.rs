//! One entity's messages: a queue, a subscription, or a dead-letter queue.
//!
//! Everything the service does to a message between send and settlement lives here:
//! sequence order, peek-locks and their expiry, delivery counts, dead-lettering,
//! deferral, scheduling, time to live and session locks. Callers hold no lock across
//! an await: each method takes the entity's mutex for the length of one operation.

use crate::config::EntityProperties;
use crate::journal::{Journal, Record};
use crate::message::{Stamp, StoredMessage, dead_letter, now_ms};
use fe2o3_amqp_types::primitives::SimpleValue;
use serde_amqp::Value;
use serde_amqp::primitives::Symbol;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Who holds a lock: a receiving link, by its broker-wide id.
pub type Owner = u64;

/// A lock token: a GUID in the bytes the delivery tag carries.
pub type LockToken = [u8; 16];

/// The key of messages that belong to no session.
const NO_SESSION: &str = "";

/// One message handed to a receiver.
#[derive(Debug)]
pub struct Delivered {
    /// Its lock token under peek-lock; a fresh random tag otherwise.
    pub tag: LockToken,
    /// The encoded message.
    pub payload: Vec<u8>,
}

/// How a receiver settles a locked message.
#[derive(Debug, Clone)]
pub enum Settle {
    /// Done with it: the message is removed.
    Complete,
    /// Give it back: visible again, its annotations updated.
    Abandon(Vec<(Symbol, Value)>),
    /// Move it to the dead-letter queue with a reason.
    DeadLetter {
        /// `DeadLetterReason`.
        reason: Option<String>,
        /// `DeadLetterErrorDescription`.
        description: Option<String>,
        /// Annotations to set on it.
        annotations: Vec<(Symbol, Value)>,
    },
    /// Set it aside: receivable only by its sequence number.
    Defer(Vec<(Symbol, Value)>),
}

/// Why a lock-bound operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// The lock expired or was never this broker's: `com.microsoft:message-lock-lost`.
    MessageLockLost,
    /// The session lock is gone: `com.microsoft:session-lock-lost`.
    SessionLockLost,
}

/// Why a session could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// Another receiver holds it: `com.microsoft:session-cannot-be-locked`.
    Locked,
    /// No session has messages (yet).
    NoneAvailable,
}

#[derive(Debug, Default)]
struct Part {
    available: BTreeSet<i64>,
    lock: Option<(Owner, i64)>,
    state: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Lock {
    seq: i64,
    until: i64,
}

#[derive(Debug, Default)]
struct State {
    messages: HashMap<i64, StoredMessage>,
    parts: BTreeMap<String, Part>,
    locks: HashMap<LockToken, Lock>,
    lock_deadlines: BinaryHeap<Reverse<(i64, LockToken)>>,
    scheduled: BTreeSet<(i64, i64)>,
    expiring: BTreeSet<(i64, i64)>,
    active_bytes: usize,
    /// Lock tokens of session messages whose session lock ran out: settling one is
    /// `SessionLockLost`, as the service says, not `MessageLockLost`.
    session_lost: std::collections::HashSet<LockToken>,
    /// Whether receivers take sessions here. Elsewhere (a dead-letter queue of a session
    /// queue, say) a message's session id is just a property: all messages share one part.
    sessionful: bool,
}

/// A queue-like entity.
#[derive(Debug)]
pub struct Entity {
    /// Its path as clients address it (`q1`, `t1/Subscriptions/s1`, `q1/$DeadLetterQueue`).
    pub path: String,
    /// What it does with messages (an update through the management API may change it).
    props: std::sync::RwLock<EntityProperties>,
    /// Its dead-letter queue (none for a dead-letter queue itself).
    pub dead_letter: Option<Arc<Entity>>,
    state: Mutex<State>,
    waiters: Mutex<Vec<Arc<Notify>>>,
    journal: Option<Arc<Journal>>,
}

fn new_token() -> LockToken {
    let mut t = [0u8; 16];
    fastrand::fill(&mut t);
    // A version-4 GUID, as the service's lock tokens are.
    t[7] = (t[7] & 0x0f) | 0x40;
    t[8] = (t[8] & 0x3f) | 0x80;
    t
}

impl Entity {
    /// A new, empty entity; `dead_letter` is created beside it unless this is one.
    pub fn new(
        path: String,
        props: EntityProperties,
        with_dlq: bool,
        journal: Option<Arc<Journal>>,
    ) -> Arc<Self> {
        let dead_letter = with_dlq.then(|| {
            Entity::new(
                format!("{path}/$DeadLetterQueue"),
                props.clone_for_dlq(),
                false,
                journal.clone(),
            )
        });
        let sessionful = props.requires_session;
        Arc::new(Entity {
            path,
            props: std::sync::RwLock::new(props),
            dead_letter,
            state: Mutex::new(State {
                sessionful,
                ..State::default()
            }),
            waiters: Mutex::new(Vec::new()),
            journal,
        })
    }

    /// Its properties now.
    pub fn props(&self) -> EntityProperties {
        self.props.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies an update. Whether it takes sessions is fixed at creation, as on the service.
    pub fn set_props(&self, mut props: EntityProperties) {
        let mut current = self.props.write().unwrap_or_else(|p| p.into_inner());
        props.requires_session = current.requires_session;
        *current = props;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change behind
        // that matters more than stopping the broker would, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, record: Record<'_>) {
        if let Some(j) = &self.journal {
            j.append(&self.path, record);
        }
    }

    /// Asks to be woken when a message becomes available.
    pub fn wait(&self, wake: &Arc<Notify>) {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if !w.iter().any(|x| Arc::ptr_eq(x, wake)) {
            w.push(wake.clone());
        }
    }

    fn wake(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for w in waiters {
            w.notify_one();
        }
    }

    /// Adds messages (already sequenced and timed by the broker).
    pub fn enqueue(&self, messages: Vec<StoredMessage>) {
        let now = now_ms();
        {
            let mut st = self.state();
            for m in messages {
                self.record(Record::Put(&m));
                st.insert(m, now);
            }
        }
        self.wake();
    }

    /// Restores a message from the journal, without journaling it again.
    pub fn restore(&self, m: StoredMessage) {
        self.state().insert(m, now_ms());
    }

    /// Restores a session's state from the journal.
    pub fn restore_session_state(&self, session: &str, state: Option<Vec<u8>>) {
        self.state()
            .parts
            .entry(session.to_owned())
            .or_default()
            .state = state;
    }

    /// Messages waiting, locked, deferred or scheduled.
    pub fn counts(&self) -> Counts {
        let st = self.state();
        Counts {
            total: st.messages.len(),
            scheduled: st.scheduled.len(),
            bytes: st.active_bytes,
        }
    }

    /// Hands out up to `n` messages from `session` (the sessionless part when `None`).
    /// Under peek-lock each is locked; otherwise each is removed.
    pub fn take(&self, session: Option<&str>, n: usize, peek_lock: bool) -> Vec<Delivered> {
        let now = now_ms();
        let mut out = Vec::new();
        let mut expired = Vec::new();
        {
            let mut st = self.state();
            let key = session.unwrap_or(NO_SESSION);
            while out.len() < n {
                let Some(part) = st.parts.get_mut(key) else {
                    break;
                };
                let Some(seq) = part.available.pop_first() else {
                    break;
                };
                let Some(mut m) = st.messages.remove(&seq) else {
                    continue;
                };
                st.active_bytes = st.active_bytes.saturating_sub(m.size());
                if m.expires_ms.is_some_and(|at| at <= now) {
                    st.expiring.remove(&(m.expires_ms.unwrap_or(0), seq));
                    expired.push(m);
                    continue;
                }
                m.deliveries += 1;
                if peek_lock {
                    let token = new_token();
                    let until = now + self.lock_ms();
                    let payload = m.encode(Stamp {
                        lock_token: Some(token),
                        locked_until_ms: Some(until),
                        delivery_count: m.deliveries.saturating_sub(1),
                    });
                    st.locks.insert(token, Lock { seq, until });
                    st.lock_deadlines.push(Reverse((until, token)));
                    self.record(Record::Delivered {
                        seq,
                        deliveries: m.deliveries,
                    });
                    st.messages.insert(seq, m);
                    out.push(Delivered {
                        tag: token,
                        payload,
                    });
                } else {
                    if let Some(at) = m.expires_ms {
                        st.expiring.remove(&(at, seq));
                    }
                    let payload = m.encode(Stamp {
                        lock_token: None,
                        locked_until_ms: None,
                        delivery_count: m.deliveries.saturating_sub(1),
                    });
                    self.record(Record::Remove { seq });
                    out.push(Delivered {
                        tag: new_token(),
                        payload,
                    });
                }
            }
        }
        self.expire(expired);
        out
    }

    fn lock_ms(&self) -> i64 {
        self.props().lock_duration.as_millis() as i64
    }

    /// Settles the message a lock token holds.
    pub fn settle(&self, token: &LockToken, how: Settle) -> Result<(), LockError> {
        let now = now_ms();
        let mut to_dlq = None;
        {
            let mut st = self.state();
            let Some(lock) = st.locks.remove(token) else {
                return Err(if st.session_lost.remove(token) {
                    LockError::SessionLockLost
                } else {
                    LockError::MessageLockLost
                });
            };
            // A session's messages are held by the session lock: without it, nothing settles.
            let session = st
                .messages
                .get(&lock.seq)
                .and_then(|m| m.session_id.clone())
                .filter(|_| st.sessionful);
            let session_held = |sid: &String| {
                st.parts
                    .get(sid)
                    .and_then(|p| p.lock)
                    .is_some_and(|(_, until)| until > now)
            };
            if session.as_ref().is_some_and(|sid| !session_held(sid)) {
                st.locks.insert(*token, lock);
                return Err(LockError::SessionLockLost);
            }
            if session.is_none() && lock.until <= now {
                // Expired but not yet swept: it is lost all the same; let the sweep requeue it.
                st.locks.insert(*token, lock);
                return Err(LockError::MessageLockLost);
            }
            let seq = lock.seq;
            match how {
                Settle::Complete => {
                    if let Some(at) = st.messages.remove(&seq).and_then(|m| m.expires_ms) {
                        st.expiring.remove(&(at, seq));
                    }
                    self.record(Record::Remove { seq });
                }
                Settle::Abandon(annotations) => {
                    let max = self.props().max_delivery_count;
                    let Some(m) = st.messages.get_mut(&seq) else {
                        return Ok(());
                    };
                    apply(m, annotations);
                    if m.deferred {
                        // A deferred message abandoned stays deferred (the service's behaviour:
                        // only its delivery count changes).
                    } else if m.deliveries >= max {
                        to_dlq = st.take_out(seq).map(|m| (m, max_delivery_reason(max)));
                    } else {
                        st.make_available(seq);
                    }
                }
                Settle::DeadLetter {
                    reason,
                    description,
                    annotations,
                } => {
                    if let Some(mut m) = st.take_out(seq) {
                        apply(&mut m, annotations);
                        to_dlq = Some((m, (reason, description)));
                    }
                }
                Settle::Defer(annotations) => {
                    if let Some(m) = st.messages.get_mut(&seq) {
                        apply(m, annotations);
                        m.deferred = true;
                        self.record(Record::Defer { seq });
                    }
                }
            }
        }
        match to_dlq {
            Some((m, (reason, description))) => self.move_to_dead_letter(m, reason, description),
            None => self.wake(),
        }
        Ok(())
    }

    /// Gives a locked message back without counting the delivery (AMQP `released`:
    /// the receiver never looked at it, e.g. it arrived after a receive call ended).
    pub fn release(&self, token: &LockToken) -> Result<(), LockError> {
        {
            let mut st = self.state();
            let lock = st.locks.remove(token).ok_or(LockError::MessageLockLost)?;
            if let Some(m) = st.messages.get_mut(&lock.seq) {
                m.deliveries = m.deliveries.saturating_sub(1);
            }
            st.make_available(lock.seq);
        }
        self.wake();
        Ok(())
    }

    /// Extends a message lock by the lock duration; returns the new expiry.
    pub fn renew(&self, token: &LockToken) -> Result<i64, LockError> {
        let now = now_ms();
        let until = now + self.lock_ms();
        let mut st = self.state();
        let lock = st.locks.get_mut(token).ok_or(LockError::MessageLockLost)?;
        if lock.until <= now {
            return Err(LockError::MessageLockLost);
        }
        lock.until = until;
        st.lock_deadlines.push(Reverse((until, *token)));
        Ok(until)
    }

    /// Moves due scheduled messages in, requeues expired locks and expires old messages.
    /// Wakes receivers when something became available.
    pub fn sweep(&self) {
        let now = now_ms();
        let mut woke = false;
        let mut expired = Vec::new();
        let mut to_dlq = Vec::new();
        {
            let mut st = self.state();
            while let Some(&(at, seq)) = st.scheduled.first() {
                if at > now {
                    break;
                }
                st.scheduled.pop_first();
                // A scheduled message is enqueued when it becomes visible.
                if let Some(m) = st.messages.get_mut(&seq) {
                    m.enqueued_ms = at;
                }
                st.make_available(seq);
                woke = true;
            }
            while let Some(Reverse((until, token))) = st.lock_deadlines.peek().copied() {
                if until > now {
                    break;
                }
                st.lock_deadlines.pop();
                let Some(lock) = st.locks.get(&token).copied() else {
                    continue;
                };
                if lock.until > now {
                    continue; // renewed; a later deadline entry stands for it
                }
                // A session's messages stay locked as long as their session does.
                let session = st
                    .messages
                    .get(&lock.seq)
                    .and_then(|m| m.session_id.clone())
                    .filter(|_| st.sessionful);
                if let Some(sid) = &session {
                    let held = st
                        .parts
                        .get(sid)
                        .and_then(|p| p.lock)
                        .filter(|(_, u)| *u > now);
                    if let Some((_, session_until)) = held {
                        if let Some(l) = st.locks.get_mut(&token) {
                            l.until = session_until;
                        }
                        st.lock_deadlines.push(Reverse((session_until, token)));
                        continue;
                    }
                    if st.session_lost.len() >= 100_000 {
                        st.session_lost.clear();
                    }
                    st.session_lost.insert(token);
                }
                st.locks.remove(&token);
                let max = self.props().max_delivery_count;
                match st.messages.get(&lock.seq) {
                    Some(m) if m.deferred => {}
                    Some(m) if m.deliveries >= max => {
                        if let Some(m) = st.take_out(lock.seq) {
                            to_dlq.push(m);
                        }
                    }
                    Some(_) => {
                        st.make_available(lock.seq);
                        woke = true;
                    }
                    None => {}
                }
            }
            while let Some(&(at, seq)) = st.expiring.first() {
                if at > now {
                    break;
                }
                st.expiring.pop_first();
                // Only a visible message expires; a locked one waits for its lock to end.
                let visible = st.messages.get(&seq).is_some_and(|m| {
                    let key = st.part_of(m);
                    st.parts
                        .get(key)
                        .is_some_and(|p| p.available.contains(&seq))
                });
                if visible {
                    if let Some(m) = st.take_out(seq) {
                        expired.push(m);
                    }
                } else if st.messages.contains_key(&seq) {
                    st.expiring.insert((now + 1000, seq));
                }
            }
            for p in st.parts.values_mut() {
                if p.lock.is_some_and(|(_, until)| until <= now) {
                    p.lock = None;
                    woke = true;
                }
            }
        }
        let max = self.props().max_delivery_count;
        for m in to_dlq {
            let (reason, description) = max_delivery_reason(max);
            self.move_to_dead_letter(m, reason, description);
        }
        self.expire(expired);
        if woke {
            self.wake();
        }
    }

    fn expire(&self, messages: Vec<StoredMessage>) {
        for m in messages {
            self.record(Record::Remove { seq: m.seq });
            if self.props().dead_letter_on_expiration {
                self.move_to_dead_letter(
                    m,
                    Some("TTLExpiredException".into()),
                    Some("The message expired and was dead lettered.".into()),
                );
            }
        }
    }

    fn move_to_dead_letter(
        &self,
        mut m: StoredMessage,
        reason: Option<String>,
        description: Option<String>,
    ) {
        self.record(Record::Remove { seq: m.seq });
        let Some(dlq) = &self.dead_letter else { return };
        if let Some(r) = reason {
            m.set_property(dead_letter::REASON, SimpleValue::String(r));
        }
        if let Some(d) = description {
            m.set_property(dead_letter::DESCRIPTION, SimpleValue::String(d));
        }
        m.annotations.insert(
            Symbol::from(crate::message::annotation::DEAD_LETTER_SOURCE),
            Value::String(self.path.clone()),
        );
        // A dead-lettered message lives on in the dead-letter queue: no expiry, fresh count.
        m.expires_ms = None;
        m.deferred = false;
        m.scheduled_ms = None;
        dlq.enqueue(vec![m]);
    }

    /// Messages from `from_seq` on, in order, without locking them (peek).
    pub fn peek(&self, from_seq: i64, n: usize, session: Option<&str>) -> Vec<Vec<u8>> {
        let st = self.state();
        let mut seqs: Vec<i64> = st
            .messages
            .iter()
            .filter(|(seq, m)| {
                **seq >= from_seq && session.is_none_or(|s| m.session_id.as_deref() == Some(s))
            })
            .map(|(seq, _)| *seq)
            .collect();
        seqs.sort_unstable();
        seqs.truncate(n);
        // A locked message's current delivery is not over yet: peek shows the earlier ones.
        let locked: std::collections::HashSet<i64> = st.locks.values().map(|l| l.seq).collect();
        seqs.iter()
            .filter_map(|seq| st.messages.get(seq))
            .map(|m| {
                let current = u32::from(locked.contains(&m.seq));
                m.encode(Stamp {
                    lock_token: None,
                    locked_until_ms: None,
                    delivery_count: m.deliveries.saturating_sub(current),
                })
            })
            .collect()
    }

    /// Removes scheduled messages that have not appeared yet; unknown numbers are ignored.
    pub fn cancel_scheduled(&self, seqs: &[i64]) {
        let mut st = self.state();
        for seq in seqs {
            let Some(at) = st.messages.get(seq).and_then(|m| m.scheduled_ms) else {
                continue;
            };
            if st.scheduled.remove(&(at, *seq)) {
                st.messages.remove(seq);
                self.record(Record::Remove { seq: *seq });
            }
        }
    }

    /// Hands out deferred messages by sequence number.
    pub fn take_deferred(&self, seqs: &[i64], peek_lock: bool) -> Vec<Delivered> {
        let now = now_ms();
        let mut st = self.state();
        let mut out = Vec::new();
        for seq in seqs {
            let locked = st.locks.values().any(|l| l.seq == *seq);
            let Some(m) = st.messages.get_mut(seq) else {
                continue;
            };
            if !m.deferred || locked {
                continue;
            }
            m.deliveries += 1;
            if peek_lock {
                let token = new_token();
                let until = now + self.lock_ms();
                let payload = m.encode(Stamp {
                    lock_token: Some(token),
                    locked_until_ms: Some(until),
                    delivery_count: m.deliveries.saturating_sub(1),
                });
                st.locks.insert(token, Lock { seq: *seq, until });
                st.lock_deadlines.push(Reverse((until, token)));
                out.push(Delivered {
                    tag: token,
                    payload,
                });
            } else {
                let payload = m.encode(Stamp {
                    lock_token: None,
                    locked_until_ms: None,
                    delivery_count: m.deliveries.saturating_sub(1),
                });
                st.messages.remove(seq);
                self.record(Record::Remove { seq: *seq });
                out.push(Delivered {
                    tag: new_token(),
                    payload,
                });
            }
        }
        out
    }

    /// Takes a session for `owner`: the named one, or the one holding the oldest message.
    pub fn lock_session(
        &self,
        owner: Owner,
        wanted: Option<&str>,
    ) -> Result<(String, i64), SessionError> {
        let now = now_ms();
        let until = now + self.lock_ms();
        let mut st = self.state();
        let free = |p: &Part| p.lock.is_none_or(|(_, u)| u <= now);
        let id = match wanted {
            Some(id) => {
                let part = st.parts.entry(id.to_owned()).or_default();
                if !free(part) {
                    return Err(SessionError::Locked);
                }
                id.to_owned()
            }
            None => st
                .parts
                .iter()
                .filter(|(id, p)| !id.is_empty() && free(p) && !p.available.is_empty())
                .min_by_key(|(_, p)| p.available.first().copied())
                .map(|(id, _)| id.clone())
                .ok_or(SessionError::NoneAvailable)?,
        };
        if let Some(part) = st.parts.get_mut(&id) {
            part.lock = Some((owner, until));
        }
        Ok((id, until))
    }

    /// Extends a session lock held by `owner`.
    pub fn renew_session(&self, owner: Option<Owner>, id: &str) -> Result<i64, LockError> {
        let now = now_ms();
        let until = now + self.lock_ms();
        let mut st = self.state();
        let part = st.parts.get_mut(id).ok_or(LockError::SessionLockLost)?;
        match part.lock {
            Some((o, u)) if u > now && owner.is_none_or(|w| w == o) => {
                part.lock = Some((o, until));
                Ok(until)
            }
            _ => Err(LockError::SessionLockLost),
        }
    }

    /// Whether `owner` still holds session `id`.
    pub fn holds_session(&self, owner: Owner, id: &str) -> bool {
        let now = now_ms();
        self.state()
            .parts
            .get(id)
            .and_then(|p| p.lock)
            .is_some_and(|(o, u)| o == owner && u > now)
    }

    /// Releases every session `owner` holds (its link closed).
    pub fn release_sessions(&self, owner: Owner) {
        let mut released = false;
        for p in self.state().parts.values_mut() {
            if p.lock.is_some_and(|(o, _)| o == owner) {
                p.lock = None;
                released = true;
            }
        }
        if released {
            self.wake();
        }
    }

    /// A session's state.
    pub fn session_state(&self, id: &str) -> Option<Vec<u8>> {
        self.state().parts.get(id).and_then(|p| p.state.clone())
    }

    /// Sets a session's state (`None` clears it).
    pub fn set_session_state(&self, id: &str, state: Option<Vec<u8>>) {
        self.record(Record::SessionState {
            session: id,
            state: state.as_deref(),
        });
        self.state().parts.entry(id.to_owned()).or_default().state = state;
    }
}

/// Message counts, for the management API.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Every message held.
    pub total: usize,
    /// Scheduled, not yet visible.
    pub scheduled: usize,
    /// Bytes of the visible messages.
    pub bytes: usize,
}

fn max_delivery_reason(max: u32) -> (Option<String>, Option<String>) {
    (
        Some("MaxDeliveryCountExceeded".into()),
        Some(format!(
            "Message could not be consumed after {max} delivery attempts."
        )),
    )
}

/// Applies the properties a settlement asked to modify: the service sets them as
/// application properties (learn.microsoft.com/azure/service-bus-messaging/
/// message-transfers-locks-settlement, "propertiesToModify").
fn apply(m: &mut StoredMessage, changes: Vec<(Symbol, Value)>) {
    for (k, v) in changes {
        if let Ok(v) = SimpleValue::try_from(v) {
            m.set_property(&k.0, v);
        }
    }
}

impl State {
    /// The part a message belongs to: its session in a sessionful entity, else the one part.
    fn part_of<'a>(&self, m: &'a StoredMessage) -> &'a str {
        match &m.session_id {
            Some(id) if self.sessionful => id,
            _ => NO_SESSION,
        }
    }

    fn insert(&mut self, m: StoredMessage, now: i64) {
        let seq = m.seq;
        if let Some(at) = m.expires_ms {
            self.expiring.insert((at, seq));
        }
        let scheduled = m.scheduled_ms.filter(|at| *at > now);
        let deferred = m.deferred;
        let key = self.part_of(&m).to_owned();
        self.parts.entry(key).or_default();
        self.messages.insert(seq, m);
        if let Some(at) = scheduled {
            self.scheduled.insert((at, seq));
        } else if !deferred {
            self.make_available(seq);
        }
    }

    fn make_available(&mut self, seq: i64) {
        let Some(m) = self.messages.get(&seq) else {
            return;
        };
        let size = m.size();
        let key = self.part_of(m).to_owned();
        let part = self.parts.entry(key).or_default();
        if part.available.insert(seq) {
            self.active_bytes += size;
        }
    }

    fn take_out(&mut self, seq: i64) -> Option<StoredMessage> {
        let m = self.messages.remove(&seq)?;
        let key = self.part_of(&m).to_owned();
        if self
            .parts
            .get_mut(&key)
            .is_some_and(|p| p.available.remove(&seq))
        {
            self.active_bytes = self.active_bytes.saturating_sub(m.size());
        }
        if let Some(at) = m.expires_ms {
            self.expiring.remove(&(at, seq));
        }
        Some(m)
    }
}

impl EntityProperties {
    fn clone_for_dlq(&self) -> EntityProperties {
        // A dead-letter queue keeps its messages and is never itself session-bound.
        EntityProperties {
            requires_session: false,
            default_ttl: None,
            dead_letter_on_expiration: false,
            ..self.clone()
        }
    }
}
