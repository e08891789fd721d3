//! The SmartObject OData v4 API (`/api/odata/v4`), being built: so far the query language.
//!
//! - [`edm`]: EDM types, values and their SQLite storage form.
//! - [`filter`]: `$filter` / `$orderby` parsing into a typed AST, with positioned errors.
//! - [`sql`]: AST → SQL with bound parameters.
//! - [`eval`]: the reference evaluator the SQL translation is tested against.

pub mod edm;
pub mod eval;
pub mod filter;
pub mod sql;
