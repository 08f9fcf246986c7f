//! The management REST API (ATOM over HTTP): create, read, list and delete entities.
//!
//! This is the API Microsoft's SDK administration clients (`ServiceBusAdministrationClient`)
//! call: `PUT`/`GET`/`DELETE /{queue-or-topic}`, `/{topic}/Subscriptions/{subscription}`,
//! and the lists `/$Resources/Queues`, `/$Resources/Topics` and `/{topic}/Subscriptions`.
//! Requests and responses are ATOM entries whose `<content>` holds a `QueueDescription`,
//! `TopicDescription` or `SubscriptionDescription`. A small HTTP/1.1 server runs on the
//! connection (keep-alive, `Content-Length` bodies); the XML is written with `format!`
//! and read with a tiny tag scanner.

use crate::broker::{Broker, Topic, check_name};
use crate::config::{EntityProperties, EntityPropertiesConfig, format_duration};
use crate::message::now_ms;
use crate::store::Entity;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a keep-alive connection may sit idle (or a request take to arrive).
const IDLE: Duration = Duration::from_secs(120);
/// The service's "never" (`TimeSpan.MaxValue`).
const NEVER: &str = "P10675199DT2H48M5.4775807S";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const SB_NS: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
const SB_2011_NS: &str = "http://schemas.microsoft.com/netservices/2011/06/servicebus";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const ENTRY_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";
const FEED_TYPE: &str = "application/atom+xml;type=feed;charset=utf-8";
const ERROR_TYPE: &str = "application/xml;charset=utf-8";

/// Serves one HTTP connection whose first bytes (`head`) were already read.
pub async fn serve(mut stream: TcpStream, head: [u8; 8], broker: Arc<Broker>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if head[0] == 0x16 {
        // The SDK admin clients address https://; this port speaks plain HTTP.
        crate::log::warn(&format!(
            "{peer}: a TLS handshake arrived on the plain port; management clients must use http://"
        ));
        return;
    }
    let mut buf = head.to_vec();
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(response) => {
                let _ = write_response(&mut stream, &response, false).await;
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let response = handle(&broker, &request);
        crate::log::debug(&format!(
            "{peer}: {} {} -> {}",
            request.method, request.target, response.status
        ));
        if write_response(&mut stream, &response, keep_alive)
            .await
            .is_err()
            || !keep_alive
        {
            return;
        }
    }
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    method: String,
    target: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Response {
    fn xml(status: u16, content_type: &'static str, body: String) -> Self {
        Response {
            status,
            content_type,
            body,
        }
    }

    /// The service's error document: `<Error><Code>404</Code><Detail>…</Detail></Error>`.
    fn error(status: u16, detail: &str) -> Self {
        Response {
            status,
            content_type: ERROR_TYPE,
            body: format!(
                "<Error><Code>{status}</Code><Detail>{}</Detail></Error>",
                escape(detail)
            ),
        }
    }

    fn empty(status: u16) -> Self {
        Response {
            status,
            content_type: ERROR_TYPE,
            body: String::new(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

async fn write_response(
    stream: &mut TcpStream,
    r: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nServer: strata-servicebus-emulator\r\n",
        r.status,
        reason(r.status),
        r.body.len()
    );
    if !r.body.is_empty() {
        out.push_str(&format!("Content-Type: {}\r\n", r.content_type));
    }
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&r.body);
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}

/// What a complete request head says.
struct Head {
    len: usize,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    http10: bool,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Some(Head {
            len,
            method: req.method.unwrap_or("").to_owned(),
            target: req.path.unwrap_or("/").to_owned(),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).trim().to_owned(),
                    )
                })
                .collect(),
            http10: req.version == Some(0),
        })),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(Response::error(
            400,
            &format!("malformed HTTP request: {e}"),
        )),
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<Request>, Response> {
    let head = loop {
        if !buf.is_empty() {
            if let Some(head) = parse_head(buf)? {
                break head;
            }
            if buf.len() > MAX_HEAD {
                return Err(Response::error(431, "the request head is too large"));
            }
        }
        if !read_more(stream, buf).await {
            return Ok(None);
        }
    };
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if header("transfer-encoding").is_some_and(|v| !v.eq_ignore_ascii_case("identity")) {
        return Err(Response::error(
            411,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    let length = match header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Response::error(400, "Content-Length is not a number"))?,
    };
    if length > MAX_BODY {
        return Err(Response::error(413, "the request body is too large"));
    }
    if length > 0
        && buf.len() < head.len + length
        && header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return Ok(None);
    }
    let connection = header("connection")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let keep_alive = if head.http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    while buf.len() < head.len + length {
        if !read_more(stream, buf).await {
            return Ok(None);
        }
    }
    let body = buf[head.len..head.len + length].to_vec();
    buf.drain(..head.len + length);
    Ok(Some(Request {
        method: head.method,
        target: head.target,
        headers: head.headers,
        body,
        keep_alive,
    }))
}

/// Reads more bytes into `buf`; false on end of stream, error or idle timeout.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Routing

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `/{name}`: a queue or topic.
    Entity(String),
    /// `/{topic}/Subscriptions/{name}`.
    Subscription(String, String),
    /// `/$Resources/Queues`.
    ListQueues,
    /// `/$Resources/Topics`.
    ListTopics,
    /// `/{topic}/Subscriptions`.
    ListSubscriptions(String),
    /// `/$namespaceinfo`.
    Namespace,
}

/// Splits a request target into its decoded path segments and its decoded query pairs.
fn split_target(target: &str) -> (Vec<String>, Vec<(String, String)>) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    // An absolute-form target (`http://host/q1`) names the same path.
    let target = match target.find("://") {
        Some(i) => target[i + 3..]
            .find('/')
            .map_or("/", |j| &target[i + 3 + j..]),
        None => target,
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let pairs = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect();
    (segments, pairs)
}

