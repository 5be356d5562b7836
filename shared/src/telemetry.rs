//! Logs and traces, set up the same way by both servers.
//!
//! Every request runs inside tracing-actix-web's root span, which joins the
//! W3C trace its `traceparent` names (the frontend first strips that header
//! from peers it does not trust) or starts a new one, and records the trace
//! id as its `trace_id` field: so every line logged while serving the
//! request carries it, in text and in JSON. Calls to the other server or an
//! upstream app carry `traceparent` on ([`inject`]), so one sign-in is one
//! trace across the frontend, the auth-api and the apps.
//!
//! Request spans and calls out become OpenTelemetry spans
//! (`tracing-opentelemetry`) in every case: that is where trace ids come
//! from. The detail inside a request (`debug` spans: the guard, a grant,
//! argon2, queries) is traced only while spans are exported. They leave the process only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set: then a
//! batch exporter posts them over OTLP/HTTP (protobuf or JSON) from its own
//! thread. Without it the sampler drops every span at its start: ids are
//! made and propagated, nothing is recorded, queued or sent.

use std::{fmt, str::FromStr, time::Duration};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{propagation::Injector, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, LevelFilter, Targets, filter_fn},
    fmt as format,
    prelude::*,
};

use crate::log_format::LogFormat;

/// The settings of logs and traces, on both servers' command lines. The
/// `OTEL_*` variables are OpenTelemetry's own, read as every SDK reads them;
/// the others the SDK knows (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`,
/// `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`) apply too.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TelemetryArgs {
    /// Log lines as `text` (one line per event) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Where to send spans (OTLP over HTTP): the collector's base URL, to
    /// which `/v1/traces` is added. Unset (the default): no span leaves the
    /// process, and none is recorded.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// The full URL spans are posted to, used as it is (wins over the base URL).
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        global = true
    )]
    pub otlp_traces_endpoint: Option<String>,

    /// `http/protobuf` or `http/json` (gRPC is not built in).
    #[arg(
        long = "otlp-protocol",
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf",
        global = true
    )]
    pub otlp_protocol: OtlpProtocol,

    /// The `service.name` of this process's spans (default: `cloakroom-auth-api`
    /// or `cloakroom-frontend`).
    #[arg(long = "service-name", env = "OTEL_SERVICE_NAME", global = true)]
    pub service_name: Option<String>,
}

impl TelemetryArgs {
    /// Where spans go, by OpenTelemetry's rule: the signal's own variable as
    /// it is, else the base URL with `/v1/traces`; `None`: not exported.
    pub fn traces_endpoint(&self) -> Option<String> {
        fn set(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        if let Some(url) = set(&self.otlp_traces_endpoint) {
            return Some(url.to_owned());
        }
        set(&self.otlp_endpoint).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    #[default]
    HttpProtobuf,
    HttpJson,
}

#[derive(Debug)]
pub struct UnknownProtocol(String);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OTEL_EXPORTER_OTLP_PROTOCOL {:?}: expected http/protobuf or http/json", self.0)
    }
}

impl std::error::Error for UnknownProtocol {}

impl FromStr for OtlpProtocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Ok(Self::HttpJson),
            _ => Err(UnknownProtocol(s.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the span exporter: {0}")]
pub struct TelemetryError(String);

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still queued.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is queued (within a few seconds) and stops the exporter.
    /// Call once the server has stopped, outside the async runtime: the
    /// exporter's client blocks.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(error = %e, "spans still queued at the stop were not all sent");
        }
    }
}

