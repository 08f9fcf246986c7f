//! # strata-telemetry
//!
//! Installs what makes Strata observable, once per process: a `tracing`
//! subscriber that writes logs to stderr (filtered by `STRATA_LOG`, warnings
//! by default) and, when an OTLP endpoint is configured, exports Strata's
//! spans (and the application's own `tracing` spans) to it over OTLP
//! http/protobuf, with W3C trace context as the propagator that carries a
//! trace across the broker.
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

pub use options::{DEFAULT_LOG_FILTER, TelemetryOptions, TracesExport};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
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
    /// The OTLP exporter could not be built (an invalid endpoint URL).
    #[error("the OTLP trace exporter could not be built: {0}")]
    Exporter(String),
    /// Another `tracing` subscriber is installed already: the process has
    /// telemetry of its own, which Strata's spans feed as they are.
    #[error("a global tracing subscriber is installed already")]
    AlreadyInstalled,
}

/// What [`init`] installed. Dropping it (or [`Telemetry::shutdown`]) exports
/// the spans still buffered and stops the exporter.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.traces.is_some()
    }

    /// Exports the spans buffered so far and waits for the exporter's answer.
    /// A failed export is reported on stderr by the SDK; nothing is retried.
    pub fn flush(&self) {
        if let Some(traces) = &self.traces {
            let _ = traces.force_flush();
        }
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(traces) = self.traces.take() {
            let _ = traces.shutdown();
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

/// Installs the global `tracing` subscriber and, when spans are exported,
/// the W3C trace-context propagator.
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
    let traces = match &options.traces {
        TracesExport::Off => None,
        TracesExport::Otlp { endpoint } => Some(tracer_provider(
            endpoint.as_deref(),
            options.service_name.as_deref(),
        )?),
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
    Ok(Telemetry { traces })
}

/// The SDK's tracer provider over a batching OTLP http/protobuf exporter.
/// The sampler comes from `OTEL_TRACES_SAMPLER` (the SDK reads it; parent
/// based, always on, by default) and the resource from `OTEL_SERVICE_NAME`
/// and `OTEL_RESOURCE_ATTRIBUTES` unless `service_name` is given.
fn tracer_provider(
    endpoint: Option<&str>,
    service_name: Option<&str>,
) -> Result<SdkTracerProvider, TelemetryError> {
    // reqwest's client panics when built with no rustls provider installed.
    strata_core::tls::install_crypto_provider();
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary);
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter
        .build()
        .map_err(|err| TelemetryError::Exporter(err.to_string()))?;
    let mut resource = Resource::builder();
    if let Some(name) = service_name {
        resource = resource.with_service_name(name.to_owned());
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build())
}