fn route(segments: &[String]) -> Option<Route> {
    let is = |s: &String, word: &str| s.eq_ignore_ascii_case(word);
    match segments {
        [r, q] if is(r, "$Resources") && is(q, "Queues") => Some(Route::ListQueues),
        [r, t] if is(r, "$Resources") && is(t, "Topics") => Some(Route::ListTopics),
        [n] if is(n, "$namespaceinfo") => Some(Route::Namespace),
        [name] => Some(Route::Entity(name.clone())),
        [topic, s] if is(s, "Subscriptions") => Some(Route::ListSubscriptions(topic.clone())),
        [topic, s, name] if is(s, "Subscriptions") => {
            Some(Route::Subscription(topic.clone(), name.clone()))
        }
        _ => None,
    }
}

/// Where entries' `<id>` and links point: `http://host`.
fn base_url(request: &Request) -> String {
    format!("http://{}", request.header("host").unwrap_or("localhost"))
}

fn handle(broker: &Broker, request: &Request) -> Response {
    let now_secs = now_ms() / 1000;
    match request.header("authorization") {
        None => {
            return Response::error(
                401,
                "the request has no Authorization header (a SharedAccessSignature or a Bearer \
                 token)",
            );
        }
        Some(header) => {
            let checked = match header.strip_prefix("Bearer ") {
                Some(token) => crate::jwt::verify(token, broker.entra.as_ref(), now_secs).map(drop),
                None => crate::sas::verify(header, &broker.policies, now_secs).map(drop),
            };
            if let Err(refused) = checked {
                crate::log::debug(&format!("management request refused: {}", refused.0));
                return Response::error(401, &format!("Unauthorized: {}", refused.0));
            }
        }
    }
    let (segments, query) = split_target(&request.target);
    let Some(route) = route(&segments) else {
        return Response::error(
            404,
            &format!("no management resource at {}", segments.join("/")),
        );
    };
    let ctx = Ctx {
        base: base_url(request),
        api_version: query
            .iter()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.clone()),
        max_message_kib: broker.max_message_size / 1024,
    };
    let number = |name: &str| -> Result<Option<usize>, Response> {
        match query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            None => Ok(None),
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|_| Response::error(400, &format!("{name} {v:?} is not a whole number"))),
        }
    };
    let page = match (number("$skip"), number("$top")) {
        (Ok(skip), Ok(top)) => (skip.unwrap_or(0), top.unwrap_or(100)),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match (request.method.as_str(), route) {
        ("GET", Route::Entity(name)) => get_entity(broker, &ctx, &name),
        ("GET", Route::Subscription(topic, name)) => get_subscription(broker, &ctx, &topic, &name),
        ("GET", Route::Namespace) => Response::xml(
            200,
            ENTRY_TYPE,
            document(&namespace_entry(&ctx, &broker.name)),
        ),
        ("GET", Route::ListQueues) => list_queues(broker, &ctx, page),
        ("GET", Route::ListTopics) => list_topics(broker, &ctx, page),
        ("GET", Route::ListSubscriptions(topic)) => list_subscriptions(broker, &ctx, &topic, page),
        ("PUT", Route::Entity(name)) => put_entity(broker, &ctx, request, &name),
        ("PUT", Route::Subscription(topic, name)) => {
            put_subscription(broker, &ctx, request, &topic, &name)
        }
        ("DELETE", Route::Entity(name)) => {
            if broker.delete(&name) {
                forget_created(&name);
                crate::log::info(&format!("management: deleted {name}"));
                Response::empty(200)
            } else {
                not_found(&name)
            }
        }
        ("DELETE", Route::Subscription(topic, name)) => {
            if broker.delete_subscription(&topic, &name) {
                forget_created(&format!("{topic}/Subscriptions/{name}"));
                crate::log::info(&format!("management: deleted {topic}/Subscriptions/{name}"));
                Response::empty(200)
            } else {
                not_found(&format!("{topic}/Subscriptions/{name}"))
            }
        }
        (method, _) => Response::error(405, &format!("{method} is not supported on this resource")),
    }
}

fn not_found(path: &str) -> Response {
    Response::error(
        404,
        &format!("The messaging entity '{path}' could not be found."),
    )
}

/// What every rendered entry shares.
#[derive(Debug, Clone)]
struct Ctx {
    base: String,
    api_version: Option<String>,
    max_message_kib: u64,
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        match &self.api_version {
            Some(v) => format!("{}/{path}?api-version={}", self.base, v),
            None => format!("{}/{path}", self.base),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

fn get_entity(broker: &Broker, ctx: &Ctx, name: &str) -> Response {
    if let Some(q) = broker.queue(name) {
        return Response::xml(200, ENTRY_TYPE, document(&queue_entry(ctx, &q)));
    }
    if let Some(t) = broker.topic(name) {
        return Response::xml(200, ENTRY_TYPE, document(&topic_entry(ctx, &t)));
    }
    not_found(name)
}

fn subscription_of(broker: &Broker, topic: &str, name: &str) -> Option<Arc<Entity>> {
    let t = broker.topic(topic)?;
    let subs = t.subscriptions.read().unwrap_or_else(|p| p.into_inner());
    subs.get(&name.to_ascii_lowercase()).cloned()
}

fn get_subscription(broker: &Broker, ctx: &Ctx, topic: &str, name: &str) -> Response {
    match subscription_of(broker, topic, name) {
        Some(s) => Response::xml(200, ENTRY_TYPE, document(&subscription_entry(ctx, &s))),
        None => not_found(&format!("{topic}/Subscriptions/{name}")),
    }
}

/// What a PUT body describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Queue,
    Topic,
    Subscription,
}

impl Kind {
    fn element(self) -> &'static str {
        match self {
            Kind::Queue => "QueueDescription",
            Kind::Topic => "TopicDescription",
            Kind::Subscription => "SubscriptionDescription",
        }
    }
}

