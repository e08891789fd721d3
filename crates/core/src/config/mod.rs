//! Configuration: reading `gateway.yaml`, `${ENV}` expansion, and errors that name the field path.
//!
//! [`load`] returns the raw [`GatewayConfig`]; `authgate::gateway::Gateway::build` (the binary crate) turns it into runtime types
//! and reports every invalid value as a [`ConfigIssue`] with its path (`routes[1].upstream: ...`).

pub mod directory;
pub mod env;
pub mod oauth;
pub mod schema;
pub mod secret;
pub mod shared_state;

pub use directory::*;
pub use oauth::*;
pub use schema::*;
pub use secret::Secret;
pub use shared_state::*;

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// One problem in a configuration file, at a field path such as `providers[0].audiences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted field path, `routes[2].upstream`.
    pub path: String,
    /// What is wrong, in operator terms.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration could not be loaded. Never contains secret values: only paths, names and positions.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {file}: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    /// `${VAR}` expansion failed.
    #[error("{file}: {source}")]
    Env { file: PathBuf, source: env::EnvError },
    /// YAML syntax error, unknown field, or wrong type.
    #[error("{file}: {path}: {message}")]
    Parse {
        file: PathBuf,
        path: String,
        message: String,
    },
    /// The file parsed, but values are invalid.
    #[error("{file}: invalid configuration:\n{}", .issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { file: PathBuf, issues: Vec<ConfigIssue> },
}

/// Reads `file`, expands `${ENV}` references from the process environment and parses it as `T`.
pub fn load_yaml<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_yaml(file, &text, |name| std::env::var(name).ok())
}

/// Parses YAML `text` (named `file` in errors) after expanding `${ENV}` references with `lookup`.
pub fn parse_yaml<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<T, ConfigError> {
    let expanded = env::expand(text, lookup).map_err(|source| ConfigError::Env {
        file: file.to_path_buf(),
        source,
    })?;
    // The path-tracking error is kept aside: when deserialisation stops early, the YAML reader's own
    // (less precise) complaint about the unread rest would otherwise replace it.
    let mut path_error = None;
    let outcome =
        serde_saphyr::with_deserializer_from_str(&expanded, |de| match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) => Ok(Some(value)),
            Err(err) => {
                let path = err.path().to_string();
                path_error = Some((path, err.into_inner().to_string()));
                Ok(None)
            }
        });
    let parse_error = |path: String, message: String| ConfigError::Parse {
        file: file.to_path_buf(),
        path: if path == "." || path == "?" {
            "(top level)".into()
        } else {
            path
        },
        message: first_line(&message),
    };
    if let Some((path, message)) = path_error {
        return Err(parse_error(path, message));
    }
    match outcome {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(parse_error(".".into(), "invalid document".into())),
        Err(err) => Err(parse_error("(syntax)".into(), err.to_string())),
    }
}

/// Keeps error messages to their first line: the YAML library appends source snippets, which could echo an
/// expanded secret back into a log.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_string()
}

/// The configuration file and the directory relative paths in it are resolved against.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// The parsed file.
    pub config: GatewayConfig,
    /// The file it came from.
    pub path: PathBuf,
}

impl ConfigFile {
    /// Loads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Ok(Self {
            config: load_yaml(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Resolves `relative` against the directory of the config file; absolute paths are kept.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        if relative.is_absolute() {
            return relative.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(relative),
            _ => relative.to_path_buf(),
        }
    }
}

/// The YAML files (`*.yaml`, `*.yml`) in `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and parses every YAML file in `dir` (sorted by name) as `T`, with its path. A missing directory is
/// none (logged as "no `what`"); an unreadable one or an invalid file is an error naming the file.
pub fn load_yaml_dir<T: DeserializeOwned>(dir: &Path, what: &str) -> Result<Vec<(PathBuf, T)>, ConfigError> {
    let files = match yaml_files(dir) {
        Ok(files) => files,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "no {what} directory; none loaded");
            return Ok(Vec::new());
        }
        Err(source) => {
            return Err(ConfigError::Read {
                file: dir.to_path_buf(),
                source,
            })
        }
    };
    files
        .into_iter()
        .map(|path| load_yaml(&path).map(|value| (path, value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        parse_yaml(Path::new("gateway.yaml"), text, |n| {
            (n == "AUD").then(|| "https://api.k2.com/".into())
        })
    }

    const MINIMAL: &str = "listeners: [{address: '127.0.0.1:8080'}]\nroutes: []\n";

    #[test]
    fn minimal_config_takes_defaults() {
        let cfg = parse(MINIMAL).unwrap();
        assert_eq!(cfg.admin.address, "127.0.0.1:9901");
        assert_eq!(cfg.headers.user, "X-Authgate-User");
        assert_eq!(cfg.limits.max_token_bytes, 16384);
        assert_eq!(cfg.caches.tokens.capacity, 100_000);
    }

    #[test]
    fn unknown_field_is_an_error_naming_its_path() {
        let err = parse("listeners: [{address: 'x:1', colour: red}]\nroutes: []\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("listeners[0]"), "{text}");
        assert!(text.contains("colour"), "{text}");
    }

    #[test]
    fn wrong_type_names_the_nested_path() {
        let text = format!("{MINIMAL}caches:\n  tokens:\n    capacity: lots\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("caches.tokens.capacity"), "{err}");
    }

    #[test]
    fn env_expansion_feeds_values_and_unset_names_variable() {
        let text = "listeners: []\nroutes: []\nproviders:\n  - name: p\n    issuer: https://idp/\n    audiences: ['${AUD}']\n    jwks: {file: keys.json}\n";
        let cfg = parse(text).unwrap();
        assert_eq!(cfg.providers[0].audiences, vec!["https://api.k2.com/"]);
        assert_eq!(cfg.providers[0].jwks, JwksSourceConfig::File("keys.json".into()));
        let err = parse("listeners: []\nroutes: []\nbasic: {realm: '${NOT_SET}'}\n").unwrap_err();
        assert!(err.to_string().contains("NOT_SET"));
    }

    #[test]
    fn broken_yaml_is_a_syntax_error() {
        let err = parse("listeners: [\nroutes: ]]\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    }
}
