//! In-memory pub/sub: a [`MemoryBroker`] of topics that fan out to their
//! subscriptions, all held in this process.
//!
//! It behaves like the clouds do: every subscription receives every message
//! published after it was created; within a subscription each message goes to
//! one consumer; a message that is not acked before its lease runs out comes
//! back with its delivery attempt counted; a nack redelivers after the asked
//! delay; and messages sharing an ordering key are handed out one at a time, in
//! publish order, even across retries. Dead-lettering is left to the engine
//! (`strata_core::pubsub::Subscriber` publishes to a dead-letter topic).
//!
//! Limits ([`MEMORY_CAPABILITIES`]): messages up to 10 MiB, Pub/Sub's limit
//! (SNS/SQS take 256 KiB, so passing here does not prove a message fits every
//! cloud); batches of 1000 messages or 10 MiB; receives and acks of up to 1000.
//! Publishing never lingers: the memory "network" costs nothing to call.

mod tokens;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};

use self::tokens::TokenMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use strata_core::pubsub::{
    Attributes, Delivery, DeliveryHandle, Message, OutgoingMessage, PubSubCapabilities,
    SubscriptionDriver, TopicDriver,
};
use strata_core::sync::{lock, read, write};
use strata_core::{Error, Result};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Largest message the memory provider accepts: 10 MiB.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// What the memory provider can do.
pub const MEMORY_CAPABILITIES: PubSubCapabilities = PubSubCapabilities {
    messaging_system: "memory",
    ordering: true,
    native_dead_letter: false,
    explicit_dead_letter: false,
    lease_extension: true,
    delivery_attempts: true,
    max_message_bytes: MAX_MESSAGE_BYTES,
    max_batch_messages: 1000,
    max_batch_bytes: MAX_MESSAGE_BYTES,
    max_receive_messages: 1000,
    max_ack_batch: 1000,
    default_linger: Duration::ZERO,
};

static CAPABILITIES: PubSubCapabilities = MEMORY_CAPABILITIES;

/// Topics and their subscriptions, in memory. Cloning shares the same broker.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    topics: Arc<Mutex<HashMap<String, Arc<MemoryTopic>>>>,
}

/// Settings of a memory subscription, applied when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySubscriptionOptions {
    /// How long a delivery stays leased before it is redelivered (default 30 s;
    /// at least 1 ms).
    pub lease: Duration,
}

impl Default for MemorySubscriptionOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker").finish_non_exhaustive()
    }
}

impl MemoryBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Topic `name`, created on first use.
    pub fn topic(&self, name: &str) -> Arc<MemoryTopic> {
        lock(&self.topics)
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(MemoryTopic {
                    name: name.to_owned(),
                    next_id: AtomicU64::new(1),
                    subscriptions: RwLock::new(HashMap::new()),
                })
            })
            .clone()
    }

    /// Subscription `name` of `topic` (both created on first use; `opts` apply
    /// only on creation). It receives the messages published after it was created.
    pub fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: MemorySubscriptionOptions,
    ) -> Arc<MemorySubscription> {
        let topic = self.topic(topic);
        let mut subscriptions = write(&topic.subscriptions);
        subscriptions
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(MemorySubscription {
                    name: name.to_owned(),
                    lease: opts.lease.max(Duration::from_millis(1)),
                    queue: Mutex::new(Queue::default()),
                    changed: Notify::new(),
                })
            })
            .clone()
    }
}

impl MemoryBroker {
    /// Removes subscription `name` of `topic`: it receives nothing from now on
    /// (consumers still holding it can drain what it had). Returns whether it existed.
    pub fn delete_subscription(&self, topic: &str, name: &str) -> bool {
        let Some(topic) = lock(&self.topics).get(topic).cloned() else {
            return false;
        };
        write(&topic.subscriptions).remove(name).is_some()
    }
}

/// A topic of a [`MemoryBroker`].
pub struct MemoryTopic {
    name: String,
    next_id: AtomicU64,
    subscriptions: RwLock<HashMap<String, Arc<MemorySubscription>>>,
}

impl std::fmt::Debug for MemoryTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTopic")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MemoryTopic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A published message, shared by every subscription it fans out to.
struct Stored {
    id: String,
    data: Bytes,
    attributes: Attributes,
    ordering_key: Option<String>,
    publish_time: SystemTime,
}

