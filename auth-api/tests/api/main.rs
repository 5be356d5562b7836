//! Black-box tests of the auth-api: each starts the real application on port 0
//! with a fresh SQLite file and drives it over HTTP; `instances` starts
//! several on one fresh PostgreSQL database, and `store` runs the storage
//! contract against both backends. The PostgreSQL tests need
//! `TEST_POSTGRES_URL` (`scripts/pg.sh` sets it) and are skipped, saying so,
//! without it. One binary, many modules: linking one test binary is much
//! cheaper than linking many.

mod abuse;
mod account;
mod admin;
mod attacks;
mod cli;
mod crash;
mod errors;
mod exchange;
mod health;
mod helpers;
mod instances;
mod keys;
mod mfa;
mod mfa_keys;
mod passkeys;
mod revocations;
mod sessions;
mod store;
mod token;
mod users;
