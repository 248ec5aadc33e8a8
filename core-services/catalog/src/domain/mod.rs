//! Catalog types and rules; no I/O.

pub mod category;
pub mod listing;
pub mod product;