/// Finds which description a PUT body holds and the properties it sets.
fn read_description(
    body: &str,
    allowed: &[Kind],
    what: &str,
) -> Result<(Kind, EntityProperties), String> {
    for kind in allowed {
        if let Some(inner) = element_text(body, kind.element()) {
            return Ok((*kind, description_properties(&inner, what)?));
        }
    }
    let names: Vec<&str> = allowed.iter().map(|k| k.element()).collect();
    Err(format!(
        "{what}: the request body holds no {}",
        names.join(" or ")
    ))
}

/// The properties this broker acts on, read from a description's inner XML; the
/// service's defaults for those not given, and the same checks as the config file's.
fn description_properties(inner: &str, what: &str) -> Result<EntityProperties, String> {
    let text = |name: &str| {
        element_text(inner, name)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let boolean = |name: &str| -> Result<Option<bool>, String> {
        match text(name) {
            None => Ok(None),
            Some(t) if t.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(t) if t.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(t) => Err(format!("{what}: {name} {t:?} is not true or false")),
        }
    };
    let max_delivery_count = match text("MaxDeliveryCount") {
        None => None,
        Some(t) => Some(
            t.parse::<u32>()
                .map_err(|_| format!("{what}: MaxDeliveryCount {t:?} is not a whole number"))?,
        ),
    };
    let config = EntityPropertiesConfig {
        lock_duration: text("LockDuration"),
        max_delivery_count,
        requires_session: boolean("RequiresSession")?,
        default_message_time_to_live: text("DefaultMessageTimeToLive"),
        dead_lettering_on_message_expiration: boolean("DeadLetteringOnMessageExpiration")?,
    };
    config.resolve(what)
}

fn is_update(request: &Request) -> bool {
    request.header("if-match").is_some_and(|v| v.trim() == "*")
}

fn put_entity(broker: &Broker, ctx: &Ctx, request: &Request, name: &str) -> Response {
    if let Err(e) = check_name(name) {
        return Response::error(400, &e);
    }
    let body = String::from_utf8_lossy(&request.body);
    let exists = broker.queue(name).is_some() || broker.topic(name).is_some();
    if is_update(request) {
        if !exists {
            return not_found(name);
        }
        // A queue's properties are applied (RequiresSession excepted, as on the service); a
        // topic's only property here, its time to live, stays as created.
        if let Some(queue) = broker.queue(name) {
            match read_description(&body, &[Kind::Queue], &format!("queue {name}")) {
                Ok((_, props)) => queue.set_props(props),
                Err(e) => return Response::error(400, &e),
            }
        }
        let mut response = get_entity(broker, ctx, name);
        response.status = 200;
        return response;
    }
    if exists {
        return Response::error(
            409,
            &format!("The messaging entity '{name}' already exists."),
        );
    }
    let (kind, props) = match read_description(
        &body,
        &[Kind::Queue, Kind::Topic],
        &format!("entity {name}"),
    ) {
        Ok(x) => x,
        Err(e) => return Response::error(400, &e),
    };
    let created = match kind {
        Kind::Topic => broker
            .create_topic(name, props)
            .map(|t| topic_entry(ctx, &t)),
        _ => broker
            .create_queue(name, props)
            .map(|q| queue_entry(ctx, &q)),
    };
    match created {
        Ok(entry) => {
            crate::log::info(&format!(
                "management: created {} {name}",
                if kind == Kind::Topic {
                    "topic"
                } else {
                    "queue"
                }
            ));
            Response::xml(201, ENTRY_TYPE, document(&entry))
        }
        // Created by someone else since the check above.
        Err(e) if broker.queue(name).is_some() || broker.topic(name).is_some() => {
            Response::error(409, &e)
        }
        Err(e) => Response::error(400, &e),
    }
}

fn put_subscription(
    broker: &Broker,
    ctx: &Ctx,
    request: &Request,
    topic: &str,
    name: &str,
) -> Response {
    let path = format!("{topic}/Subscriptions/{name}");
    if let Err(e) = check_name(name) {
        return Response::error(400, &e);
    }
    if broker.topic(topic).is_none() {
        return not_found(topic);
    }
    let exists = subscription_of(broker, topic, name).is_some();
    if is_update(request) {
        let Some(sub) = subscription_of(broker, topic, name) else {
            return not_found(&path);
        };
        let body = String::from_utf8_lossy(&request.body);
        match read_description(
            &body,
            &[Kind::Subscription],
            &format!("subscription {path}"),
        ) {
            Ok((_, props)) => sub.set_props(props),
            Err(e) => return Response::error(400, &e),
        }
        return get_subscription(broker, ctx, topic, name);
    }
    if exists {
        return Response::error(
            409,
            &format!("The messaging entity '{path}' already exists."),
        );
    }
    let body = String::from_utf8_lossy(&request.body);
    // A body without a description (some clients send none) takes the defaults.
    let props = if body.trim().is_empty() {
        EntityProperties::default()
    } else {
        match read_description(
            &body,
            &[Kind::Subscription],
            &format!("subscription {path}"),
        ) {
            Ok((_, props)) => props,
            Err(e) => return Response::error(400, &e),
        }
    };
    match broker.create_subscription(topic, name, props) {
        Ok(s) => {
            crate::log::info(&format!("management: created subscription {path}"));
            Response::xml(201, ENTRY_TYPE, document(&subscription_entry(ctx, &s)))
        }
        Err(e) if subscription_of(broker, topic, name).is_some() => Response::error(409, &e),
        Err(e) => Response::error(400, &e),
    }
}

fn page_of<T>(mut items: Vec<(String, T)>, (skip, top): (usize, usize)) -> (Vec<T>, bool) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let more = items.len() > skip.saturating_add(top);
    (
        items
            .into_iter()
            .skip(skip)
            .take(top)
            .map(|(_, t)| t)
            .collect(),
        more,
    )
}

