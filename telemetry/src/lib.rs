//! # strata-telemetry
//!
//! Installs what makes Strata observable, once per process: a `tracing`
//! subscriber that writes logs to stderr (filtered by `STRATA_LOG`, warnings
//! by default) and, when an OTLP endpoint is configured, exports Strata's
//! spans (and the application's own `tracing` spans) and metrics to it over
//! OTLP http/protobuf, with W3C trace context as the propagator that carries
//! a trace across the broker.
//!
//! `strata-core` only *emits* spans (`tracing` plus the OpenTelemetry API);
//! the SDK, the exporter and its HTTP client live here, so a program that
//! installs its own subscriber never builds them. The client is reqwest over
//! the process's one rustls provider (ring, `strata_core::tls`). The Node binding calls
//! [`init`] when its runtime starts; a Rust program calls it at the top of
//! `main`:
//!
//! ```no_run
//! # fn main() -> Result<(), strata_telemetry::TelemetryError> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=orders STRATA_LOG=info
//! let telemetry = strata_telemetry::init()?;
//! // ... run the application ...
//! telemetry.shutdown(); // exports what is buffered (dropping it does the same)
//! # Ok(()) }
//! ```
//!
//! With no endpoint set, no exporter is built and Strata's spans are
//! filtered out before they are created, so they cost a level check.

mod options;

pub use options::{DEFAULT_LOG_FILTER, Export, TelemetryOptions};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Which spans are exported: INFO and above from every target, Strata's
/// messaging spans and the application's own alike (the stderr filter is
/// separate, so `STRATA_LOG=warn` does not silence traces).
const EXPORT_FILTER: &str = "info";

/// Why telemetry could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `STRATA_LOG` (or [`TelemetryOptions::log_filter`]) is not a valid filter.
    #[error("STRATA_LOG is not a valid filter: {0}")]
    LogFilter(String),
    /// An OTLP exporter could not be built (an invalid endpoint URL).
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
    /// Another `tracing` subscriber is installed already: the process has
    /// telemetry of its own, which Strata's spans feed as they are.
    #[error("a global tracing subscriber is installed already")]
    AlreadyInstalled,
}

/// What [`init`] installed. Dropping it (or [`Telemetry::shutdown`]) exports
/// what is still buffered and stops the exporters.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.traces.is_some()
    }

    /// Whether metrics are exported.
    pub fn exports_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// Exports the spans and metrics buffered so far and waits for the
    /// exporters' answers. A failed export is reported on stderr by the SDK;
    /// nothing is retried.
    pub fn flush(&self) {
        if let Some(traces) = &self.traces {
            let _ = traces.force_flush();
        }
        if let Some(metrics) = &self.metrics {
            let _ = metrics.force_flush();
        }
    }

    /// Exports what is buffered and stops the exporters.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(traces) = self.traces.take() {
            let _ = traces.shutdown();
        }
        if let Some(metrics) = self.metrics.take() {
            let _ = metrics.shutdown();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs telemetry as the process environment asks
/// ([`TelemetryOptions::from_env`]).
///
/// # Errors
/// See [`init_with`].
pub fn init() -> Result<Telemetry, TelemetryError> {
    init_with(TelemetryOptions::from_env())
}

/// Installs the global `tracing` subscriber; when spans are exported, the
/// W3C trace-context propagator; when metrics are, the global meter
/// provider (topics and subscribers made afterwards record into it).
///
/// # Errors
/// [`TelemetryError::LogFilter`] for an invalid log filter,
/// [`TelemetryError::Exporter`] for an invalid endpoint, and
/// [`TelemetryError::AlreadyInstalled`] when the process has a subscriber.
pub fn init_with(options: TelemetryOptions) -> Result<Telemetry, TelemetryError> {
    let log_filter = options.log_filter.as_deref().unwrap_or(DEFAULT_LOG_FILTER);
    let log_filter =
        EnvFilter::try_new(log_filter).map_err(|err| TelemetryError::LogFilter(err.to_string()))?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter);
    let resource = resource(options.service_name.as_deref());
    let traces = match &options.traces {
        Export::Off => None,
        Export::Otlp { endpoint } => Some(tracer_provider(endpoint.as_deref(), resource.clone())?),
    };
    let metrics = match &options.metrics {
        Export::Off => None,
        Export::Otlp { endpoint } => Some(meter_provider(endpoint.as_deref(), resource)?),
    };
    let export = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("strata"))
            .with_filter(EnvFilter::new(EXPORT_FILTER))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(export)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    if traces.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    }
    if let Some(metrics) = &metrics {
        opentelemetry::global::set_meter_provider(metrics.clone());
    }
    Ok(Telemetry { traces, metrics })
}

/// The resource of every signal: `OTEL_SERVICE_NAME` and
/// `OTEL_RESOURCE_ATTRIBUTES` (the SDK reads them), unless `service_name` is
/// given.
fn resource(service_name: Option<&str>) -> Resource {
    let mut resource = Resource::builder();
    if let Some(name) = service_name {
        resource = resource.with_service_name(name.to_owned());
    }
    resource.build()
}

/// The SDK's tracer provider over a batching OTLP http/protobuf exporter.
/// The sampler comes from `OTEL_TRACES_SAMPLER` (the SDK reads it; parent
/// based, always on, by default).
fn tracer_provider(
    endpoint: Option<&str>,
    resource: Resource,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = http_exporter(
        opentelemetry_otlp::SpanExporter::builder().with_http(),
        endpoint,
    )
    .build()
    .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

/// The SDK's meter provider over a periodic OTLP http/protobuf exporter
/// (every 60 s unless `OTEL_METRIC_EXPORT_INTERVAL` says otherwise, and at
/// [`Telemetry::flush`]).
fn meter_provider(
    endpoint: Option<&str>,
    resource: Resource,
) -> Result<SdkMeterProvider, TelemetryError> {
    let exporter = http_exporter(
        opentelemetry_otlp::MetricExporter::builder().with_http(),
        endpoint,
    )
    .build()
    .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
    Ok(SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(exporter)
        .build())
}

/// An OTLP exporter's builder set to http/protobuf and `endpoint` (else the
/// environment's), with the process's rustls provider installed: reqwest's
/// client panics when built without one.
fn http_exporter<B: WithExportConfig>(builder: B, endpoint: Option<&str>) -> B {
    strata_core::tls::install_crypto_provider();
    let builder = builder.with_protocol(Protocol::HttpBinary);
    match endpoint {
        Some(endpoint) => builder.with_endpoint(endpoint),
        None => builder,
    }
}
