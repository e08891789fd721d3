//! The HTTP pieces of the request path that need no proxy types: request-path normalisation ([`path`]) and
//! the client address behind trusted proxies ([`forwarded`]). The proxy applies them to pingora's requests.

pub mod forwarded;
pub mod path;
