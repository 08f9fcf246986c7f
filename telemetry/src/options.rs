//! [`TelemetryOptions`]: what to install, read from the standard
//! OpenTelemetry environment variables and `STRATA_LOG`.

/// The log filter when `STRATA_LOG` is unset: warnings and errors only, so a
/// quiet process stays quiet.
pub const DEFAULT_LOG_FILTER: &str = "warn";

/// What [`init_with`](crate::init_with) installs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TelemetryOptions {
    /// Where spans go.
    pub traces: Export,
    /// Where metrics go.
    pub metrics: Export,
    /// Which events and spans are written to stderr, in `tracing-subscriber`'s
    /// `EnvFilter` syntax (`info`, `strata_core=debug,warn`); `None` is
    /// [`DEFAULT_LOG_FILTER`].
    pub log_filter: Option<String>,
    /// The `service.name` of the exported spans; `None` leaves it to
    /// `OTEL_SERVICE_NAME` (and `OTEL_RESOURCE_ATTRIBUTES`).
    pub service_name: Option<String>,
}

/// Whether and where one signal (spans, metrics) is exported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Export {
    /// Not exported: recording costs next to nothing.
    #[default]
    Off,
    /// Exported over OTLP http/protobuf. `endpoint` is the full URL the
    /// signal is posted to (`http://collector:4318/v1/traces`); `None` takes
    /// it from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (`…_METRICS_ENDPOINT`),
    /// else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` (`/v1/metrics`)
    /// appended. Headers, timeout and compression always come from the
    /// `OTEL_EXPORTER_OTLP_*` variables.
    Otlp {
        /// The URL posted to, or `None` for the environment's.
        endpoint: Option<String>,
    },
}

impl TelemetryOptions {
    /// The options the process environment asks for: spans (metrics) are
    /// exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (`…_METRICS_ENDPOINT`) is set,
    /// unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
    /// (`OTEL_METRICS_EXPORTER=none`) turns them off; the log filter is
    /// `STRATA_LOG`.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`TelemetryOptions::from_env`] over any source of variables, so the
    /// rules can be tested without touching the process environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let sdk_disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true");
        let any_endpoint = set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let export = |endpoint: &str, exporter: &str| {
            let on = !sdk_disabled
                && set(exporter).is_none_or(|v| v.trim() != "none")
                && (any_endpoint || set(endpoint).is_some());
            if on {
                Export::Otlp { endpoint: None }
            } else {
                Export::Off
            }
        };
        Self {
            traces: export("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"),
            metrics: export(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "OTEL_METRICS_EXPORTER",
            ),
            log_filter: set("STRATA_LOG"),
            service_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: Export = Export::Otlp { endpoint: None };

    fn options(vars: &[(&str, &str)]) -> TelemetryOptions {
        TelemetryOptions::from_vars(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn nothing_set_exports_nothing_and_logs_warnings() {
        assert_eq!(options(&[]), TelemetryOptions::default());
    }

    #[test]
    fn the_common_endpoint_turns_both_on_a_signal_endpoint_its_own() {
        let base = options(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
        assert_eq!((base.traces, base.metrics), (ON, ON));
        let traces = options(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces",
        )]);
        assert_eq!((traces.traces, traces.metrics), (ON, Export::Off));
        let metrics = options(&[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://127.0.0.1:4318/v1/metrics",
        )]);
        assert_eq!((metrics.traces, metrics.metrics), (Export::Off, ON));
        let blank = options(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]);
        assert_eq!((blank.traces, blank.metrics), (Export::Off, Export::Off));
    }

    #[test]
    fn sdk_disabled_or_exporter_none_wins_over_an_endpoint() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let disabled = options(&[endpoint, ("OTEL_SDK_DISABLED", "true")]);
        assert_eq!(
            (disabled.traces, disabled.metrics),
            (Export::Off, Export::Off)
        );
        let no_traces = options(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]);
        assert_eq!((no_traces.traces, no_traces.metrics), (Export::Off, ON));
        let no_metrics = options(&[endpoint, ("OTEL_METRICS_EXPORTER", "none")]);
        assert_eq!((no_metrics.traces, no_metrics.metrics), (ON, Export::Off));
        let on = options(&[endpoint, ("OTEL_SDK_DISABLED", "false")]);
        assert_eq!(on.traces, ON);
    }

    #[test]
    fn strata_log_is_the_log_filter() {
        let opts = options(&[("STRATA_LOG", "strata_core=debug,warn")]);
        assert_eq!(opts.log_filter.as_deref(), Some("strata_core=debug,warn"));
    }
}
