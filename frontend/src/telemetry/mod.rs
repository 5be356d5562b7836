//! Where a trace enters and leaves the frontend (logs and the exporter are
//! set up by `shared::telemetry`, the same on both servers).
//!
//! In: a browser's `traceparent` is not ours to follow. A client that picks
//! its own trace id could graft its requests onto someone else's trace,
//! make ours easy to find and correlate, or have every request sampled; so
//! the trace headers (`traceparent`, `tracestate`, `baggage`) are removed
//! before the request span is made, unless `TRACE_FROM_PROXIES` is on and
//! the peer is one of `TRUSTED_PROXIES` (a proxy that writes the header
//! itself), whose trace we continue. Out: every call through our HTTP
//! clients (the auth-api, upstream apps, their WebSockets) is a client span
//! whose context is sent as `traceparent`, replacing any header the request
//! already had.
//!
//! `incoming` reads the application's settings; `outgoing` sits below the
//! clients that `state` holds, so it must not (it would close an import
//! circle through them).

pub mod incoming;
pub mod outgoing;
