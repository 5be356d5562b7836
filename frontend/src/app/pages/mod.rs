//! One module per page of the design.

pub mod account;
pub mod admin;
pub mod audit;
pub mod home;
pub mod login;
pub mod not_found;
pub mod notes;
pub mod password;
pub mod profile;
pub mod security;
pub mod sessions;
pub mod verify;
