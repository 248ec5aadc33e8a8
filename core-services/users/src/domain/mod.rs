//! Account rules and token formats; no I/O.

pub mod account;
pub mod keys;
