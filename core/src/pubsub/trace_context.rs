//! A trace context across the broker: written into a message's attributes on
//! publish, read back on delivery.
//!
//! The format is the process's global OpenTelemetry propagator (W3C
//! `traceparent`/`tracestate` once `strata-telemetry` is installed, or what
//! the application set), so Strata speaks what the rest of the application
//! speaks. The attributes are ordinary ones, not reserved: W3C trace context
//! is what other systems (Microsoft's Service Bus SDKs, OpenTelemetry's
//! instrumentations) read and write, so a message from any of them continues
//! its trace, and one of ours continues in theirs.

use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;

use super::Attributes;

/// The W3C attribute naming the publisher's span. A publisher that sets it
/// keeps it: Strata never replaces a trace context it was given.
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

/// Writes `cx` into `attributes`, unless they carry a `traceparent` already.
pub(crate) fn inject(cx: &Context, attributes: &mut Attributes) {
    if attributes.contains_key(TRACEPARENT_ATTRIBUTE) {
        return;
    }
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut AttributeWriter(attributes));
    });
}

/// The trace context `attributes` carry, if they carry a valid one.
pub(crate) fn extract(attributes: &Attributes) -> Option<Context> {
    let cx = global::get_text_map_propagator(|propagator| {
        propagator.extract(&AttributeReader(attributes))
    });
    cx.span().span_context().is_valid().then_some(cx)
}

struct AttributeWriter<'a>(&'a mut Attributes);

impl Injector for AttributeWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct AttributeReader<'a>(&'a Attributes);

impl Extractor for AttributeReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    fn context() -> Context {
        let span = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(span)
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_context_goes_into_the_attributes_and_comes_back() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let mut attributes = Attributes::new();
        inject(&context(), &mut attributes);
        assert_eq!(attributes[TRACEPARENT_ATTRIBUTE], TRACEPARENT);
        let back = extract(&attributes).unwrap();
        assert_eq!(back.span().span_context(), context().span().span_context());
    }

    #[test]
    fn a_publishers_traceparent_is_kept_and_garbage_is_no_context() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let mut attributes = Attributes::new();
        attributes.insert(
            TRACEPARENT_ATTRIBUTE.to_owned(),
            "not a traceparent".to_owned(),
        );
        inject(&context(), &mut attributes);
        assert_eq!(attributes[TRACEPARENT_ATTRIBUTE], "not a traceparent");
        assert!(extract(&attributes).is_none());
        assert!(extract(&Attributes::new()).is_none());
    }
}
