//! One client connection: SASL, then AMQP sessions and links, on one task.
//!
//! The task reads whatever frames have arrived, acts on each, hands out messages to
//! receiving links that have credit, and writes everything it produced in one go.
//! It sleeps until the socket has bytes, an entity it waits on gets a message, or
//! the tick (heartbeats, pending session accepts) comes round.

use crate::broker::{Broker, Node, SendError, entity_path};
use crate::frame::{self, FramingError, TYPE_AMQP, TYPE_SASL};
use crate::management::{self, Dialect};
use crate::message::{self, now_ms};
use crate::sas::{self, Grant};
use crate::store::{Entity, LockError, LockToken, SessionError, Settle};
use bytes::BytesMut;
use fe2o3_amqp_types::definitions::{
    self, AmqpError, ErrorCondition, Fields, Handle, LinkError, ReceiverSettleMode, Role,
    SenderSettleMode,
};
use fe2o3_amqp_types::messaging::{
    Accepted, DeliveryState, Modified, Rejected, Released, TargetArchetype,
};
use fe2o3_amqp_types::performatives::{
    Attach, Begin, ChannelMax, Close, Detach, Disposition, End, Flow, MaxFrameSize, Open,
    Performative, Transfer,
};
use fe2o3_amqp_types::sasl::{SaslCode, SaslMechanisms, SaslOutcome};
use serde_amqp::Value;
use serde_amqp::primitives::{Array, Symbol};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const SESSION_FILTER: &str = "com.microsoft:session-filter";
const LOCKED_UNTIL_UTC: &str = "com.microsoft:locked-until-utc";
const TIMEOUT_PROPERTY: &str = "com.microsoft:timeout";
/// Credit given to a client's sending link, topped up when half is used.
const SEND_CREDIT: u32 = 1000;
/// The session window this broker offers, refreshed when half is used.
const WINDOW: u32 = 65_536;
/// Messages handed to one link per pass, so one busy link cannot starve the rest.
const PASS: u32 = 256;
/// .NET ticks (100 ns since 0001-01-01) at the Unix epoch.
const TICKS_AT_EPOCH: i64 = 621_355_968_000_000_000;

/// The delivery tag of a lock token: the GUID in .NET's byte order (the first three
/// fields little-endian), which is how the SDKs read it back.
pub fn tag_of(token: &LockToken) -> [u8; 16] {
    let t = token;
    [
        t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13],
        t[14], t[15],
    ]
}

fn error(condition: ErrorCondition, description: impl Into<String>) -> definitions::Error {
    // Always all three fields: the Python SDK indexes them.
    definitions::Error {
        condition,
        description: Some(description.into()),
        info: Some(Box::default()),
    }
}

fn custom(condition: &str) -> ErrorCondition {
    ErrorCondition::Custom(Symbol::from(condition))
}

fn not_found(path: &str) -> definitions::Error {
    error(
        ErrorCondition::AmqpError(AmqpError::NotFound),
        format!("The messaging entity '{path}' could not be found."),
    )
}

/// Where a client's sending link delivers.
#[derive(Debug)]
enum Inbound {
    Entity(String),
    Cbs,
    Management(String),
}

/// What a link the broker sends on carries.
#[derive(Debug)]
enum Outbound {
    Entity {
        entity: Arc<Entity>,
        peek_lock: bool,
        session: Option<String>,
    },
    /// Replies of `$cbs` or `<entity>/$management`, addressed by the link's target or name.
    Replies {
        node: String,
        reply_to: Option<String>,
        queue: VecDeque<Vec<u8>>,
    },
}

#[derive(Debug)]
struct Partial {
    delivery_id: u32,
    settled: bool,
    format: u32,
    bytes: Vec<u8>,
    too_big: bool,
}

#[derive(Debug)]
enum Role2 {
    In {
        node: Inbound,
        credit: u32,
        /// The link's delivery count as the receiver sees it: the sender's initial count
        /// plus every delivery since. Credit is granted relative to it.
        delivery_count: u32,
        partial: Option<Partial>,
    },
    Out {
        node: Outbound,
        credit: u32,
        delivery_count: u32,
        drain: bool,
    },
}

#[derive(Debug)]
struct Link {
    id: u64,
    name: String,
    role: Role2,
}

#[derive(Debug)]
struct Unsettled {
    entity: Arc<Entity>,
    token: LockToken,
}

/// A delivery about to be written: payload, tag, whether settled, and what settles it.
type Outgoing = (Vec<u8>, [u8; 16], bool, Option<Unsettled>);

#[derive(Debug)]
struct PendingAttach {
    attach: Attach,
    deadline: Instant,
}

#[derive(Debug, Default)]
struct Session {
    next_outgoing_id: u32,
    remote_incoming_window: u32,
    remote_next_incoming_id: u32,
    next_incoming_id: u32,
    incoming_used: u32,
    next_delivery_id: u32,
    links: BTreeMap<u32, Link>,
    unsettled: BTreeMap<u32, Unsettled>,
    pending: Vec<PendingAttach>,
    /// Accepted deliveries not yet answered, as a contiguous range.
    accepted: Option<(u32, u32)>,
    /// Links answered but refused, detached with their error when the client detaches or at
    /// the deadline, whichever comes first.
    refused: HashMap<u32, (Instant, definitions::Error)>,
    /// Links this broker detached first: the client's detach is the answer, not a request.
    detached: std::collections::HashSet<u32>,
}

impl Session {
    fn window_left(&self) -> u32 {
        self.remote_next_incoming_id
            .wrapping_add(self.remote_incoming_window)
            .wrapping_sub(self.next_outgoing_id)
            .min(self.remote_incoming_window)
    }
}