/// Installs the global subscriber (logs, trace ids, spans) and the W3C
/// propagator. Call before the runtime starts: the exporter's HTTP client is
/// a blocking one, which may not be built inside it. Later calls in the same
/// process keep the first subscriber.
pub fn init(
    default_service: &'static str,
    args: &TelemetryArgs,
) -> Result<Telemetry, TelemetryError> {
    let provider = provider(default_service, args)?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let lines = match args.log_format {
        // Colours only for a person at a terminal; not in files, pipes or
        // `just dev`'s prefixed log. Span fields (the request's `trace_id`
        // and `request_id`) precede each message.
        LogFormat::Text => format::layer().with_ansi(ansi).boxed(),
        // One object per line: the event's fields flattened beside
        // `message`, and every span it is in in `spans`, the request's
        // first (with `trace_id` and `request_id`).
        LogFormat::Json => format::layer().json().flatten_event(true).with_span_list(true).boxed(),
    };
    install(&provider, args.traces_endpoint().is_some(), lines);
    Ok(Telemetry { provider })
}

/// A server's `main` after its command line is parsed: telemetry set up
/// outside the runtime (see [`init`]), `server` run on an actix system, and
/// its last spans sent once it returns. A telemetry setting that cannot work
/// exits 2, as other bad settings do.
pub fn run(
    default_service: &'static str,
    args: &TelemetryArgs,
    server: impl std::future::Future<Output = std::process::ExitCode>,
) -> std::process::ExitCode {
    let telemetry = match init(default_service, args) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let code = actix_web::rt::System::new().block_on(server);
    telemetry.shutdown();
    code
}

/// For servers inside a test process: the same, with lines written through
/// the test harness's capture (a passing test's servers stay quiet) and no
/// export.
pub fn init_for_tests() {
    let provider = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build();
    install(&provider, false, format::layer().with_ansi(false).with_test_writer().boxed());
}

type Lines = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

/// The crates whose `debug` spans are the trace's detail: the guard, the
/// refresh, rendering, a grant, argon2, the store's queries.
const DETAIL: [&str; 4] = ["auth_api", "frontend", "shared", "notes"];

fn install(provider: &SdkTracerProvider, exporting: bool, lines: Lines) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // `RUST_LOG` filters the lines only (default `info`, less PostgreSQL's
    // notices such as the "already exists, skipping" of every start's
    // migration check). Spans are traced whatever it says: with
    // `RUST_LOG=warn`, requests must still carry their trace on.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    // Whatever `RUST_LOG` names, the request span is kept: a warning logged
    // while serving a request must still carry its `trace_id` and `request_id`.
    let filter = filter.or(filter_fn(|meta| meta.is_span() && meta.name() == REQUEST_SPAN));
    // The request spans and the calls out (`info`) are always traced: they
    // hold the trace id and the context sent on. The detail inside a
    // request is `debug`, traced only while spans are exported: unexported
    // it would cost every grant and page its spans' bookkeeping for nothing
    // (static filters: a span no layer wants costs one cached check).
    let traced = if exporting {
        DETAIL.iter().fold(Targets::new().with_default(LevelFilter::INFO), |targets, detail| {
            targets.with_target(*detail, LevelFilter::DEBUG)
        })
    } else {
        Targets::new().with_default(LevelFilter::INFO)
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("cloakroom"))
        // What a span did, not where in the code or on which thread, nor
        // its busy/idle split: less to record, and nothing a trace needs.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(traced);
    let _ = tracing_subscriber::registry().with(lines.with_filter(filter)).with(spans).try_init();
}

fn provider(
    default_service: &'static str,
    args: &TelemetryArgs,
) -> Result<SdkTracerProvider, TelemetryError> {
    let Some(endpoint) = args.traces_endpoint() else {
        // Ids without recording: the trace is followed and passed on, and
        // its spans cost their creation only.
        return Ok(SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build());
    };
    // No TLS is built into the exporter: an https endpoint would fail at
    // every export, silently. Refused at start instead.
    if !endpoint.starts_with("http://") {
        return Err(TelemetryError(format!(
            "{endpoint}: only http:// collectors are supported (run the collector beside the server)"
        )));
    }
    let protocol = match args.otlp_protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError(e.to_string()))?;
    let service = args.service_name.clone().unwrap_or_else(|| default_service.to_owned());
    let resource = Resource::builder().with_service_name(service).build();
    // The sampler is the SDK's default (`OTEL_TRACES_SAMPLER`, else every
    // trace whose parent was sampled, and every new one).
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The name of every request's span (both servers, `TracingLogger<RequestSpan>`).
pub const REQUEST_SPAN: &str = "HTTP request";

