//! End-to-end tests: the real auth-api and the real frontend on two ephemeral
//! local ports, driven over HTTP by a cookie-keeping client that never follows
//! redirects by itself. One binary; one module per flow.

mod abuse;
mod account;
mod admin;
mod assets;
mod client_secrets;
mod cluster;
mod cookies;
mod crash;
mod csrf;
mod faults;
mod flows;
mod guard;
mod harness;
mod instances;
mod keys;
mod listeners;
mod notes;
mod observability;
mod outage;
mod proxy;
mod refresh;
mod restores;
mod second_factors;
mod sessions;
mod stopping;
mod streaming;
mod throttling;
mod tls;
mod traces;
mod upstream;
mod users;
