//! An OTLP/HTTP receiver for tests: a small HTTP/1.1 server on 127.0.0.1
//! that takes `POST /v1/traces` and `POST /v1/metrics` bodies, decodes them
//! as `ExportTraceServiceRequest` and `ExportMetricsServiceRequest` with the
//! official `opentelemetry-proto` types, and keeps every span and the latest
//! value of every metric stream it was sent.
//!
//! It runs on threads of its own (blocking std I/O), not on a test's tokio
//! runtime: the exporter is installed once per process and outlives any one
//! test's runtime.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
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

/// A metric stream: its name and attributes (sorted).
type Stream = (String, Vec<(String, String)>);

/// What the receiver keeps.
#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// The latest value of each stream (the SDK exports cumulative values):
    /// a counter's sum, a histogram's count.
    metrics: HashMap<Stream, u64>,
}

/// The running receiver.
pub struct OtlpReceiver {
    port: u16,
    received: Arc<Mutex<Received>>,
}

impl OtlpReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(Mutex::new(Received::default()));
        let kept = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Ok(Self { port, received })
    }

    /// The URL an OTLP exporter posts spans to.
    pub fn traces_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.port)
    }

    /// The URL an OTLP exporter posts metrics to.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/metrics", self.port)
    }

    fn received(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received().spans.clone()
    }

    /// The sum of the latest values of metric `name`'s streams whose
    /// attributes `select` picks.
    pub fn metric(&self, name: &str, select: impl Fn(&HashMap<String, String>) -> bool) -> u64 {
        self.received()
            .metrics
            .iter()
            .filter(|((metric, attributes), _)| {
                metric == name && select(&attributes.iter().cloned().collect())
            })
            .map(|(_, value)| value)
            .sum()
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
fn serve(stream: TcpStream, received: &Mutex<Received>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader) {
        let mut kept = received.lock().unwrap_or_else(|e| e.into_inner());
        let status = match path.as_str() {
            "/v1/traces" => match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    kept.spans.extend(flatten(request));
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            },
            "/v1/metrics" => match ExportMetricsServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    kept.metrics.extend(latest_values(request));
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            },
            _ => "404 Not Found",
        };
        drop(kept);
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

/// Each stream's value in one export: a sum's (integer) value, a
/// histogram's count.
fn latest_values(request: ExportMetricsServiceRequest) -> Vec<(Stream, u64)> {
    let mut out = Vec::new();
    let metrics = request
        .resource_metrics
        .into_iter()
        .flat_map(|resource| resource.scope_metrics)
        .flat_map(|scope| scope.metrics);
    for metric in metrics {
        match metric.data {
            Some(Data::Sum(sum)) => {
                for point in sum.data_points {
                    let value = match point.value {
                        Some(number_data_point::Value::AsInt(v)) => u64::try_from(v).unwrap_or(0),
                        Some(number_data_point::Value::AsDouble(v)) => v as u64,
                        None => 0,
                    };
                    out.push(((metric.name.clone(), sorted(point.attributes)), value));
                }
            }
            Some(Data::Histogram(histogram)) => {
                for point in histogram.data_points {
                    let stream = (metric.name.clone(), sorted(point.attributes));
                    out.push((stream, point.count));
                }
            }
            _ => {}
        }
    }
    out
}

fn sorted(attributes: Vec<KeyValue>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attributes
        .into_iter()
        .filter_map(|kv| {
            Some((
                kv.key,
                text(kv.value.as_ref().and_then(|v| v.value.as_ref()))?,
            ))
        })
        .collect();
    out.sort();
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