#[async_trait]
impl TopicDriver for MemoryTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &CAPABILITIES
    }

    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        let publish_time = SystemTime::now();
        let first_id = self
            .next_id
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut results = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        for (n, message) in batch.into_iter().enumerate() {
            let len = message.encoded_len();
            if len > MAX_MESSAGE_BYTES {
                results.push(Err(Error::invalid_argument(format!(
                    "message of {len} bytes is larger than the {MAX_MESSAGE_BYTES} bytes \
                     memory topic `{}` accepts",
                    self.name
                ))));
                continue;
            }
            let id = (first_id + n as u64).to_string();
            accepted.push(Arc::new(Stored {
                id: id.clone(),
                data: message.data,
                attributes: message.attributes,
                ordering_key: message.ordering_key,
                publish_time,
            }));
            results.push(Ok(id));
        }
        if !accepted.is_empty() {
            // Held while enqueueing, so a subscription created meanwhile gets
            // the whole batch or none of it.
            let subscriptions = read(&self.subscriptions);
            for subscription in subscriptions.values() {
                subscription.enqueue(&accepted);
            }
        }
        results
    }
}

/// A subscription of a [`MemoryTopic`].
pub struct MemorySubscription {
    name: String,
    lease: Duration,
    queue: Mutex<Queue>,
    /// Woken whenever the queue changes in a way a waiting receive cares about.
    changed: Notify,
}

impl std::fmt::Debug for MemorySubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySubscription")
            .field("name", &self.name)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// One message in one subscription.
struct Entry {
    message: Arc<Stored>,
    /// Deliveries so far.
    attempts: u32,
}

struct Leased {
    entry: Entry,
    deadline: Instant,
}

/// A nacked message waiting for its redelivery time; ordered earliest first.
struct Delayed {
    due: Instant,
    seq: u64,
    entry: Entry,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: `BinaryHeap` is a max-heap and the earliest must come first.
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// Everything one subscription holds. Each message is in exactly one place:
/// `ready`, `delayed`, `leased`, or waiting in `keys` behind an earlier
/// message of its ordering key.
#[derive(Default)]
struct Queue {
    ready: VecDeque<Entry>,
    delayed: BinaryHeap<Delayed>,
    leased: TokenMap<Leased>,
    /// Lease deadlines in delivery order (one lease length, so also in time
    /// order). A record is stale once its token is settled or extended.
    expiries: VecDeque<(Instant, u64)>,
    /// Deadlines set by `extend_lease`, earliest first, stale records likewise.
    extended: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Ordering keys with a message in flight (ready, leased or delayed), and
    /// the later messages of that key, in publish order.
    keys: HashMap<String, VecDeque<Entry>>,
    next_seq: u64,
}

impl Queue {
    fn push(&mut self, entry: Entry) {
        match &entry.message.ordering_key {
            Some(key) => match self.keys.get_mut(key) {
                Some(waiting) => waiting.push_back(entry),
                None => {
                    self.keys.insert(key.clone(), VecDeque::new());
                    self.ready.push_back(entry);
                }
            },
            None => self.ready.push_back(entry),
        }
    }

    fn is_live(&self, deadline: Instant, token: u64) -> bool {
        self.leased
            .get(&token)
            .is_some_and(|leased| leased.deadline == deadline)
    }

    /// Moves due redeliveries and expired leases back to `ready`, and drops
    /// stale deadline records.
    fn advance(&mut self, now: Instant) {
        while self.delayed.peek().is_some_and(|d| d.due <= now) {
            if let Some(delayed) = self.delayed.pop() {
                self.ready.push_back(delayed.entry);
            }
        }
        while let Some(&(deadline, token)) = self.expiries.front() {
            if self.is_live(deadline, token) && deadline > now {
                break;
            }
            self.expiries.pop_front();
            self.expire(deadline, token, now);
        }
        while let Some(&Reverse((deadline, token))) = self.extended.peek() {
            if self.is_live(deadline, token) && deadline > now {
                break;
            }
            self.extended.pop();
            self.expire(deadline, token, now);
        }
    }

    fn expire(&mut self, deadline: Instant, token: u64, now: Instant) {
        if deadline <= now
            && self.is_live(deadline, token)
            && let Some(leased) = self.leased.remove(&token)
        {
            // Still its key's message in flight: the key stays taken.
            self.ready.push_back(leased.entry);
        }
    }

