//! Durability: an append-only log of what changed, replayed at start.
//!
//! With `--data-dir`, every accepted message is written (and handed to the operating
//! system) before the sender's transfer is acknowledged, so a killed broker loses
//! nothing it acknowledged. Settlements are written too; one lost in a crash only
//! means a message is delivered again, as the service's at-least-once promise allows.
//! At start the log is replayed and rewritten with just the live messages.

use crate::message::StoredMessage;
use fe2o3_amqp_types::messaging::{Header, MessageAnnotations};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One change to an entity.
#[derive(Debug)]
pub enum Record<'a> {
    /// A message was stored.
    Put(&'a StoredMessage),
    /// A message left (completed, received-and-deleted, expired, moved).
    Remove {
        /// Its sequence number.
        seq: i64,
    },
    /// A message was delivered under a lock (its delivery count grew).
    Delivered {
        /// Its sequence number.
        seq: i64,
        /// Deliveries so far.
        deliveries: u32,
    },
    /// A message was deferred.
    Defer {
        /// Its sequence number.
        seq: i64,
    },
    /// A session's state was set or cleared.
    SessionState {
        /// The session.
        session: &'a str,
        /// The state; `None` clears it.
        state: Option<&'a [u8]>,
    },
}

/// The log file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    out: Mutex<BufWriter<File>>,
}

/// What a replay found: per entity path, its live messages and session states.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Live messages by entity path.
    pub messages: HashMap<String, BTreeMap<i64, StoredMessage>>,
    /// Session states by entity path and session id.
    pub session_states: HashMap<String, HashMap<String, Vec<u8>>>,
    /// The highest sequence number seen.
    pub last_seq: i64,
    /// Records that could not be read (a torn last write).
    pub torn: usize,
}

const PUT: u8 = 1;
const REMOVE: u8 = 2;
const DELIVERED: u8 = 3;
const DEFER: u8 = 4;
const SESSION_STATE: u8 = 5;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
        None => out.push(0),
    }
}

fn encode(entity: &str, record: &Record<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    put_bytes(&mut body, entity.as_bytes());
    match record {
        Record::Put(m) => {
            body.push(PUT);
            body.extend_from_slice(&m.seq.to_be_bytes());
            body.extend_from_slice(&m.enqueued_ms.to_be_bytes());
            put_bytes(&mut body, m.session_id.as_deref().unwrap_or("").as_bytes());
            body.push(u8::from(m.session_id.is_some()));
            put_opt_i64(&mut body, m.expires_ms);
            put_opt_i64(&mut body, m.scheduled_ms);
            body.extend_from_slice(&m.deliveries.to_be_bytes());
            body.push(u8::from(m.deferred));
            put_bytes(
                &mut body,
                &serde_amqp::to_vec(&m.header).unwrap_or_default(),
            );
            let annotations = MessageAnnotations(
                m.annotations
                    .iter()
                    .map(|(k, v)| (k.clone().into(), v.clone()))
                    .collect(),
            );
            put_bytes(
                &mut body,
                &serde_amqp::to_vec(&annotations).unwrap_or_default(),
            );
            body.extend_from_slice(&(m.added_properties.len() as u32).to_be_bytes());
            for (k, v) in &m.added_properties {
                put_bytes(&mut body, k.as_bytes());
                put_bytes(&mut body, &serde_amqp::to_vec(v).unwrap_or_default());
            }
            put_bytes(&mut body, &m.properties);
            put_bytes(&mut body, &m.application_properties);
            put_bytes(&mut body, &m.body);
        }
        Record::Remove { seq } => {
            body.push(REMOVE);
            body.extend_from_slice(&seq.to_be_bytes());
        }
        Record::Delivered { seq, deliveries } => {
            body.push(DELIVERED);
            body.extend_from_slice(&seq.to_be_bytes());
            body.extend_from_slice(&deliveries.to_be_bytes());
        }
        Record::Defer { seq } => {
            body.push(DEFER);
            body.extend_from_slice(&seq.to_be_bytes());
        }
        Record::SessionState { session, state } => {
            body.push(SESSION_STATE);
            put_bytes(&mut body, session.as_bytes());
            body.push(u8::from(state.is_some()));
            put_bytes(&mut body, state.unwrap_or(&[]));
        }
    }
    let mut framed = Vec::with_capacity(body.len() + 4);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn opt_i64(&mut self) -> Option<Option<i64>> {
        match self.u8()? {
            0 => Some(None),
            _ => Some(Some(self.i64()?)),
        }
    }
}

