//! [`TelemetryOptions`]: what to install, read from the standard
//! OpenTelemetry environment variables and `STRATA_LOG`.

/// The log filter when `STRATA_LOG` is unset: warnings and errors only, so a
/// quiet process stays quiet.
pub const DEFAULT_LOG_FILTER: &str = "warn";

/// What [`init_with`](crate::init_with) installs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TelemetryOptions {
    /// Where spans go.
    pub traces: TracesExport,
    /// Which events and spans are written to stderr, in `tracing-subscriber`'s
    /// `EnvFilter` syntax (`info`, `strata_core=debug,warn`); `None` is
    /// [`DEFAULT_LOG_FILTER`].
    pub log_filter: Option<String>,
    /// The `service.name` of the exported spans; `None` leaves it to
    /// `OTEL_SERVICE_NAME` (and `OTEL_RESOURCE_ATTRIBUTES`).
    pub service_name: Option<String>,
}

/// Whether and where spans are exported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TracesExport {
    /// Not exported: spans cost next to nothing.
    #[default]
    Off,
    /// Exported over OTLP http/protobuf. `endpoint` is the full URL spans are
    /// posted to (`http://collector:4318/v1/traces`); `None` takes it from
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// with `/v1/traces` appended. Headers, timeout and compression always
    /// come from the `OTEL_EXPORTER_OTLP_*` variables.
    Otlp {
        /// The URL spans are posted to, or `None` for the environment's.
        endpoint: Option<String>,
    },
}

impl TelemetryOptions {
    /// The options the process environment asks for: OTLP export when
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
    /// set (and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`
    /// turns it off), the log filter from `STRATA_LOG`.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`TelemetryOptions::from_env`] over any source of variables, so the
    /// rules can be tested without touching the process environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        let endpoint_set = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let traces = if endpoint_set && !disabled {
            TracesExport::Otlp { endpoint: None }
        } else {
            TracesExport::Off
        };
        Self {
            traces,
            log_filter: set("STRATA_LOG"),
            service_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn either_endpoint_variable_turns_export_on() {
        let on = TracesExport::Otlp { endpoint: None };
        let base = options(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
        assert_eq!(base.traces, on);
        let traces = options(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:4318/v1/traces",
        )]);
        assert_eq!(traces.traces, on);
        assert_eq!(
            options(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).traces,
            TracesExport::Off
        );
    }

    #[test]
    fn sdk_disabled_or_exporter_none_wins_over_an_endpoint() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert_eq!(
                options(&[endpoint, off]).traces,
                TracesExport::Off,
                "{off:?}"
            );
        }
        let on = options(&[endpoint, ("OTEL_SDK_DISABLED", "false")]);
        assert_eq!(on.traces, TracesExport::Otlp { endpoint: None });
    }

    #[test]
    fn strata_log_is_the_log_filter() {
        let opts = options(&[("STRATA_LOG", "strata_core=debug,warn")]);
        assert_eq!(opts.log_filter.as_deref(), Some("strata_core=debug,warn"));
    }
}