fn list_queues(broker: &Broker, ctx: &Ctx, page: (usize, usize)) -> Response {
    // The broker lists entities only with their dead-letter queues and subscriptions;
    // queues are those whose path names a queue.
    let queues: Vec<(String, Arc<Entity>)> = broker
        .entities()
        .into_iter()
        .filter(|e| !e.path.contains('/'))
        .filter_map(|e| {
            broker
                .queue(&e.path)
                .map(|q| (q.path.to_ascii_lowercase(), q))
        })
        .collect();
    let (items, more) = page_of(queues, page);
    let entries: Vec<String> = items.iter().map(|q| queue_entry(ctx, q)).collect();
    Response::xml(
        200,
        FEED_TYPE,
        feed(ctx, "$Resources/Queues", "Queues", &entries, page, more),
    )
}

fn list_topics(broker: &Broker, ctx: &Ctx, page: (usize, usize)) -> Response {
    let mut names: Vec<String> = broker
        .entities()
        .into_iter()
        .filter_map(|e| {
            let mut parts = e.path.split('/');
            let topic = parts.next()?;
            parts
                .next()
                .is_some_and(|s| s.eq_ignore_ascii_case("Subscriptions"))
                .then(|| topic.to_owned())
        })
        .collect();
    // Topics without subscriptions are not among the entities; those created here are known.
    names.extend(known_names());
    let mut topics: HashMap<String, Arc<Topic>> = HashMap::new();
    for n in names {
        if let Some(t) = broker.topic(&n) {
            topics.insert(t.name.to_ascii_lowercase(), t);
        }
    }
    let (items, more) = page_of(topics.into_iter().collect(), page);
    let entries: Vec<String> = items.iter().map(|t| topic_entry(ctx, t)).collect();
    Response::xml(
        200,
        FEED_TYPE,
        feed(ctx, "$Resources/Topics", "Topics", &entries, page, more),
    )
}

fn list_subscriptions(broker: &Broker, ctx: &Ctx, topic: &str, page: (usize, usize)) -> Response {
    let Some(t) = broker.topic(topic) else {
        return not_found(topic);
    };
    let subs: Vec<(String, Arc<Entity>)> = t
        .subscriptions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (items, more) = page_of(subs, page);
    let entries: Vec<String> = items.iter().map(|s| subscription_entry(ctx, s)).collect();
    let path = format!("{}/Subscriptions", t.name);
    Response::xml(
        200,
        FEED_TYPE,
        feed(ctx, &path, "Subscriptions", &entries, page, more),
    )
}

// ---------------------------------------------------------------------------------------
// Creation times (the broker keeps none)

fn created_table() -> &'static Mutex<HashMap<String, i64>> {
    static TABLE: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// When an entity was created: when this module first saw it (entities from the config
/// file are seen first when listed or read).
fn created_at(path: &str) -> i64 {
    let mut table = created_table().lock().unwrap_or_else(|p| p.into_inner());
    *table
        .entry(path.to_ascii_lowercase())
        .or_insert_with(now_ms)
}

/// Forgets an entity (and, for a topic, its subscriptions) once deleted.
fn forget_created(path: &str) {
    let key = path.to_ascii_lowercase();
    let prefix = format!("{key}/");
    let mut table = created_table().lock().unwrap_or_else(|p| p.into_inner());
    table.retain(|k, _| *k != key && !k.starts_with(&prefix));
}

/// Top-level names this module has seen (topics without subscriptions among them).
fn known_names() -> Vec<String> {
    let table = created_table().lock().unwrap_or_else(|p| p.into_inner());
    table.keys().filter(|k| !k.contains('/')).cloned().collect()
}

// ---------------------------------------------------------------------------------------
// Rendering

/// Message counts as the runtime properties report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    total: usize,
    active: usize,
    dead_letter: usize,
    scheduled: usize,
    bytes: usize,
}

impl Stats {
    fn of(e: &Entity) -> Stats {
        let c = e.counts();
        let dead_letter = e.dead_letter.as_ref().map_or(0, |d| d.counts().total);
        Stats {
            total: c.total + dead_letter,
            // As the service counts: locked and deferred messages are still active;
            // only scheduled (and dead-lettered) ones are not.
            active: c.total.saturating_sub(c.scheduled),
            dead_letter,
            scheduled: c.scheduled,
            bytes: c.bytes,
        }
    }

