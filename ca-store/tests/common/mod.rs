//! The shared test databases (ca-store's `test-support` feature).

pub use ca_store::testing::{TestDatabase as TestDb, PG_ENV};
