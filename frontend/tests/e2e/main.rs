//! End-to-end tests: the real auth-api and the real frontend on two ephemeral
//! local ports, driven over HTTP by a cookie-keeping client that never follows
//! redirects by itself. One binary; one module per flow.

mod account;
mod admin;
mod client_secrets;
mod cluster;
mod cookies;
mod csrf;
mod flows;
mod guard;
mod harness;
mod instances;
mod notes;
mod outage;
mod proxy;
mod refresh;
mod second_factors;
mod sessions;
mod streaming;
mod throttling;
mod tls;
mod upstream;
mod users;