/// The request span of both servers, in place of tracing-actix-web's
/// default, which records the query string, the user agent, and a client
/// address read from `Forwarded`/`X-Forwarded-For` whoever sent them: in
/// spans that leave the process, a query may hold what must not (an app's
/// reset token or OAuth `code`), and an address a client chose misleads
/// whoever investigates. Here: the method, the route's pattern, the path
/// without its query, the status, the request id and the trace id.
///
/// The trace is the one the request's `traceparent` names (the frontend has
/// removed it already unless it may be followed), else a new one.
pub struct RequestSpan;

impl tracing_actix_web::RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        use opentelemetry::trace::TraceContextExt;

        let method = request.method().as_str();
        let route = request.match_pattern();
        let route = route.as_deref().unwrap_or("unmatched");
        let request_id = request.extensions().get::<tracing_actix_web::RequestId>().copied();
        let span = tracing::info_span!(
            REQUEST_SPAN,
            http.method = %method,
            http.route = %route,
            http.target = %request.path(),
            http.status_code = tracing::field::Empty,
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        if let Some(id) = request_id {
            span.record("request_id", tracing::field::display(id));
        }
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&RequestHeaders(request.headers()))
        });
        let _ = span.set_parent(parent);
        let trace_id = span.context().span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
        span
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

struct RequestHeaders<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for RequestHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The headers that carry a trace context (W3C Trace Context and Baggage):
/// never taken from a client we do not trust, never passed on as it sent them.
pub const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// Writes the W3C trace context of `span` (`traceparent`, and `tracestate`
/// when there is one) into an outgoing request's headers, replacing any
/// already there: a call carries our trace, never one a client wrote.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    for header in TRACE_HEADERS {
        headers.remove(header);
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut Headers(headers));
    });
}

struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(base: Option<&str>, traces: Option<&str>) -> TelemetryArgs {
        TelemetryArgs {
            log_format: LogFormat::Text,
            otlp_endpoint: base.map(str::to_owned),
            otlp_traces_endpoint: traces.map(str::to_owned),
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            service_name: None,
        }
    }

    #[test]
    fn the_traces_endpoint_follows_opentelemetrys_rule() {
        assert_eq!(args(None, None).traces_endpoint(), None);
        assert_eq!(args(Some(" "), None).traces_endpoint(), None);
        let base = args(Some("http://collector:4318/"), None).traces_endpoint();
        assert_eq!(base.as_deref(), Some("http://collector:4318/v1/traces"));
        let own = args(Some("http://a:4318"), Some("http://b/otlp")).traces_endpoint();
        assert_eq!(own.as_deref(), Some("http://b/otlp"));
    }

    #[test]
    fn an_https_collector_is_refused_at_start_not_at_every_export() {
        let refused = provider("test", &args(Some("https://collector:4318"), None)).err();
        let refused = refused.expect("refused").to_string();
        assert!(refused.contains("only http://"), "{refused}");
        assert!(provider("test", &args(None, None)).is_ok());
    }

    #[test]
    fn protocols_are_http_only() {
        assert_eq!("http/json".parse::<OtlpProtocol>().unwrap(), OtlpProtocol::HttpJson);
        assert_eq!("http/protobuf".parse::<OtlpProtocol>().unwrap(), OtlpProtocol::HttpProtobuf);
        let grpc = "grpc".parse::<OtlpProtocol>().unwrap_err().to_string();
        assert!(grpc.contains("http/protobuf or http/json"), "{grpc}");
    }
}