    fn add(self, o: Stats) -> Stats {
        Stats {
            total: self.total + o.total,
            active: self.active + o.active,
            dead_letter: self.dead_letter + o.dead_letter,
            scheduled: self.scheduled + o.scheduled,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// What an entry shows, independent of the broker's types.
#[derive(Debug, Clone)]
struct View {
    kind: Kind,
    /// The entity path, `q1` or `t1/Subscriptions/s1` (the `<id>` URL's path).
    path: String,
    /// The name (`<title>`): the last segment of the path.
    name: String,
    props: EntityProperties,
    stats: Stats,
    subscription_count: usize,
    created_ms: i64,
}

fn queue_entry(ctx: &Ctx, q: &Entity) -> String {
    entry(
        ctx,
        &View {
            kind: Kind::Queue,
            path: q.path.clone(),
            name: q.path.clone(),
            props: q.props(),
            stats: Stats::of(q),
            subscription_count: 0,
            created_ms: created_at(&q.path),
        },
    )
}

fn topic_entry(ctx: &Ctx, t: &Topic) -> String {
    let subs = t.subscriptions.read().unwrap_or_else(|p| p.into_inner());
    let stats = subs
        .values()
        .map(|s| Stats::of(s))
        .fold(Stats::default(), Stats::add);
    entry(
        ctx,
        &View {
            kind: Kind::Topic,
            path: t.name.clone(),
            name: t.name.clone(),
            props: t.props.clone(),
            stats,
            subscription_count: subs.len(),
            created_ms: created_at(&t.name),
        },
    )
}

fn subscription_entry(ctx: &Ctx, s: &Entity) -> String {
    let name = s.path.rsplit('/').next().unwrap_or(&s.path).to_owned();
    entry(
        ctx,
        &View {
            kind: Kind::Subscription,
            path: s.path.clone(),
            name,
            props: s.props(),
            stats: Stats::of(s),
            subscription_count: 0,
            created_ms: created_at(&s.path),
        },
    )
}

/// The `$namespaceinfo` entry: a Standard-tier messaging namespace.
fn namespace_entry(ctx: &Ctx, name: &str) -> String {
    let url = escape(&ctx.url("$namespaceinfo"));
    let created = rfc3339(created_at("$namespaceinfo"));
    let name = escape(name);
    format!(
        "<entry xmlns=\"{ATOM_NS}\"><id>{url}</id><title type=\"text\">{name}</title><updated>{created}</updated>\
         <author><name>{name}</name></author><link rel=\"self\" href=\"{url}\"/><content type=\"application/xml\">\
         <NamespaceInfo xmlns=\"{SB_NS}\" xmlns:i=\"{XSI_NS}\"><CreatedTime>{created}</CreatedTime>\
         <MessagingSKU>Standard</MessagingSKU><ModifiedTime>{created}</ModifiedTime><Name>{name}</Name>\
         <NamespaceType>Messaging</NamespaceType></NamespaceInfo></content></entry>"
    )
}

/// A standalone document: the XML declaration and one element.
fn document(element: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{element}")
}

/// An ATOM `<entry>` describing one entity.
fn entry(ctx: &Ctx, v: &View) -> String {
    let url = escape(&ctx.url(&v.path));
    let created = rfc3339(v.created_ms);
    format!(
        "<entry xml:base=\"{url}\" xmlns=\"{ATOM_NS}\"><id>{url}</id><title type=\"text\">{title}</title>\
         <published>{created}</published><updated>{created}</updated><author><name>{author}</name></author>\
         <link rel=\"self\" href=\"{url}\"/><content type=\"application/xml\">{description}</content></entry>",
        title = escape(&v.name),
        author = escape(ctx.base.trim_start_matches("http://")),
        description = description(ctx, v),
    )
}

fn boolean(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn ttl(props: &EntityProperties) -> String {
    props
        .default_ttl
        .map_or_else(|| NEVER.to_owned(), format_duration)
}

fn count_details(s: &Stats) -> String {
    let item = |name: &str, n: usize| format!("<d2p1:{name}>{n}</d2p1:{name}>");
    format!(
        "<CountDetails xmlns:d2p1=\"{SB_2011_NS}\">{}{}{}{}{}</CountDetails>",
        item("ActiveMessageCount", s.active),
        item("DeadLetterMessageCount", s.dead_letter),
        item("ScheduledMessageCount", s.scheduled),
        item("TransferMessageCount", 0),
        item("TransferDeadLetterMessageCount", 0),
    )
}

/// The `QueueDescription`, `TopicDescription` or `SubscriptionDescription` of an entity,
/// in the service's element order, with every element the SDKs' parsers require.
fn description(ctx: &Ctx, v: &View) -> String {
    let p = &v.props;
    let created = rfc3339(v.created_ms);
    let times = format!(
        "<CreatedAt>{created}</CreatedAt><UpdatedAt>{created}</UpdatedAt><AccessedAt>{created}</AccessedAt>"
    );
    let lock = format_duration(p.lock_duration);
    let ttl = ttl(p);
    let s = &v.stats;
    let details = count_details(s);
    let kib = ctx.max_message_kib;
    let body = match v.kind {
        Kind::Queue => format!(
            "<LockDuration>{lock}</LockDuration><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>\
             <RequiresDuplicateDetection>false</RequiresDuplicateDetection>\
             <RequiresSession>{session}</RequiresSession>\
             <DefaultMessageTimeToLive>{ttl}</DefaultMessageTimeToLive>\
             <DeadLetteringOnMessageExpiration>{dl}</DeadLetteringOnMessageExpiration>\
             <DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>\
             <MaxDeliveryCount>{mdc}</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>\
             <SizeInBytes>{bytes}</SizeInBytes><MessageCount>{total}</MessageCount>\
             <IsAnonymousAccessible>false</IsAnonymousAccessible><AuthorizationRules></AuthorizationRules>\
             <Status>Active</Status>{times}<SupportOrdering>true</SupportOrdering>{details}\
             <AutoDeleteOnIdle>{NEVER}</AutoDeleteOnIdle><EnablePartitioning>false</EnablePartitioning>\
             <EntityAvailabilityStatus>Available</EntityAvailabilityStatus><EnableExpress>false</EnableExpress>\
             <MaxMessageSizeInKilobytes>{kib}</MaxMessageSizeInKilobytes>",
            session = boolean(p.requires_session),
            dl = boolean(p.dead_letter_on_expiration),
            mdc = p.max_delivery_count,
            bytes = s.bytes,
            total = s.total,
        ),
        Kind::Topic => format!(
            "<DefaultMessageTimeToLive>{ttl}</DefaultMessageTimeToLive><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>\
             <RequiresDuplicateDetection>false</RequiresDuplicateDetection>\
             <DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>\
             <EnableBatchedOperations>true</EnableBatchedOperations><SizeInBytes>{bytes}</SizeInBytes>\
             <FilteringMessagesBeforePublishing>false</FilteringMessagesBeforePublishing>\
             <IsAnonymousAccessible>false</IsAnonymousAccessible><AuthorizationRules></AuthorizationRules>\
             <Status>Active</Status>{times}<SupportOrdering>true</SupportOrdering>{details}\
             <SubscriptionCount>{subs}</SubscriptionCount><AutoDeleteOnIdle>{NEVER}</AutoDeleteOnIdle>\
             <EnablePartitioning>false</EnablePartitioning>\
             <EntityAvailabilityStatus>Available</EntityAvailabilityStatus>\
             <EnableSubscriptionPartitioning>false</EnableSubscriptionPartitioning>\
             <EnableExpress>false</EnableExpress><MaxMessageSizeInKilobytes>{kib}</MaxMessageSizeInKilobytes>",
            bytes = s.bytes,
            subs = v.subscription_count,
        ),
        Kind::Subscription => format!(
            "<LockDuration>{lock}</LockDuration><RequiresSession>{session}</RequiresSession>\
             <DefaultMessageTimeToLive>{ttl}</DefaultMessageTimeToLive>\
             <DeadLetteringOnMessageExpiration>{dl}</DeadLetteringOnMessageExpiration>\
             <DeadLetteringOnFilterEvaluationExceptions>true</DeadLetteringOnFilterEvaluationExceptions>\
             <MessageCount>{total}</MessageCount><MaxDeliveryCount>{mdc}</MaxDeliveryCount>\
             <EnableBatchedOperations>true</EnableBatchedOperations><Status>Active</Status>{times}{details}\
             <AutoDeleteOnIdle>{NEVER}</AutoDeleteOnIdle>\
             <EntityAvailabilityStatus>Available</EntityAvailabilityStatus>",
            session = boolean(p.requires_session),
            dl = boolean(p.dead_letter_on_expiration),
            mdc = p.max_delivery_count,
            total = s.total,
        ),
    };
    let element = v.kind.element();
    format!("<{element} xmlns=\"{SB_NS}\" xmlns:i=\"{XSI_NS}\">{body}</{element}>")
}

/// An ATOM `<feed>` of entries, with a `next` link when more follow.
fn feed(
    ctx: &Ctx,
    path: &str,
    title: &str,
    entries: &[String],
    (skip, top): (usize, usize),
    more: bool,
) -> String {
    let version = ctx
        .api_version
        .as_ref()
        .map(|v| format!("&api-version={v}"))
        .unwrap_or_default();
    let link = |skip: usize| {
        escape(&format!(
            "{}/{path}?$skip={skip}&$top={top}{version}",
            ctx.base
        ))
    };
    let mut links = format!("<link rel=\"self\" href=\"{}\"/>", link(skip));
    if more {
        links.push_str(&format!(
            "<link rel=\"next\" href=\"{}\"/>",
            link(skip.saturating_add(top))
        ));
    }
    document(&format!(
        "<feed xmlns=\"{ATOM_NS}\"><title type=\"text\">{}</title><id>{}</id><updated>{}</updated>{links}{}</feed>",
        escape(title),
        link(skip),
        rfc3339(now_ms()),
        entries.concat(),
    ))
}

/// Escapes text for XML content and (double-quoted) attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes XML escaping: the five named entities and numeric references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let name = &after[1..end];
        let c = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The end of a tag that starts at `from` (just after `<`): the index of its `>`,
/// skipping quoted attribute values.
fn tag_end(xml: &str, from: usize) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in xml[from..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// The unescaped inner text of the first element whose local name is `local` (any
/// namespace prefix, any attributes); `Some("")` for an empty or self-closing element.
/// The inner text of an element holding others is their raw XML (for scanning again).
fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut pos = 0;
    while let Some(i) = xml[pos..].find('<') {
        let start = pos + i + 1;
        let end = tag_end(xml, start)?;
        pos = end + 1;
        let tag = &xml[start..end];
        if tag.starts_with(['/', '?', '!']) {
            continue;
        }
        let qname = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let name = qname.rsplit(':').next().unwrap_or(qname);
        if name != local {
            continue;
        }
        if tag.ends_with('/') {
            return Some(String::new());
        }
        // The matching close tag: the same qualified name, allowing nested same-named elements.
        let (open, close) = (format!("<{qname}"), format!("</{qname}"));
        let mut depth = 1usize;
        let mut at = pos;
        loop {
            let next_close = xml[at..].find(&close)? + at;
            let mut probe = at;
            while let Some(j) = xml[probe..next_close].find(&open) {
                let k = probe + j;
                let after = xml[k + open.len()..].chars().next();
                if matches!(after, Some(c) if c.is_whitespace() || c == '>' || c == '/') {
                    let e = tag_end(xml, k + 1)?;
                    if !xml[k..e].ends_with('/') {
                        depth += 1;
                    }
                }
                probe = k + open.len();
            }
            let after = xml[next_close + close.len()..].chars().next();
            let closes = matches!(after, Some(c) if c.is_whitespace() || c == '>');
            if closes {
                depth -= 1;
                if depth == 0 {
                    let inner = &xml[pos..next_close];
                    return Some(if inner.contains('<') {
                        inner.to_owned()
                    } else {
                        unescape(inner)
                    });
                }
            }
            at = next_close + close.len();
        }
    }
    None
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-12-07T19:00:00.000Z`).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            base: "http://127.0.0.1:5672".into(),
            api_version: Some("2021-05".into()),
            max_message_kib: 256,
        }
    }

    fn view(kind: Kind, path: &str) -> View {
        View {
            kind,
            path: path.into(),
            name: path.rsplit('/').next().unwrap_or(path).into(),
            props: EntityProperties {
                lock_duration: Duration::from_secs(5),
                max_delivery_count: 3,
                requires_session: true,
                default_ttl: None,
                dead_letter_on_expiration: true,
            },
            stats: Stats {
                total: 7,
                active: 4,
                dead_letter: 2,
                scheduled: 1,
                bytes: 99,
            },
            subscription_count: 2,
            created_ms: 1_796_670_000_000,
        }
    }

    fn has_all(xml: &str, names: &[&str]) {
        for n in names {
            assert!(element_text(xml, n).is_some(), "{n} missing from {xml}");
        }
    }

    #[test]
    fn the_scanner_finds_elements_with_prefixes_attributes_and_self_closing_tags() {
        let xml = r#"<?xml version="1.0"?><entry xmlns="http://www.w3.org/2005/Atom"><updated>x</updated>
            <content type="application/xml"><ns1:QueueDescription xmlns:ns1="urn:x" a='1>2'>
            <ns1:LockDuration>PT5S</ns1:LockDuration><MaxDeliveryCount >3</MaxDeliveryCount>
            <RequiresSession/><Label>a &amp; b &#x41;&#66;</Label></ns1:QueueDescription></content></entry>"#;
        let inner = element_text(xml, "QueueDescription").expect("description");
        assert_eq!(
            element_text(&inner, "LockDuration").as_deref(),
            Some("PT5S")
        );
        assert_eq!(
            element_text(&inner, "MaxDeliveryCount").as_deref(),
            Some("3")
        );
        assert_eq!(element_text(&inner, "RequiresSession").as_deref(), Some(""));
        assert_eq!(element_text(&inner, "Label").as_deref(), Some("a & b AB"));
        assert_eq!(element_text(&inner, "Lock"), None);
        assert_eq!(element_text(xml, "TopicDescription"), None);
        assert_eq!(
            element_text("<a><b><a>x</a></b></a>", "a").as_deref(),
            Some("<b><a>x</a></b>")
        );
        assert_eq!(
            element_text("<QueueDescription />", "QueueDescription").as_deref(),
            Some("")
        );
        assert_eq!(element_text("<unterminated", "unterminated"), None);
    }

    #[test]
    fn descriptions_set_properties_and_bad_values_are_refused() {
        let body = format!(
            "<entry xmlns=\"{ATOM_NS}\"><content type=\"application/xml\"><QueueDescription xmlns=\"{SB_NS}\">\
             <LockDuration>PT5S</LockDuration><RequiresSession>true</RequiresSession>\
             <DefaultMessageTimeToLive>PT1M</DefaultMessageTimeToLive>\
             <DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>\
             <MaxDeliveryCount>3</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>\
             </QueueDescription></content></entry>"
        );
        let (kind, p) = read_description(&body, &[Kind::Queue, Kind::Topic], "q").expect("parsed");
        assert_eq!(kind, Kind::Queue);
        assert_eq!(p.lock_duration, Duration::from_secs(5));
        assert_eq!(p.max_delivery_count, 3);
        assert!(p.requires_session && p.dead_letter_on_expiration);
        assert_eq!(p.default_ttl, Some(Duration::from_secs(60)));
        let topic =
            format!("<entry><content><TopicDescription xmlns=\"{SB_NS}\" /></content></entry>");
        let (kind, p) = read_description(&topic, &[Kind::Queue, Kind::Topic], "t").expect("topic");
        assert_eq!((kind, p), (Kind::Topic, EntityProperties::default()));
        let never = format!(
            "<QueueDescription><DefaultMessageTimeToLive>{NEVER}</DefaultMessageTimeToLive></QueueDescription>"
        );
        assert_eq!(
            read_description(&never, &[Kind::Queue], "q")
                .expect("never")
                .1
                .default_ttl,
            None
        );
        for bad in [
            "<QueueDescription><LockDuration>soon</LockDuration></QueueDescription>",
            "<QueueDescription><LockDuration>PT10M</LockDuration></QueueDescription>",
            "<QueueDescription><MaxDeliveryCount>-1</MaxDeliveryCount></QueueDescription>",
            "<QueueDescription><MaxDeliveryCount>0</MaxDeliveryCount></QueueDescription>",
            "<QueueDescription><RequiresSession>yes</RequiresSession></QueueDescription>",
            "<entry/>",
        ] {
            assert!(
                read_description(bad, &[Kind::Queue, Kind::Topic], "q").is_err(),
                "{bad}"
            );
        }
        assert!(read_description("<QueueDescription/>", &[Kind::Subscription], "s").is_err());
    }

    #[test]
    fn paths_route_in_any_case() {
        let r = |t: &str| route(&split_target(t).0);
        assert_eq!(
            r("/q1?api-version=2021-05"),
            Some(Route::Entity("q1".into()))
        );
        assert_eq!(
            r("/t1/subscriptions/s1?enrich=false"),
            Some(Route::Subscription("t1".into(), "s1".into()))
        );
        assert_eq!(
            r("/t1/Subscriptions/s1"),
            Some(Route::Subscription("t1".into(), "s1".into()))
        );
        assert_eq!(
            r("/t1/Subscriptions"),
            Some(Route::ListSubscriptions("t1".into()))
        );
        assert_eq!(
            r("/$Resources/Queues?$skip=0&$top=100"),
            Some(Route::ListQueues)
        );
        assert_eq!(r("/%24Resources/topics"), Some(Route::ListTopics));
        assert_eq!(r("http://host:1/q%2D1"), Some(Route::Entity("q-1".into())));
        assert_eq!(
            r("/$namespaceinfo?api-version=2021-05"),
            Some(Route::Namespace)
        );
        assert_eq!(r("/"), None);
        assert_eq!(r("/t1/Rules/r1"), None);
        assert_eq!(r("/t1/Subscriptions/s1/Rules"), None);
        let (_, q) = split_target("/$Resources/Queues?%24skip=5&$top=2&api-version=2024-05");
        assert_eq!(
            q,
            vec![
                ("$skip".to_owned(), "5".to_owned()),
                ("$top".to_owned(), "2".to_owned()),
                ("api-version".to_owned(), "2024-05".to_owned())
            ]
        );
    }

    #[test]
    fn queue_entries_carry_every_element_the_sdks_require() {
        let xml = document(&entry(&ctx(), &view(Kind::Queue, "q1")));
        assert!(
            xml.contains("<id>http://127.0.0.1:5672/q1?api-version=2021-05</id>"),
            "{xml}"
        );
        assert_eq!(element_text(&xml, "title").as_deref(), Some("q1"));
        let d = element_text(&xml, "QueueDescription").expect("description");
        has_all(
            &d,
            &[
                "LockDuration",
                "MaxSizeInMegabytes",
                "MaxDeliveryCount",
                "EnablePartitioning",
                "RequiresSession",
                "EnableBatchedOperations",
                "DefaultMessageTimeToLive",
                "RequiresDuplicateDetection",
                "DuplicateDetectionHistoryTimeWindow",
                "DeadLetteringOnMessageExpiration",
                "EnableExpress",
                "CreatedAt",
                "UpdatedAt",
                "AccessedAt",
                "MessageCount",
                "SizeInBytes",
                "Status",
                "AutoDeleteOnIdle",
                "EntityAvailabilityStatus",
            ],
        );
        assert_eq!(element_text(&d, "LockDuration").as_deref(), Some("PT5S"));
        assert_eq!(element_text(&d, "MaxDeliveryCount").as_deref(), Some("3"));
        assert_eq!(element_text(&d, "RequiresSession").as_deref(), Some("true"));
        assert_eq!(
            element_text(&d, "DefaultMessageTimeToLive").as_deref(),
            Some(NEVER)
        );
        assert_eq!(element_text(&d, "MessageCount").as_deref(), Some("7"));
        assert_eq!(
            element_text(&d, "CreatedAt").as_deref(),
            Some("2026-12-07T19:00:00.000Z")
        );
        let details = element_text(&d, "CountDetails").expect("count details");
        assert!(d.contains(&format!("<CountDetails xmlns:d2p1=\"{SB_2011_NS}\">")));
        assert!(details.contains("<d2p1:ActiveMessageCount>4</d2p1:ActiveMessageCount>"));
        assert!(details.contains("<d2p1:DeadLetterMessageCount>2</d2p1:DeadLetterMessageCount>"));
        assert!(details.contains("<d2p1:ScheduledMessageCount>1</d2p1:ScheduledMessageCount>"));
        assert!(details.contains("<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"));
        assert!(details.contains(
            "<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount>"
        ));
    }

    #[test]
    fn topic_and_subscription_entries_carry_every_element_the_sdks_require() {
        let mut v = view(Kind::Topic, "t1");
        v.props.default_ttl = Some(Duration::from_secs(3600));
        let xml = entry(&ctx(), &v);
        let d = element_text(&xml, "TopicDescription").expect("topic");
        has_all(
            &d,
            &[
                "MaxSizeInMegabytes",
                "EnablePartitioning",
                "SupportOrdering",
                "EnableBatchedOperations",
                "DefaultMessageTimeToLive",
                "RequiresDuplicateDetection",
                "DuplicateDetectionHistoryTimeWindow",
                "EnableExpress",
                "CreatedAt",
                "UpdatedAt",
                "AccessedAt",
                "SizeInBytes",
                "SubscriptionCount",
                "CountDetails",
            ],
        );
        assert_eq!(
            element_text(&d, "DefaultMessageTimeToLive").as_deref(),
            Some("PT1H")
        );
        assert_eq!(element_text(&d, "SubscriptionCount").as_deref(), Some("2"));

        let xml = entry(&ctx(), &view(Kind::Subscription, "t1/Subscriptions/s1"));
        assert!(
            xml.contains("<id>http://127.0.0.1:5672/t1/Subscriptions/s1?api-version=2021-05</id>")
        );
        assert_eq!(element_text(&xml, "title").as_deref(), Some("s1"));
        let d = element_text(&xml, "SubscriptionDescription").expect("subscription");
        has_all(
            &d,
            &[
                "LockDuration",
                "MaxDeliveryCount",
                "RequiresSession",
                "EnableBatchedOperations",
                "DefaultMessageTimeToLive",
                "AutoDeleteOnIdle",
                "DeadLetteringOnMessageExpiration",
                "DeadLetteringOnFilterEvaluationExceptions",
                "Status",
                "EntityAvailabilityStatus",
                "CreatedAt",
                "UpdatedAt",
                "AccessedAt",
                "MessageCount",
                "CountDetails",
            ],
        );
    }

    #[test]
    fn the_namespace_entry_names_the_namespace() {
        let xml = namespace_entry(&ctx(), "sbemulatorns");
        let info = element_text(&xml, "NamespaceInfo").expect("info");
        has_all(
            &info,
            &[
                "CreatedTime",
                "ModifiedTime",
                "MessagingSKU",
                "NamespaceType",
            ],
        );
        assert_eq!(element_text(&info, "Name").as_deref(), Some("sbemulatorns"));
        assert_eq!(element_text(&xml, "title").as_deref(), Some("sbemulatorns"));
    }

    #[test]
    fn text_is_escaped_and_feeds_link_to_the_next_page() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;'");
        assert_eq!(unescape(&escape("a<b>&\"' &x")), "a<b>&\"' &x");
        let f = feed(
            &ctx(),
            "$Resources/Queues",
            "Queues",
            &["<entry/>".into()],
            (0, 1),
            true,
        );
        assert!(f.contains("<link rel=\"next\" href=\"http://127.0.0.1:5672/$Resources/Queues?$skip=1&amp;$top=1&amp;api-version=2021-05\"/>"), "{f}");
        let f = feed(&ctx(), "$Resources/Queues", "Queues", &[], (0, 100), false);
        assert!(!f.contains("rel=\"next\"") && f.starts_with("<?xml"));
        let (items, more) = page_of(
            vec![
                ("b".to_owned(), 2),
                ("a".to_owned(), 1),
                ("c".to_owned(), 3),
            ],
            (1, 1),
        );
        assert_eq!((items, more), (vec![2], true));
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_796_670_000_000), "2026-12-07T19:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn errors_never_carry_markup_from_their_detail() {
        let r = Response::error(404, "The messaging entity '<q>' could not be found.");
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body,
            "<Error><Code>404</Code><Detail>The messaging entity '&lt;q&gt;' could not be found.</Detail></Error>"
        );
    }
}
