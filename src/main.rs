//! The `authgate` command line: serve, check, hash-password, token inspect, consent-url, version.

use anyhow::{bail, Context};
use authgate::config::ConfigFile;
use authgate::gateway::Gateway;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "authgate",
    version,
    about = "Sidecar authentication gateway (Basic + OAuth bearer)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
    },
    /// Validate the configuration and print a summary.
    Check {
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
        /// Also warn about valid but suspicious settings (exit status 1 when there are warnings).
        #[arg(long)]
        diagnostics: bool,
    },
    /// Print an argon2id hash of a password read from standard input (never from the command line).
    HashPassword,
    /// Token tools.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the Azure AD admin-consent URL a tenant administrator opens once, so that the gateway's
    /// application may sign users in (Azure AD answers AADSTS65001 / AADSTS90094 until then).
    ConsentUrl {
        /// Tenant id (GUID) or domain, e.g. contoso.onmicrosoft.com.
        #[arg(long)]
        tenant: String,
        /// The application (client) id.
        #[arg(long)]
        client_id: String,
        /// Where Azure AD sends the administrator afterwards (registered on the application).
        #[arg(long)]
        redirect_uri: String,
        /// The API resource consented to.
        #[arg(long, default_value = authgate::directory::consent::DEFAULT_RESOURCE)]
        resource: String,
        /// The Azure AD authority (national clouds have their own).
        #[arg(long, default_value = authgate::directory::consent::DEFAULT_AUTHORITY)]
        authority: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Decode a token and explain, check by check, whether this gateway would accept it.
    Inspect {
        /// The token; read from standard input when absent or `-`.
        token: Option<String>,
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
        /// Do not fetch signing keys (skip the signature check).
        #[arg(long)]
        offline: bool,
    },
}

fn init_tracing() {
    let json = std::env::var("AUTHGATE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(authgate::logging::initial_filter())
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // The two formats are different types; each hands over its own filter swap.
    if json {
        let builder = builder.json().with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        authgate::logging::install(move |filter| handle.reload(filter).map_err(|e| e.to_string()));
    } else {
        let builder = builder.with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        authgate::logging::install(move |filter| handle.reload(filter).map_err(|e| e.to_string()));
    }
}

fn load(config: &std::path::Path) -> anyhow::Result<(ConfigFile, Gateway)> {
    let file = ConfigFile::load(config)?;
    let gateway = Gateway::build(&file)?;
    Ok((file, gateway))
}

fn read_stdin_line(what: &str) -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .with_context(|| format!("reading the {what} from standard input"))?;
    Ok(input.trim_end_matches(['\r', '\n']).to_string())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("authgate: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve { config } => {
            init_tracing();
            let (_, gateway) = load(&config)?;
            authgate::logging::apply(&gateway.log_level);
            if let Some(dir) = gateway.builtin_socket.parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            authgate::proxy::server::run(Arc::new(gateway))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Check { config, diagnostics } => {
            let (file, gateway) = load(&config)?;
            print!("{}", authgate::inspect::summary(&file, &gateway));
            if diagnostics {
                let warnings = authgate::diagnostics::diagnose(&file);
                for warning in &warnings {
                    println!("{warning}");
                }
                println!("diagnostics: {} warning(s)", warnings.len());
                if !warnings.is_empty() {
                    return Ok(std::process::ExitCode::from(1));
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::HashPassword => {
            let password = zeroize::Zeroizing::new(read_stdin_line("password")?);
            if password.is_empty() {
                bail!("empty password on standard input");
            }
            let hash = authgate::directory::embedded::hash_password(&password)
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
            println!("{hash}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ConsentUrl {
            tenant,
            client_id,
            redirect_uri,
            resource,
            authority,
        } => {
            let url = authgate::directory::consent::admin_consent_url(&authgate::directory::consent::ConsentRequest {
                tenant: &tenant,
                client_id: &client_id,
                redirect_uri: &redirect_uri,
                resource: Some(&resource),
                authority: &authority,
            })?;
            println!("{url}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::Inspect { token, config, offline },
        } => {
            let token = match token.as_deref() {
                None | Some("-") => read_stdin_line("token")?,
                Some(t) => t.to_string(),
            };
            let (_, gateway) = load(&config)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(authgate::inspect::inspect(&gateway, token.trim(), !offline));
            print!("{}", report.render());
            Ok(if report.accepted() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
    }
}
