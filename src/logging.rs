//! The log filter: `RUST_LOG` when set, otherwise `server.log_level` from the configuration, which a reload
//! can change while running. The binary installs the subscriber and hands over a way to swap its filter.
//!
//! Whatever the filter says, libraries never log below `info` ([`library_cap`], [`forward_log_records`]):
//! at debug and trace, pingora logs request and upstream request headers (a forwarded `Authorization`), raw
//! buffers of malformed requests and request targets with their query strings (`access_token=...`), and the
//! HTTP and LDAP client libraries log what they send. Secrets must not reach the log at any level, so no
//! directive can turn these on; authgate's own targets (`authgate::*`) log no secrets and keep every level.

use std::sync::OnceLock;
use tracing::Level;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::EnvFilter;

/// Quiet defaults for the proxy framework, added unless the directives mention it.
const FRAMEWORK: &str = "pingora=warn,pingora_core=warn,pingora_proxy=warn";

/// The most verbose level a library (any target outside authgate) may log at.
pub const LIBRARY_MAX_LEVEL: Level = Level::INFO;

/// Whether an event or span of `target` at `level` may be logged at all: authgate's own at any level,
/// libraries' up to [`LIBRARY_MAX_LEVEL`].
pub fn allowed(target: &str, level: &Level) -> bool {
    *level <= LIBRARY_MAX_LEVEL || target == "authgate" || target.starts_with("authgate::")
}

/// A filter layer applying [`allowed`], beside the reloadable filter (so no directive lifts it).
pub fn library_cap() -> FilterFn {
    fn cap(meta: &tracing::Metadata<'_>) -> bool {
        allowed(meta.target(), meta.level())
    }
    FilterFn::new(cap as fn(&tracing::Metadata<'_>) -> bool)
}

/// Forwards records of libraries that log through the `log` facade (pingora, rustls, ldap3) as tracing
/// events, none more verbose than [`LIBRARY_MAX_LEVEL`] (which also keeps their disabled debug calls cheap).
/// Call once, after the subscriber is installed.
pub fn forward_log_records() -> Result<(), String> {
    tracing_log::LogTracer::builder()
        .with_max_level(tracing_log::log::LevelFilter::Info)
        .init()
        .map_err(|e| e.to_string())
}

/// The level used when neither `RUST_LOG` nor `server.log_level` says otherwise.
pub const DEFAULT_LEVEL: &str = "info";

type Setter = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

static SETTER: OnceLock<Setter> = OnceLock::new();

/// A validated `server.log_level`: `EnvFilter` directives such as `info` or `warn,authgate::access=off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

impl LogLevel {
    /// Parses directives; the error says what is wrong with them.
    pub fn parse(directives: &str) -> Result<Self, String> {
        let level = Self(directives.trim().to_string());
        level.filter().map(|_| level)
    }

    /// The filter, with the framework's defaults added.
    pub fn filter(&self) -> Result<EnvFilter, String> {
        let directives = if self.0.contains("pingora") {
            self.0.clone()
        } else {
            format!("{},{FRAMEWORK}", self.0)
        };
        EnvFilter::try_new(directives).map_err(|e| format!("invalid log directives '{}': {e}", self.0))
    }

    /// The directives as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    fn default() -> Self {
        Self(DEFAULT_LEVEL.to_string())
    }
}

/// Whether `RUST_LOG` decides the filter (then the configuration's level is ignored).
pub fn env_overrides() -> bool {
    std::env::var_os(EnvFilter::DEFAULT_ENV).is_some_and(|v| !v.is_empty())
}

/// The filter to start with: `RUST_LOG`, or the default level.
pub fn initial_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        LogLevel::default()
            .filter()
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL))
    })
}

/// Hands over the subscriber's filter swap (once, at start-up).
pub fn install(setter: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static) {
    let _ = SETTER.set(Box::new(setter));
}

/// Applies the configured level unless `RUST_LOG` is set or no subscriber handed over its filter.
pub fn apply(level: &LogLevel) {
    if env_overrides() {
        return;
    }
    let Some(set) = SETTER.get() else { return };
    match level.filter().and_then(set) {
        Ok(()) => tracing::debug!(log_level = level.as_str(), "log level applied"),
        Err(reason) => tracing::error!(%reason, "log level not applied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_levels_and_directives_and_names_bad_ones() {
        assert!(LogLevel::parse("debug").is_ok());
        assert!(LogLevel::parse("warn,authgate::access=off").is_ok());
        let err = LogLevel::parse("info,authgate=loud").unwrap_err();
        assert!(err.contains("info,authgate=loud"), "{err}");
    }

    #[test]
    fn libraries_never_log_below_info_and_authgate_keeps_every_level() {
        for target in [
            "pingora_proxy",
            "pingora_core::protocols::http::v1::server",
            "h2",
            "hyper",
            "ldap3",
            "log",
        ] {
            assert!(!allowed(target, &Level::DEBUG), "{target}");
            assert!(!allowed(target, &Level::TRACE), "{target}");
            assert!(allowed(target, &Level::INFO), "{target}");
            assert!(allowed(target, &Level::ERROR), "{target}");
        }
        assert!(allowed("authgate", &Level::TRACE));
        assert!(allowed("authgate::access", &Level::DEBUG));
        assert!(!allowed("authgatex", &Level::DEBUG));
    }

    #[test]
    fn framework_defaults_are_added_unless_mentioned() {
        let quiet = LogLevel::parse("debug").unwrap().filter().unwrap().to_string();
        assert!(quiet.contains("pingora=warn"), "{quiet}");
        let chosen = LogLevel::parse("debug,pingora=trace")
            .unwrap()
            .filter()
            .unwrap()
            .to_string();
        assert!(!chosen.contains("pingora=warn"), "{chosen}");
    }
}