/// A connection's state.
pub struct Conn {
    broker: Arc<Broker>,
    out: Vec<u8>,
    peer_max_frame: usize,
    peer_idle: Option<Duration>,
    last_write: Instant,
    sessions: HashMap<u16, Session>,
    grants: Vec<Grant>,
    wake: Arc<Notify>,
    closed: bool,
    label: String,
}

/// Serves one connection whose first bytes (`head`) were already read.
pub async fn serve(stream: TcpStream, head: [u8; 8], broker: Arc<Broker>) {
    let label = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let mut conn = Conn {
        broker,
        out: Vec::with_capacity(64 * 1024),
        peer_max_frame: frame::MAX_FRAME,
        peer_idle: None,
        last_write: Instant::now(),
        sessions: HashMap::new(),
        grants: Vec::new(),
        wake: Arc::new(Notify::new()),
        closed: false,
        label,
    };
    crate::log::debug(&format!("{}: connected", conn.label));
    if let Err(e) = conn.run(stream, head).await {
        crate::log::debug(&format!("{}: closed: {}", conn.label, e.0));
    }
    conn.release_all();
    crate::log::debug(&format!("{}: gone", conn.label));
}

impl Conn {
    async fn run(&mut self, mut stream: TcpStream, head: [u8; 8]) -> Result<(), FramingError> {
        let io = |e: std::io::Error| FramingError(e.to_string());
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut head = head;
        if head == frame::SASL_HEADER {
            stream.write_all(&frame::SASL_HEADER).await.map_err(io)?;
            let mechanisms = SaslMechanisms {
                sasl_server_mechanisms: Array(vec![
                    Symbol::from("ANONYMOUS"),
                    Symbol::from("PLAIN"),
                    Symbol::from("MSSBCBS"),
                ]),
            };
            let mut out = Vec::new();
            frame::write(&mut out, TYPE_SASL, 0, &frame::encode(&mechanisms), &[]);
            stream.write_all(&out).await.map_err(io)?;
            // sasl-init: any mechanism is fine; authorization is CBS's job.
            loop {
                if let Some(f) = frame::take_frame(&mut buf)? {
                    if f.kind != TYPE_SASL {
                        return Err(FramingError("expected sasl-init".into()));
                    }
                    break;
                }
                if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                    return Err(FramingError("peer left during SASL".into()));
                }
            }
            let outcome = SaslOutcome {
                code: SaslCode::Ok,
                additional_data: None,
            };
            let mut out = Vec::new();
            frame::write(&mut out, TYPE_SASL, 0, &frame::encode(&outcome), &[]);
            stream.write_all(&out).await.map_err(io)?;
            while buf.len() < 8 {
                if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                    return Err(FramingError("peer left after SASL".into()));
                }
            }
            head.copy_from_slice(&buf.split_to(8));
        }
        if head != frame::AMQP_HEADER {
            stream.write_all(&frame::AMQP_HEADER).await.map_err(io)?;
            return Err(FramingError(format!(
                "unsupported protocol header {head:?}"
            )));
        }
        stream.write_all(&frame::AMQP_HEADER).await.map_err(io)?;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.closed {
            loop {
                // A frame that cannot be read ends this connection (with a close that says
                // why), never the broker.
                let next = frame::take_frame(&mut buf).and_then(|f| match f {
                    Some(f) if f.kind == TYPE_AMQP && !f.body.is_empty() => {
                        let (p, payload) = frame::performative(&f.body)?;
                        self.on_performative(f.channel, p, payload);
                        Ok(true)
                    }
                    Some(_) => Ok(true),
                    None => Ok(false),
                });
                match next {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        self.close_with(Some(error(
                            ErrorCondition::AmqpError(AmqpError::DecodeError),
                            e.0.clone(),
                        )));
                        let _ = stream.write_all(&self.out).await;
                        return Err(e);
                    }
                }
            }
            self.flush_accepted();
            self.pump();
            if !self.out.is_empty() {
                stream.write_all(&self.out).await.map_err(io)?;
                self.out.clear();
                self.last_write = Instant::now();
            }
            if self.closed {
                break;
            }
            let wake = self.wake.clone();
            tokio::select! {
                n = stream.read_buf(&mut buf) => {
                    if n.map_err(io)? == 0 {
                        return Err(FramingError("peer closed the socket".into()));
                    }
                }
                _ = wake.notified() => {}
                _ = tick.tick() => self.on_tick(),
            }
        }
        Ok(())
    }

    fn send(&mut self, channel: u16, p: Performative) {
        frame::write(&mut self.out, TYPE_AMQP, channel, &frame::encode(&p), &[]);
    }

    fn close_with(&mut self, e: Option<definitions::Error>) {
        self.send(0, Performative::Close(Close { error: e }));
        self.closed = true;
    }

    fn on_tick(&mut self) {
        if self
            .peer_idle
            .is_some_and(|idle| self.last_write.elapsed() >= idle / 2)
        {
            frame::heartbeat(&mut self.out);
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for (ch, s) in &mut self.sessions {
            let handles: Vec<u32> = s
                .refused
                .iter()
                .filter(|(_, (at, _))| *at <= now)
                .map(|(h, _)| *h)
                .collect();
            for h in handles {
                if let Some((_, e)) = s.refused.remove(&h) {
                    due.push((*ch, h, e));
                }
            }
        }
        for (ch, h, e) in due {
            if let Some(s) = self.sessions.get_mut(&ch) {
                s.detached.insert(h);
            }
            self.send(
                ch,
                Performative::Detach(Detach {
                    handle: Handle(h),
                    closed: true,
                    error: Some(e),
                }),
            );
        }
        let channels: Vec<u16> = self.sessions.keys().copied().collect();
        for ch in channels {
            let pending = match self.sessions.get_mut(&ch) {
                Some(s) if !s.pending.is_empty() => std::mem::take(&mut s.pending),
                _ => continue,
            };
            for p in pending {
                self.attach_receiver(ch, p.attach, Some(p.deadline));
            }
        }
    }

    fn on_performative(&mut self, ch: u16, p: Performative, payload: &[u8]) {
        if crate::log::debug_enabled() {
            let text = match &p {
                Performative::Transfer(t) => format!(
                    "transfer handle {} id {:?} more {}",
                    t.handle.0, t.delivery_id, t.more
                ),
                other => format!("{other:?}"),
            };
            crate::log::debug(&format!("{} ch{ch} <- {text}", self.label));
        }
        match p {
            Performative::Open(open) => {
                if let Some(max) = usize::try_from(open.max_frame_size.0)
                    .ok()
                    .filter(|m| *m >= 512)
                {
                    self.peer_max_frame = max.min(frame::MAX_FRAME);
                }
                self.peer_idle = open
                    .idle_time_out
                    .filter(|ms| *ms > 0)
                    .map(|ms| Duration::from_millis(u64::from(ms)));
                let reply = Open {
                    container_id: "strata-servicebus-emulator".into(),
                    hostname: None,
                    max_frame_size: MaxFrameSize(frame::MAX_FRAME as u32),
                    channel_max: ChannelMax(open.channel_max.0.min(4095)),
                    idle_time_out: Some(120_000),
                    outgoing_locales: None,
                    incoming_locales: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                self.send(0, Performative::Open(reply));
            }
            Performative::Begin(begin) => {
                let session = Session {
                    next_outgoing_id: 1,
                    remote_incoming_window: begin.incoming_window,
                    remote_next_incoming_id: 1,
                    next_incoming_id: begin.next_outgoing_id,
                    ..Default::default()
                };
                self.sessions.insert(ch, session);
                self.send(
                    ch,
                    Performative::Begin(Begin {
                        remote_channel: Some(ch),
                        next_outgoing_id: 1,
                        incoming_window: WINDOW,
                        outgoing_window: u32::MAX,
                        handle_max: Handle(u32::MAX),
                        offered_capabilities: None,
                        desired_capabilities: None,
                        properties: None,
                    }),
                );
            }
            Performative::Attach(attach) => self.on_attach(ch, attach),
            Performative::Flow(flow) => self.on_flow(ch, flow),
            Performative::Transfer(t) => self.on_transfer(ch, t, payload),
            Performative::Disposition(d) => self.on_disposition(ch, d),
            Performative::Detach(d) => {
                let handle = d.handle.0;
                let refused = self
                    .sessions
                    .get_mut(&ch)
                    .and_then(|s| s.refused.remove(&handle));
                let answer = self
                    .sessions
                    .get_mut(&ch)
                    .is_some_and(|s| s.detached.remove(&handle));
                if let Some(link) = self
                    .sessions
                    .get_mut(&ch)
                    .and_then(|s| s.links.remove(&handle))
                {
                    self.release_link(&link);
                }
                self.flush_accepted();
                if !answer {
                    self.send(
                        ch,
                        Performative::Detach(Detach {
                            handle: d.handle,
                            closed: d.closed,
                            error: refused.map(|(_, e)| e),
                        }),
                    );
                }
            }
            Performative::End(_) => {
                self.flush_accepted();
                if let Some(s) = self.sessions.remove(&ch) {
                    for link in s.links.values() {
                        self.release_link(link);
                    }
                }
                self.send(ch, Performative::End(End { error: None }));
            }
            Performative::Close(_) => {
                self.flush_accepted();
                self.close_with(None);
            }
        }
    }

    fn release_link(&self, link: &Link) {
        if let Role2::Out {
            node:
                Outbound::Entity {
                    entity,
                    session: Some(_),
                    ..
                },
            ..
        } = &link.role
        {
            entity.release_sessions(link.id);
        }
    }

    fn release_all(&mut self) {
        for s in self.sessions.values() {
            for link in s.links.values() {
                self.release_link(link);
            }
        }
    }

    fn authorized(&self, path: &str) -> bool {
        let now = now_ms() / 1000;
        self.grants.iter().any(|g| sas::covers(g, path, now))
    }

    /// Answers an attach and detaches at once with an error (the SDKs need the attach first).
    fn refuse(&mut self, ch: u16, attach: &Attach, e: definitions::Error) {
        crate::log::debug(&format!(
            "{}: refused link {}: {:?}",
            self.label, attach.name, e.description
        ));
        // The terminus is echoed (the Python SDK treats a missing one as a broken link), but
        // without a session filter, so no SDK mistakes the refusal for a granted session.
        let mut reply = self.reply_attach(attach);
        if let Some(source) = reply.source.as_mut()
            && let Some(filter) = source.filter.as_mut()
        {
            filter.swap_remove(&Symbol::from(SESSION_FILTER));
        }
        self.send(ch, Performative::Attach(reply));
        self.send(
            ch,
            Performative::Detach(Detach {
                handle: attach.handle.clone(),
                closed: true,
                error: Some(e),
            }),
        );
        if let Some(s) = self.sessions.get_mut(&ch) {
            s.detached.insert(attach.handle.0);
        }
    }

    /// Refuses a session receiver: the attach is answered at once, the detach with the
    /// error waits for the client to detach first (or 100 ms). The Node SDK closes such a
    /// link itself and reports `SessionCannotBeLocked`; a detach that races its close leaves
    /// its close waiting forever.
    fn refuse_later(&mut self, ch: u16, attach: &Attach, e: definitions::Error) {
        let mut reply = self.reply_attach(attach);
        if let Some(source) = reply.source.as_mut()
            && let Some(filter) = source.filter.as_mut()
        {
            filter.swap_remove(&Symbol::from(SESSION_FILTER));
        }
        self.send(ch, Performative::Attach(reply));
        if let Some(s) = self.sessions.get_mut(&ch) {
            s.refused.insert(
                attach.handle.0,
                (Instant::now() + Duration::from_millis(100), e),
            );
        }
    }

    fn reply_attach(&self, attach: &Attach) -> Attach {
        let (role, sender) = match attach.role {
            Role::Sender => (Role::Receiver, false),
            Role::Receiver => (Role::Sender, true),
        };
        Attach {
            name: attach.name.clone(),
            handle: attach.handle.clone(),
            role,
            snd_settle_mode: attach.snd_settle_mode.clone(),
            rcv_settle_mode: attach.rcv_settle_mode.clone(),
            source: attach.source.clone(),
            target: attach.target.clone(),
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: sender.then_some(0),
            max_message_size: Some(self.broker.max_message_size),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        }
    }

    fn on_attach(&mut self, ch: u16, attach: Attach) {
        if !self.sessions.contains_key(&ch) {
            self.close_with(Some(error(
                ErrorCondition::AmqpError(AmqpError::IllegalState),
                "attach on an unknown session",
            )));
            return;
        }
        match attach.role {
            Role::Sender => self.attach_sender(ch, attach),
            Role::Receiver => self.attach_receiver(ch, attach, None),
        }
    }

    /// The client sends on this link: to an entity, `$cbs` or `$management`.
    fn attach_sender(&mut self, ch: u16, attach: Attach) {
        let address = match attach.target.as_deref() {
            Some(TargetArchetype::Target(t)) => t.address.clone().unwrap_or_default(),
            _ => String::new(),
        };
        let path = entity_path(&address).to_owned();
        let node = if path.eq_ignore_ascii_case("$cbs") {
            Inbound::Cbs
        } else if let Some(entity) = strip_management(&path) {
            if !self.authorized(entity) {
                return self.refuse(ch, &attach, unauthorized(entity));
            }
            Inbound::Management(entity.to_owned())
        } else {
            match self.broker.resolve(&path) {
                None => return self.refuse(ch, &attach, not_found(&path)),
                Some(_) if !self.authorized(&path) => {
                    return self.refuse(ch, &attach, unauthorized(&path));
                }
                Some(Node::Entity(e))
                    if e.dead_letter.is_none()
                        || path.to_ascii_lowercase().contains("/subscriptions/") =>
                {
                    return self.refuse(
                        ch,
                        &attach,
                        error(
                            ErrorCondition::AmqpError(AmqpError::NotAllowed),
                            format!("'{path}' cannot be sent to"),
                        ),
                    );
                }
                Some(_) => Inbound::Entity(path),
            }
        };
        let mut reply = self.reply_attach(&attach);
        reply.rcv_settle_mode = ReceiverSettleMode::First;
        self.send(ch, Performative::Attach(reply));
        let id = self.broker.link_id();
        let handle = attach.handle.0;
        let initial = attach.initial_delivery_count.unwrap_or(0);
        if let Some(s) = self.sessions.get_mut(&ch) {
            s.links.insert(
                handle,
                Link {
                    id,
                    name: attach.name,
                    role: Role2::In {
                        node,
                        credit: SEND_CREDIT,
                        delivery_count: initial,
                        partial: None,
                    },
                },
            );
        }
        // Credit in the same write as the attach: the Node SDK checks right after.
        self.link_flow(ch, handle, initial, SEND_CREDIT, false);
    }

    /// The client receives on this link: from an entity (maybe one session of it), or replies.
    fn attach_receiver(&mut self, ch: u16, attach: Attach, deadline: Option<Instant>) {
        let source = attach.source.clone().unwrap_or_default();
        let address = source.address.clone().unwrap_or_default();
        let path = entity_path(&address).to_owned();
        let reply_to = match attach.target.as_deref() {
            Some(TargetArchetype::Target(t)) => t.address.clone(),
            _ => None,
        };
        let id = self.broker.link_id();
        let handle = attach.handle.0;
        let mut reply = self.reply_attach(&attach);
        let node = if path.eq_ignore_ascii_case("$cbs") || strip_management(&path).is_some() {
            Outbound::Replies {
                node: path.to_ascii_lowercase(),
                reply_to,
                queue: VecDeque::new(),
            }
        } else {
            let entity = match self.broker.resolve(&path) {
                None => return self.refuse(ch, &attach, not_found(&path)),
                Some(_) if !self.authorized(&path) => {
                    return self.refuse(ch, &attach, unauthorized(&path));
                }
                Some(Node::Topic(_)) => {
                    return self.refuse(
                        ch,
                        &attach,
                        error(
                            ErrorCondition::AmqpError(AmqpError::NotAllowed),
                            format!(
                                "a topic ('{path}') cannot be received from; use a subscription"
                            ),
                        ),
                    );
                }
                Some(Node::Entity(e)) => e,
            };
            let filter = source
                .filter
                .as_ref()
                .and_then(|f| f.get(&Symbol::from(SESSION_FILTER)).cloned());
            let session = match (&filter, entity.props().requires_session) {
                (None, false) => None,
                (None, true) => {
                    return self.refuse(
                        ch,
                        &attach,
                        error(
                            ErrorCondition::AmqpError(AmqpError::NotAllowed),
                            format!("'{path}' requires sessions: a receiver must accept a session"),
                        ),
                    );
                }
                (Some(_), false) => {
                    return self.refuse(
                        ch,
                        &attach,
                        error(
                            ErrorCondition::AmqpError(AmqpError::NotAllowed),
                            format!("'{path}' does not require sessions: a session receiver cannot be created on it"),
                        ),
                    );
                }
                (Some(wanted), true) => {
                    let wanted = match wanted {
                        Value::String(s) => Some(s.clone()),
                        Value::Symbol(s) => Some(s.0.clone()),
                        _ => None,
                    };
                    match entity.lock_session(id, wanted.as_deref()) {
                        Ok((sid, until)) => {
                            let mut src = source.clone();
                            let mut filters = src.filter.take().unwrap_or_default();
                            filters
                                .insert(Symbol::from(SESSION_FILTER), Value::String(sid.clone()));
                            src.filter = Some(filters);
                            reply.source = Some(src);
                            let mut props = Fields::new();
                            props.insert(
                                Symbol::from(LOCKED_UNTIL_UTC),
                                Value::Long(until * 10_000 + TICKS_AT_EPOCH),
                            );
                            reply.properties = Some(props);
                            Some(sid)
                        }
                        Err(SessionError::Locked) => {
                            return self.refuse_later(
                                ch,
                                &attach,
                                error(
                                    custom("com.microsoft:session-cannot-be-locked"),
                                    format!("The requested session '{}' cannot be accepted. It may be locked by another receiver.", wanted.unwrap_or_default()),
                                ),
                            );
                        }
                        Err(SessionError::NoneAvailable) => {
                            let deadline =
                                deadline.unwrap_or_else(|| Instant::now() + session_wait(&attach));
                            if Instant::now() >= deadline {
                                return self.refuse(
                                    ch,
                                    &attach,
                                    error(
                                        custom("com.microsoft:timeout"),
                                        "No session available to accept within the timeout.",
                                    ),
                                );
                            }
                            entity.wait(&self.wake);
                            if let Some(s) = self.sessions.get_mut(&ch) {
                                s.pending.push(PendingAttach { attach, deadline });
                            }
                            return;
                        }
                    }
                }
            };
            let peek_lock = attach.snd_settle_mode != SenderSettleMode::Settled;
            Outbound::Entity {
                entity,
                peek_lock,
                session,
            }
        };
        self.send(ch, Performative::Attach(reply));
        if let Some(s) = self.sessions.get_mut(&ch) {
            s.links.insert(
                handle,
                Link {
                    id,
                    name: attach.name,
                    role: Role2::Out {
                        node,
                        credit: 0,
                        delivery_count: 0,
                        drain: false,
                    },
                },
            );
        }
    }

    fn link_flow(&mut self, ch: u16, handle: u32, delivery_count: u32, credit: u32, drain: bool) {
        let Some(s) = self.sessions.get(&ch) else {
            return;
        };
        let flow = Flow {
            next_incoming_id: Some(s.next_incoming_id),
            incoming_window: WINDOW.saturating_sub(s.incoming_used),
            next_outgoing_id: s.next_outgoing_id,
            outgoing_window: u32::MAX,
            handle: Some(Handle(handle)),
            delivery_count: Some(delivery_count),
            link_credit: Some(credit),
            available: None,
            drain,
            echo: false,
            properties: None,
        };
        self.send(ch, Performative::Flow(flow));
    }

    fn session_flow(&mut self, ch: u16) {
        let Some(s) = self.sessions.get(&ch) else {
            return;
        };
        let flow = Flow {
            next_incoming_id: Some(s.next_incoming_id),
            incoming_window: WINDOW.saturating_sub(s.incoming_used),
            next_outgoing_id: s.next_outgoing_id,
            outgoing_window: u32::MAX,
            handle: None,
            delivery_count: None,
            link_credit: None,
            available: None,
            drain: false,
            echo: false,
            properties: None,
        };
        self.send(ch, Performative::Flow(flow));
    }

    fn on_flow(&mut self, ch: u16, flow: Flow) {
        let Some(s) = self.sessions.get_mut(&ch) else {
            return;
        };
        s.remote_next_incoming_id = flow.next_incoming_id.unwrap_or(1);
        s.remote_incoming_window = flow.incoming_window;
        let mut echo_link = None;
        if let Some(handle) = flow.handle.as_ref().map(|h| h.0)
            && let Some(Link {
                role:
                    Role2::Out {
                        credit,
                        delivery_count,
                        drain,
                        ..
                    },
                ..
            }) = s.links.get_mut(&handle)
        {
            let theirs = flow.delivery_count.unwrap_or(*delivery_count);
            let given = flow.link_credit.unwrap_or(0);
            *credit = theirs.wrapping_add(given).wrapping_sub(*delivery_count);
            if *credit > given {
                *credit = given; // a stale delivery count must not inflate credit
            }
            *drain = flow.drain;
            if flow.echo {
                echo_link = Some((handle, *delivery_count, *credit));
            }
        }
        if let Some((handle, dc, credit)) = echo_link {
            self.link_flow(ch, handle, dc, credit, false);
        } else if flow.echo {
            self.session_flow(ch);
        }
    }

    fn on_transfer(&mut self, ch: u16, t: Transfer, payload: &[u8]) {
        let max = self.broker.max_message_size as usize;
        let Some(s) = self.sessions.get_mut(&ch) else {
            return;
        };
        s.next_incoming_id = s.next_incoming_id.wrapping_add(1);
        s.incoming_used += 1;
        let refresh_window = s.incoming_used >= WINDOW / 2;
        if refresh_window {
            s.incoming_used = 0;
        }
        let handle = t.handle.0;
        let Some(link) = s.links.get_mut(&handle) else {
            self.close_with(Some(error(
                ErrorCondition::SessionError(definitions::SessionError::UnattachedHandle),
                "transfer on an unattached link",
            )));
            return;
        };
        let Role2::In {
            credit,
            partial,
            delivery_count,
            ..
        } = &mut link.role
        else {
            return;
        };
        let p = partial.get_or_insert_with(|| Partial {
            delivery_id: t.delivery_id.unwrap_or(0),
            settled: t.settled.unwrap_or(false),
            format: t.message_format.unwrap_or(0),
            bytes: Vec::new(),
            too_big: false,
        });
        if p.bytes.len() + payload.len() > max + 64 * 1024 {
            p.too_big = true;
        } else {
            p.bytes.extend_from_slice(payload);
        }
        if t.more {
            if refresh_window {
                self.session_flow(ch);
            }
            return;
        }
        let Some(done) = partial.take() else { return };
        *credit = credit.saturating_sub(1);
        *delivery_count = delivery_count.wrapping_add(1);
        let top_up = (*credit < SEND_CREDIT / 2).then(|| {
            *credit = SEND_CREDIT;
            *delivery_count
        });
        let node = match &link.role {
            Role2::In {
                node: Inbound::Entity(p),
                ..
            } => Inbound::Entity(p.clone()),
            Role2::In {
                node: Inbound::Cbs, ..
            } => Inbound::Cbs,
            Role2::In {
                node: Inbound::Management(p),
                ..
            } => Inbound::Management(p.clone()),
            Role2::Out { .. } => return,
        };
        if t.aborted {
            return;
        }
        let outcome = self.deliver(ch, &node, &done, max);
        if !done.settled {
            match outcome {
                None => self.accept(ch, done.delivery_id),
                Some(e) => {
                    self.flush_accepted();
                    let state = DeliveryState::Rejected(Rejected { error: Some(e) });
                    self.send(
                        ch,
                        Performative::Disposition(Disposition {
                            role: Role::Receiver,
                            first: done.delivery_id,
                            last: None,
                            settled: true,
                            state: Some(state),
                            batchable: false,
                        }),
                    );
                }
            }
        }
        if let Some(count) = top_up {
            self.link_flow(ch, handle, count, SEND_CREDIT, false);
        }
        if refresh_window {
            self.session_flow(ch);
        }
    }

    /// Acts on a complete incoming delivery; an error rejects it.
    fn deliver(
        &mut self,
        ch: u16,
        node: &Inbound,
        d: &Partial,
        max: usize,
    ) -> Option<definitions::Error> {
        if d.too_big || d.bytes.len() > max {
            return Some(error(
                ErrorCondition::LinkError(LinkError::MessageSizeExceeded),
                format!("The received message exceeds the maximum message size of {max} bytes."),
            ));
        }
        match node {
            Inbound::Entity(path) => {
                let messages = match message::parse_transfer(d.format, &d.bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        return Some(error(
                            ErrorCondition::AmqpError(AmqpError::DecodeError),
                            e.to_string(),
                        ));
                    }
                };
                match self.broker.send(path, messages) {
                    Ok(_) => None,
                    Err(SendError::NotFound(p)) => Some(not_found(&p)),
                    Err(SendError::NotAllowed(p)) => Some(error(
                        ErrorCondition::AmqpError(AmqpError::NotAllowed),
                        format!("'{p}' cannot be sent to"),
                    )),
                    Err(SendError::SessionRequired(p)) => Some(error(
                        ErrorCondition::AmqpError(AmqpError::NotAllowed),
                        format!(
                            "The SessionId was not set on a message, and it cannot be sent to '{p}': an entity that requires sessions only takes messages with a SessionId."
                        ),
                    )),
                }
            }
            Inbound::Cbs => {
                let Some(req) = management::parse(&d.bytes) else {
                    return Some(error(
                        ErrorCondition::AmqpError(AmqpError::DecodeError),
                        "undecodable CBS request",
                    ));
                };
                let (mut response, grant) = management::put_token(&self.broker, &req);
                if let Some(g) = grant {
                    // As the service does: authorize first, then say whether the entity exists.
                    let target = strip_management(&g.path).unwrap_or(&g.path).to_owned();
                    if !target.is_empty() && self.broker.resolve(&target).is_none() {
                        let audience = match &req.properties.get("name") {
                            Some(fe2o3_amqp_types::primitives::SimpleValue::String(s)) => s.clone(),
                            _ => target.clone(),
                        };
                        response = management::response(
                            &req,
                            Dialect::Cbs,
                            404,
                            &format!("The messaging entity '{audience}' could not be found."),
                            None,
                            Value::Null,
                        );
                    } else {
                        self.grants.push(g);
                    }
                }
                self.reply(ch, "$cbs", req.reply_to.as_deref(), response);
                None
            }
            Inbound::Management(path) => {
                let Some(req) = management::parse(&d.bytes) else {
                    return Some(error(
                        ErrorCondition::AmqpError(AmqpError::DecodeError),
                        "undecodable management request",
                    ));
                };
                let response = management::handle(&self.broker, path, &req);
                let node = format!("{}/$management", path.to_ascii_lowercase());
                self.reply(ch, &node, req.reply_to.as_deref(), response);
                None
            }
        }
    }

    /// Queues a response on the reply link for `node`: the one whose target (or name) is
    /// `reply_to`, else the one attached to that node on the same session.
    fn reply(&mut self, ch: u16, node: &str, reply_to: Option<&str>, response: Vec<u8>) {
        let Some(s) = self.sessions.get_mut(&ch) else {
            return;
        };
        let mut chosen = None;
        for (h, link) in &s.links {
            if let Role2::Out {
                node:
                    Outbound::Replies {
                        node: n,
                        reply_to: target,
                        ..
                    },
                ..
            } = &link.role
            {
                let named =
                    reply_to.is_some_and(|r| target.as_deref() == Some(r) || link.name == r);
                if named {
                    chosen = Some(*h);
                    break;
                }
                if n == node && chosen.is_none() {
                    chosen = Some(*h);
                }
            }
        }
        if let Some(h) = chosen {
            if let Some(Link {
                role:
                    Role2::Out {
                        node: Outbound::Replies { queue, .. },
                        ..
                    },
                ..
            }) = s.links.get_mut(&h)
            {
                queue.push_back(response);
            }
        } else {
            crate::log::warn(&format!(
                "{}: no reply link for {node}; response dropped",
                self.label
            ));
        }
    }

    fn accept(&mut self, ch: u16, id: u32) {
        let Some(s) = self.sessions.get_mut(&ch) else {
            return;
        };
        match s.accepted {
            Some((first, last)) if last.wrapping_add(1) == id => s.accepted = Some((first, id)),
            Some(_) => {
                self.flush_accepted();
                if let Some(s) = self.sessions.get_mut(&ch) {
                    s.accepted = Some((id, id));
                }
            }
            None => s.accepted = Some((id, id)),
        }
    }

    fn flush_accepted(&mut self) {
        let ranges: Vec<(u16, u32, u32)> = self
            .sessions
            .iter_mut()
            .filter_map(|(ch, s)| s.accepted.take().map(|(a, b)| (*ch, a, b)))
            .collect();
        for (ch, first, last) in ranges {
            self.send(
                ch,
                Performative::Disposition(Disposition {
                    role: Role::Receiver,
                    first,
                    last: (last != first).then_some(last),
                    settled: true,
                    state: Some(DeliveryState::Accepted(Accepted {})),
                    batchable: false,
                }),
            );
        }
    }

    fn on_disposition(&mut self, ch: u16, d: Disposition) {
        if d.role != Role::Receiver {
            return; // the client settling our dispositions of its sends: nothing to do
        }
        let Some(s) = self.sessions.get_mut(&ch) else {
            return;
        };
        let last = d.last.unwrap_or(d.first);
        let ids: Vec<u32> = s
            .unsettled
            .range(d.first..=last)
            .map(|(id, _)| *id)
            .collect();
        let mut replies: Vec<(u32, DeliveryState)> = Vec::new();
        for id in ids {
            let Some(u) = s.unsettled.remove(&id) else {
                continue;
            };
            let (how, echo) = match &d.state {
                // Settled without an outcome: the message goes back untouched.
                None => (None, DeliveryState::Released(Released {})),
                Some(DeliveryState::Accepted(a)) => {
                    (Some(Settle::Complete), DeliveryState::Accepted(a.clone()))
                }
                Some(DeliveryState::Released(r)) => (None, DeliveryState::Released(r.clone())),
                Some(DeliveryState::Modified(m)) => {
                    let annotations = annotations_of(m);
                    let how = if m.undeliverable_here == Some(true) {
                        Settle::Defer(annotations)
                    } else {
                        Settle::Abandon(annotations)
                    };
                    (Some(how), DeliveryState::Modified(m.clone()))
                }
                Some(DeliveryState::Rejected(r)) => {
                    let info = r.error.as_ref().and_then(|e| e.info.as_deref());
                    let text = |k: &str| {
                        info.and_then(|i| i.get(&Symbol::from(k)))
                            .and_then(|v| match v {
                                Value::String(s) => Some(s.clone()),
                                _ => None,
                            })
                    };
                    // Any other info entries are properties to modify, as with abandon.
                    let others = info
                        .map(|i| {
                            i.iter()
                                .filter(|(k, v)| {
                                    k.0 != message::dead_letter::REASON
                                        && k.0 != message::dead_letter::DESCRIPTION
                                        && !matches!(v, Value::Null)
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let how = Settle::DeadLetter {
                        reason: text(message::dead_letter::REASON),
                        description: text(message::dead_letter::DESCRIPTION),
                        annotations: others,
                    };
                    (Some(how), DeliveryState::Rejected(Rejected { error: None }))
                }
                Some(_) => (None, DeliveryState::Released(Released {})),
            };
            let result = match how {
                Some(how) => u.entity.settle(&u.token, how),
                None => u.entity.release(&u.token),
            };
            let echo = match result {
                Ok(()) => echo,
                Err(e) => DeliveryState::Rejected(Rejected {
                    error: Some(lock_lost(e)),
                }),
            };
            replies.push((id, echo));
        }
        if d.settled {
            return;
        }
        self.flush_accepted();
        // Answer in ranges of the same outcome.
        let mut i = 0;
        while i < replies.len() {
            let (first, ref state) = replies[i];
            let mut j = i;
            while j + 1 < replies.len()
                && replies[j + 1].0 == replies[j].0.wrapping_add(1)
                && same_outcome(&replies[j + 1].1, state)
            {
                j += 1;
            }
            let last = replies[j].0;
            self.send(
                ch,
                Performative::Disposition(Disposition {
                    role: Role::Sender,
                    first,
                    last: (last != first).then_some(last),
                    settled: true,
                    state: Some(state.clone()),
                    batchable: false,
                }),
            );
            i = j + 1;
        }
    }

    /// Hands messages to every receiving link with credit, and replies to reply links.
    fn pump(&mut self) {
        let max_frame = self.peer_max_frame;
        let wake = self.wake.clone();
        let channels: Vec<u16> = self.sessions.keys().copied().collect();
        for ch in channels {
            let handles: Vec<u32> = match self.sessions.get(&ch) {
                Some(s) => s.links.keys().copied().collect(),
                None => continue,
            };
            for handle in handles {
                let Some(s) = self.sessions.get_mut(&ch) else {
                    break;
                };
                let window = s.window_left();
                let Some(link) = s.links.get_mut(&handle) else {
                    continue;
                };
                let link_id = link.id;
                let Role2::Out {
                    node,
                    credit,
                    delivery_count,
                    drain,
                } = &mut link.role
                else {
                    continue;
                };
                let mut transfers: Vec<Outgoing> = Vec::new();
                match node {
                    Outbound::Replies { queue, .. } => {
                        while *credit > 0 && (transfers.len() as u32) < window {
                            let Some(r) = queue.pop_front() else { break };
                            *credit -= 1;
                            *delivery_count = delivery_count.wrapping_add(1);
                            let mut tag = [0u8; 16];
                            fastrand::fill(&mut tag);
                            transfers.push((r, tag, true, None));
                        }
                    }
                    Outbound::Entity {
                        entity,
                        peek_lock,
                        session,
                    } => {
                        let n = (*credit).min(window).min(PASS);
                        if n > 0 {
                            let held = session
                                .as_deref()
                                .is_none_or(|sid| entity.holds_session(link_id, sid));
                            let got = if held {
                                entity.take(session.as_deref(), n as usize, *peek_lock)
                            } else {
                                Vec::new()
                            };
                            if (got.len() as u32) < n {
                                entity.wait(&wake);
                            }
                            for d in got {
                                *credit -= 1;
                                *delivery_count = delivery_count.wrapping_add(1);
                                let unsettled = peek_lock.then(|| Unsettled {
                                    entity: entity.clone(),
                                    token: d.tag,
                                });
                                transfers.push((d.payload, tag_of(&d.tag), !*peek_lock, unsettled));
                            }
                        }
                    }
                }
                // Drain: hand out what there is (done above), then use up the rest of the credit.
                let drained = (*drain).then(|| {
                    *delivery_count = delivery_count.wrapping_add(*credit);
                    *credit = 0;
                    *drain = false;
                    *delivery_count
                });
                for (payload, tag, settled, unsettled) in transfers {
                    let id = s.next_delivery_id;
                    s.next_delivery_id = id.wrapping_add(1);
                    if let Some(u) = unsettled {
                        s.unsettled.insert(id, u);
                    }
                    let frames = write_transfer(
                        &mut self.out,
                        ch,
                        handle,
                        id,
                        &tag,
                        settled,
                        &payload,
                        max_frame,
                    );
                    s.next_outgoing_id = s.next_outgoing_id.wrapping_add(frames);
                }
                if let Some(dc) = drained {
                    self.link_flow(ch, handle, dc, 0, true);
                }
            }
        }
    }
}

/// Writes a transfer, split into frames no larger than the peer allows; returns the frame count.
#[allow(clippy::too_many_arguments)]
fn write_transfer(
    out: &mut Vec<u8>,
    ch: u16,
    handle: u32,
    id: u32,
    tag: &[u8; 16],
    settled: bool,
    payload: &[u8],
    max_frame: usize,
) -> u32 {
    let transfer = |more: bool| Transfer {
        handle: Handle(handle),
        delivery_id: Some(id),
        delivery_tag: Some(serde_bytes::ByteBuf::from(tag.to_vec())),
        message_format: Some(0),
        settled: Some(settled),
        more,
        rcv_settle_mode: None,
        state: None,
        resume: false,
        aborted: false,
        batchable: false,
    };
    let head = frame::encode(&Performative::Transfer(transfer(true)));
    let room = max_frame.saturating_sub(8 + head.len()).max(512);
    let mut frames = 0;
    let mut rest = payload;
    loop {
        let more = rest.len() > room;
        let (chunk, next) = rest.split_at(rest.len().min(room));
        let encoded = frame::encode(&Performative::Transfer(transfer(more)));
        frame::write(out, TYPE_AMQP, ch, &encoded, chunk);
        frames += 1;
        rest = next;
        if !more {
            return frames;
        }
    }
}

fn strip_management(path: &str) -> Option<&str> {
    let lower = path.to_ascii_lowercase();
    lower
        .ends_with("/$management")
        .then(|| &path[..path.len() - "/$management".len()])
}

fn unauthorized(path: &str) -> definitions::Error {
    error(
        ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess),
        format!("Unauthorized access to '{path}': put a token for it on $cbs first."),
    )
}

fn session_wait(attach: &Attach) -> Duration {
    let ms = attach
        .properties
        .as_ref()
        .and_then(|p| p.get(&Symbol::from(TIMEOUT_PROPERTY)))
        .and_then(|v| match v {
            Value::Uint(n) => Some(u64::from(*n)),
            Value::Ulong(n) => Some(*n),
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::Long(n) => u64::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(60_000);
    Duration::from_millis(ms.min(600_000))
}

fn annotations_of(m: &Modified) -> Vec<(Symbol, Value)> {
    m.message_annotations
        .as_ref()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn lock_lost(e: LockError) -> definitions::Error {
    match e {
        LockError::MessageLockLost => error(
            custom("com.microsoft:message-lock-lost"),
            "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
        ),
        LockError::SessionLockLost => error(
            custom("com.microsoft:session-lock-lost"),
            "The session lock has expired on the MessageSession. Accept a new MessageSession.",
        ),
    }
}

fn same_outcome(a: &DeliveryState, b: &DeliveryState) -> bool {
    match (a, b) {
        (DeliveryState::Accepted(_), DeliveryState::Accepted(_)) => true,
        (DeliveryState::Released(_), DeliveryState::Released(_)) => true,
        (DeliveryState::Rejected(x), DeliveryState::Rejected(y)) => {
            x.error.is_none() && y.error.is_none()
        }
        _ => false,
    }
}
