//! authgate's admin API and management console, served by the binary on the admin listener under `/admin/`
//! (the console's pages, [`console`]) and `/admin/api/v1/` (the API): who may use it
//! ([`access`]), CSRF tokens ([`csrf`]), the runtime settings that override `gateway.yaml` ([`settings`]), and
//! the axum routes ([`api`]). What only the binary knows (the authenticators, the routes, the SmartObjects, the
//! live state) reaches it through [`host::AdminHost`]; what every replica shares is in the store
//! ([`authgate_apis::store::admin::AdminStore`]). No pingora here.

pub mod access;
pub mod api;
mod consent;
pub mod console;
pub mod csrf;
pub mod host;
mod inspect;
pub mod live;
mod lockouts;
mod oauth;
pub mod replicas;
pub mod settings;

pub use api::{router, AdminState};
