//! Black-box tests of the auth-api: each starts the real application on port 0
//! with a fresh SQLite file and drives it over HTTP. One binary, many modules:
//! linking one test binary is much cheaper than linking many.

mod admin;
mod attacks;
mod cli;
mod errors;
mod health;
mod helpers;
mod keys;
mod revocations;
mod sessions;
mod token;
