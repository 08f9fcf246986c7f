//! An OTLP/HTTP trace receiver for tests: a small HTTP/1.1 server on
//! 127.0.0.1 that takes `POST /v1/traces` bodies, decodes them as
//! `ExportTraceServiceRequest` with the official `opentelemetry-proto`
//! types, and keeps every span it was sent.
//!
//! It runs on threads of its own (blocking std I/O), not on a test's tokio
//! runtime: the exporter is installed once per process and outlives any one
//! test's runtime.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;

/// Largest request body taken (a test exports far less).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    /// Empty for a root span.
    pub parent_span_id: Vec<u8>,
    /// `(trace_id, span_id)` of each link.
    pub links: Vec<(Vec<u8>, Vec<u8>)>,
    /// String, integer and boolean attributes, as text.
    pub attributes: HashMap<String, String>,
    /// Whether the span's status is ERROR.
    pub error_status: bool,
    /// The resource's `service.name`.
    pub service_name: Option<String>,
}

impl ReceivedSpan {
    /// The attribute's value as text.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// Whether a link of this span points at `span`.
    pub fn links_to(&self, span: &ReceivedSpan) -> bool {
        self.links
            .iter()
            .any(|(trace, id)| *trace == span.trace_id && *id == span.span_id)
    }
}

/// The running receiver.
pub struct OtlpReceiver {
    port: u16,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Ok(Self { port, spans })
    }

    /// The URL an OTLP exporter posts spans to.
    pub fn traces_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits up to `timeout` until the spans `select` picks number at least
    /// `count`, calling `flush` (the exporter's) before each look; returns them.
    pub fn wait_for(
        &self,
        count: usize,
        timeout: Duration,
        flush: impl Fn(),
        select: impl Fn(&ReceivedSpan) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            flush();
            let found: Vec<ReceivedSpan> = self.spans().into_iter().filter(&select).collect();
            if found.len() >= count || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Answers requests on one connection until it closes (the exporter keeps
/// connections alive).
fn serve(stream: TcpStream, spans: &Mutex<Vec<ReceivedSpan>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader) {
        let status = match (
            path.as_str(),
            ExportTraceServiceRequest::decode(body.as_slice()),
        ) {
            ("/v1/traces", Ok(request)) => {
                let mut kept = spans.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend(flatten(request));
                "200 OK"
            }
            ("/v1/traces", Err(_)) => "400 Bad Request",
            _ => "404 Not Found",
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one request: its path and body (by `content-length`; the exporter
/// sends no chunked bodies). `None` at the end of the connection or on
/// anything malformed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        }
    }
    if length > MAX_BODY {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|resource| {
            resource
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|value| text(value.value.as_ref()))
        });
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                out.push(ReceivedSpan {
                    kind: span.kind(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    links: span
                        .links
                        .into_iter()
                        .map(|link| (link.trace_id, link.span_id))
                        .collect(),
                    attributes: span
                        .attributes
                        .into_iter()
                        .filter_map(|kv| {
                            let value = text(kv.value.as_ref().and_then(|v| v.value.as_ref()))?;
                            Some((kv.key, value))
                        })
                        .collect(),
                    // StatusCode::Error is 2 in the protocol.
                    error_status: span.status.is_some_and(|status| status.code == 2),
                    service_name: service_name.clone(),
                });
            }
        }
    }
    out
}

/// A scalar attribute value as text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}