fn decode_put(r: &mut Reader<'_>) -> Option<StoredMessage> {
    let seq = r.i64()?;
    let enqueued_ms = r.i64()?;
    let session = r.string()?;
    let has_session = r.u8()? == 1;
    let expires_ms = r.opt_i64()?;
    let scheduled_ms = r.opt_i64()?;
    let deliveries = r.u32()?;
    let deferred = r.u8()? == 1;
    let header: Header = serde_amqp::from_slice(r.bytes()?).ok()?;
    let annotations: MessageAnnotations = serde_amqp::from_slice(r.bytes()?).ok()?;
    let n = r.u32()?;
    let mut added_properties = Vec::new();
    for _ in 0..n {
        let name = r.string()?;
        added_properties.push((name, serde_amqp::from_slice(r.bytes()?).ok()?));
    }
    Some(StoredMessage {
        seq,
        enqueued_ms,
        session_id: has_session.then_some(session),
        expires_ms,
        scheduled_ms,
        deliveries,
        deferred,
        header,
        annotations: annotations
            .0
            .into_inner()
            .into_iter()
            .filter_map(|(k, v)| match k {
                fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(s) => Some((s, v)),
                _ => None,
            })
            .collect(),
        added_properties,
        properties: bytes::Bytes::copy_from_slice(r.bytes()?),
        application_properties: bytes::Bytes::copy_from_slice(r.bytes()?),
        body: bytes::Bytes::copy_from_slice(r.bytes()?),
    })
}

fn replay(buf: &[u8]) -> Replayed {
    let mut out = Replayed::default();
    let mut r = Reader(buf);
    while !r.0.is_empty() {
        let Some(record) = r.bytes() else {
            out.torn += 1;
            break;
        };
        let mut rec = Reader(record);
        let applied = (|| {
            let entity = rec.string()?;
            let messages = out.messages.entry(entity.clone()).or_default();
            match rec.u8()? {
                PUT => {
                    let m = decode_put(&mut rec)?;
                    out.last_seq = out.last_seq.max(m.seq);
                    messages.insert(m.seq, m);
                }
                REMOVE => {
                    messages.remove(&rec.i64()?);
                }
                DELIVERED => {
                    let seq = rec.i64()?;
                    let deliveries = rec.u32()?;
                    if let Some(m) = messages.get_mut(&seq) {
                        m.deliveries = deliveries;
                    }
                }
                DEFER => {
                    if let Some(m) = messages.get_mut(&rec.i64()?) {
                        m.deferred = true;
                    }
                }
                SESSION_STATE => {
                    let session = rec.string()?;
                    let set = rec.u8()? == 1;
                    let state = rec.bytes()?.to_vec();
                    let states = out.session_states.entry(entity).or_default();
                    if set {
                        states.insert(session, state);
                    } else {
                        states.remove(&session);
                    }
                }
                _ => return None,
            }
            Some(())
        })();
        if applied.is_none() {
            out.torn += 1;
        }
    }
    out
}

impl Journal {
    /// Opens the log in `dir`, replays it and compacts it to the live messages.
    pub fn open(dir: &Path) -> std::io::Result<(Journal, Replayed)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("journal.log");
        let mut buf = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut buf)?;
        }
        let replayed = replay(&buf);
        // Compact: write the live set to a new file, then swap it in.
        let tmp = dir.join("journal.log.tmp");
        {
            let mut w = BufWriter::new(File::create(&tmp)?);
            for (entity, messages) in &replayed.messages {
                for m in messages.values() {
                    w.write_all(&encode(entity, &Record::Put(m)))?;
                }
            }
            for (entity, states) in &replayed.session_states {
                for (session, state) in states {
                    w.write_all(&encode(
                        entity,
                        &Record::SessionState {
                            session,
                            state: Some(state),
                        },
                    ))?;
                }
            }
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok((
            Journal {
                path,
                out: Mutex::new(BufWriter::new(file)),
            },
            replayed,
        ))
    }

    /// Appends a record and hands it to the operating system.
    pub fn append(&self, entity: &str, record: Record<'_>) {
        let bytes = encode(entity, &record);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_all(&bytes).and_then(|_| out.flush()) {
            crate::log::error(&format!(
                "journal {}: write failed: {e}",
                self.path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64) -> StoredMessage {
        StoredMessage {
            seq,
            enqueued_ms: 5,
            session_id: Some("s".into()),
            expires_ms: Some(99),
            scheduled_ms: None,
            deliveries: 0,
            deferred: false,
            header: Header::default(),
            annotations: Default::default(),
            added_properties: vec![("DeadLetterReason".into(), "why".into())],
            properties: bytes::Bytes::new(),
            application_properties: bytes::Bytes::new(),
            body: bytes::Bytes::from_static(&[0, 0x53, 0x75, 0xa0, 1, 7]),
        }
    }

    #[test]
    fn replay_keeps_live_messages_and_counts_a_torn_tail() {
        let mut log = Vec::new();
        log.extend(encode("q", &Record::Put(&message(1))));
        log.extend(encode("q", &Record::Put(&message(2))));
        log.extend(encode(
            "q",
            &Record::Delivered {
                seq: 2,
                deliveries: 3,
            },
        ));
        log.extend(encode("q", &Record::Remove { seq: 1 }));
        log.extend(encode(
            "q",
            &Record::SessionState {
                session: "s",
                state: Some(b"st"),
            },
        ));
        let torn = encode("q", &Record::Put(&message(3)));
        log.extend(&torn[..torn.len() - 3]);
        let r = replay(&log);
        let q = &r.messages["q"];
        assert_eq!(q.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(q[&2].deliveries, 3);
        assert_eq!(q[&2].added_properties[0].1, "why".into());
        assert_eq!(q[&2].session_id.as_deref(), Some("s"));
        assert_eq!(r.session_states["q"]["s"], b"st".to_vec());
        assert_eq!(r.torn, 1);
        assert_eq!(r.last_seq, 2);
    }
}