    /// The next time `advance` has something to do.
    fn next_wake(&self) -> Option<Instant> {
        [
            self.delayed.peek().map(|d| d.due),
            self.expiries.front().map(|&(deadline, _)| deadline),
            self.extended.peek().map(|Reverse((deadline, _))| *deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A settled message frees its ordering key for the next one.
    fn settled(&mut self, entry: &Entry) {
        let Some(key) = &entry.message.ordering_key else {
            return;
        };
        let next = self.keys.get_mut(key).and_then(VecDeque::pop_front);
        match next {
            Some(next) => self.ready.push_back(next),
            None => {
                self.keys.remove(key);
            }
        }
    }
}

/// `now + delay`, saturating at about a year from now.
fn after(delay: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 86_400);
    Instant::now() + delay.min(FAR)
}

impl MemorySubscription {
    /// The subscription's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages not yet acked: ready, leased, waiting for a redelivery, or
    /// waiting behind their ordering key.
    pub fn backlog(&self) -> usize {
        let queue = lock(&self.queue);
        queue.ready.len()
            + queue.delayed.len()
            + queue.leased.len()
            + queue.keys.values().map(VecDeque::len).sum::<usize>()
    }

    fn enqueue(&self, messages: &[Arc<Stored>]) {
        {
            let mut queue = lock(&self.queue);
            for message in messages {
                queue.push(Entry {
                    message: message.clone(),
                    attempts: 0,
                });
            }
        }
        self.changed.notify_waiters();
    }

    /// Leases up to `max` ready messages. `None` when nothing is ready, with
    /// the next time something may become ready.
    fn take(&self, max: usize) -> std::result::Result<Vec<Delivery>, Option<Instant>> {
        let mut queue = lock(&self.queue);
        let now = Instant::now();
        queue.advance(now);
        let count = max.min(queue.ready.len());
        if count == 0 {
            return Err(queue.next_wake());
        }
        let first_token = tokens::reserve(count);
        let deadline = now + self.lease.min(Duration::from_secs(365 * 86_400));
        let mut deliveries = Vec::with_capacity(count);
        for token in first_token..first_token + count as u64 {
            let Some(mut entry) = queue.ready.pop_front() else {
                break;
            };
            entry.attempts = entry.attempts.saturating_add(1);
            let stored = &entry.message;
            deliveries.push(Delivery {
                message: Message {
                    id: stored.id.clone(),
                    data: stored.data.clone(),
                    attributes: stored.attributes.clone(),
                    ordering_key: stored.ordering_key.clone(),
                    publish_time: stored.publish_time,
                    delivery_attempt: entry.attempts,
                },
                handle: tokens::handle(token),
            });
            queue.leased.insert(token, Leased { entry, deadline });
            queue.expiries.push_back((deadline, token));
        }
        Ok(deliveries)
    }
}

#[async_trait]
impl SubscriptionDriver for MemorySubscription {
    fn capabilities(&self) -> &PubSubCapabilities {
        &CAPABILITIES
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let max = max.min(CAPABILITIES.max_receive_messages);
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = after(wait);
        loop {
            // Registered before looking, so a change in between is not missed.
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            // Taking and returning happen with no await in between: cancel safe.
            let next_wake = match self.take(max) {
                Ok(deliveries) => {
                    // Other waiting receivers must learn the new lease deadlines.
                    self.changed.notify_waiters();
                    return Ok(deliveries);
                }
                Err(next_wake) => next_wake,
            };
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let wake_at = next_wake.map_or(deadline, |wake| wake.min(deadline));
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        let mut malformed = None;
        let mut freed = false;
        {
            let mut queue = lock(&self.queue);
            for handle in &handles {
                match tokens::parse(handle) {
                    // Unknown means acked already, or expired and handed out
                    // again: acking it is harmless and changes nothing.
                    Ok(token) => {
                        if let Some(leased) = queue.leased.remove(&token) {
                            freed |= leased.entry.message.ordering_key.is_some();
                            queue.settled(&leased.entry);
                        }
                    }
                    Err(err) => malformed = Some(err),
                }
            }
        }
        if freed {
            self.changed.notify_waiters();
        }
        malformed.map_or(Ok(()), Err)
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        let token = tokens::parse(&handle)?;
        {
            let mut queue = lock(&self.queue);
            let Some(leased) = queue.leased.remove(&token) else {
                return Ok(());
            };
            if redeliver_after.is_zero() {
                queue.ready.push_back(leased.entry);
            } else {
                let seq = queue.next_seq;
                queue.next_seq += 1;
                queue.delayed.push(Delayed {
                    due: after(redeliver_after),
                    seq,
                    entry: leased.entry,
                });
            }
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn extend_lease(&self, handle: &DeliveryHandle, lease: Duration) -> Result<()> {
        let token = tokens::parse(handle)?;
        let mut queue = lock(&self.queue);
        let deadline = after(lease);
        match queue.leased.get_mut(&token) {
            Some(leased) => {
                leased.deadline = deadline;
                queue.extended.push(Reverse((deadline, token)));
                Ok(())
            }
            None => Err(Error::not_found(format!(
                "delivery `{}` of memory subscription `{}` is not leased: acked, or its lease ran out",
                handle.0, self.name
            ))),
        }
    }
}
