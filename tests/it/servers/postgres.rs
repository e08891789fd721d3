//! A PostgreSQL cluster of its own: the test kit's, shared with the load benches.

pub use authgate_testkit::postgres::*;
