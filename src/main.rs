//! The `authgate` command line: serve, check, hash-password, token inspect, consent-url, bench-tokens, oauth,
//! version.

use anyhow::{bail, Context};
use authgate::gateway::Gateway;
use authgate_core::config::ConfigFile;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// mimalloc instead of glibc malloc: the proxy allocates per request (headers, contexts), and glibc's allocator
/// was a tenth of its CPU time in the load benchmark (`benches/load`, docs/architecture.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        #[arg(long, default_value = authgate_core::directory::consent::DEFAULT_RESOURCE)]
        resource: String,
        /// The Azure AD authority (national clouds have their own).
        #[arg(long, default_value = authgate_core::directory::consent::DEFAULT_AUTHORITY)]
        authority: String,
    },
    /// Mint tokens in-process and measure how fast the bearer path validates them, on all cores (no load
    /// generator needed). Also writes tokens and their JWKS for load tests.
    BenchTokens(BenchTokensArgs),
    /// Outbound OAuth: users' connections to third-party services (the Tokens view), and vault key rotation.
    Oauth {
        #[command(subcommand)]
        command: OAuthCommand,
    },
}

#[derive(Subcommand)]
enum OAuthCommand {
    /// Users' connections.
    Tokens {
        #[command(subcommand)]
        command: OAuthTokensCommand,
    },
    /// Re-encrypt every stored token under the newest vault key (the first listed); prints counts. Run it
    /// after adding a key (and reloading the gateways), before removing the old one. Idempotent.
    Reseal {
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum OAuthTokensCommand {
    /// List connections: resource type, resource, audience, primary credential, user, expires in, status.
    List {
        /// Only this user's (fully qualified name, case-insensitive).
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
    },
    /// Revoke a user's connection to one resource, or all of them.
    Revoke {
        /// The user (fully qualified name, case-insensitive).
        #[arg(long)]
        user: String,
        /// The resource.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        resource: Option<String>,
        /// Every connection of the user.
        #[arg(long)]
        all: bool,
        /// Configuration file.
        #[arg(long, short, default_value = "gateway.yaml", env = "AUTHGATE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct BenchTokensArgs {
    /// Signing algorithm: RS256, PS256 (RSA-2048), ES256, ES384, EdDSA (Ed25519).
    #[arg(long, default_value = "RS256")]
    alg: authgate_core::signing::SigningAlg,
    /// Validations to run in total (0: only mint and write).
    #[arg(long, default_value_t = 200_000)]
    count: u64,
    /// Distinct tokens minted (each with its own `jti`); validation `i` uses token `i % distinct`.
    #[arg(long, default_value = "1000")]
    distinct: std::num::NonZeroUsize,
    /// Turn the verified-token cache on (capacity: the distinct tokens). Off: every signature is verified.
    #[arg(long)]
    cache: bool,
    /// Threads minting and validating. Default: all cores.
    #[arg(long)]
    threads: Option<std::num::NonZeroUsize>,
    /// Token lifetime in seconds (`exp` = now + lifetime).
    #[arg(long, default_value_t = 3600)]
    lifetime: u32,
    /// A JSON object of claims merged over the defaults (iss https://idp.test/, aud https://api.k2.com/,
    /// preferred_username, tid, groups, scp); its `iss` and `aud` configure the verifier.
    #[arg(long, value_name = "FILE")]
    claims: Option<PathBuf>,
    /// Write the minted tokens here, one per line.
    #[arg(long, value_name = "FILE")]
    write_tokens: Option<PathBuf>,
    /// Write the JWKS that verifies them here.
    #[arg(long, value_name = "FILE")]
    write_jwks: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
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
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    let json = std::env::var("AUTHGATE_LOG_FORMAT").is_ok_and(|v| v == "json");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (filter, handle) = tracing_subscriber::reload::Layer::new(authgate::logging::initial_filter());
    let format = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let format = if json { format.json().boxed() } else { format.boxed() };
    // The library cap sits beside the reloadable filter: `RUST_LOG` and `server.log_level` cannot lift it.
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(authgate::logging::library_cap())
        .with(format);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    if let Err(reason) = authgate::logging::forward_log_records() {
        tracing::warn!(%reason, "library log records are not forwarded");
    }
    authgate::logging::install(move |filter| handle.reload(filter).map_err(|e| e.to_string()));
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
            authgate::logging::apply(&gateway.server.log_level);
            if let Some(dir) = gateway.apis.socket.parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            authgate::serve::run(Arc::new(gateway))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Check { config, diagnostics } => {
            let (file, gateway) = load(&config)?;
            print!("{}", authgate::inspect::summary(&file, &gateway));
            println!("database: {}", gateway.apis.describe_database());
            let admin = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(authgate::inspect::admin_summary(&gateway)));
            match admin {
                Ok(lines) => lines.iter().for_each(|line| println!("{line}")),
                Err(e) => println!("runtime settings: cannot start a runtime: {e}"),
            }
            if let Some(shared) = &gateway.shared {
                let reached = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|runtime| runtime.block_on(shared.ping()));
                match reached {
                    Ok(()) => println!("shared state reachable: {}", shared.describe()),
                    Err(e) => println!("shared state UNREACHABLE: {}: {e}", shared.describe()),
                }
            }
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
            let hash = authgate_core::directory::embedded::hash_password(&password)
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
            let url = authgate_core::directory::consent::admin_consent_url(
                &authgate_core::directory::consent::ConsentRequest {
                    tenant: &tenant,
                    client_id: &client_id,
                    redirect_uri: &redirect_uri,
                    resource: Some(&resource),
                    authority: &authority,
                },
            )?;
            println!("{url}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::BenchTokens(args) => bench_tokens(args),
        Command::Oauth { command } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let out = match command {
                OAuthCommand::Tokens {
                    command: OAuthTokensCommand::List { user, json, config },
                } => {
                    let (_, gateway) = load(&config)?;
                    runtime.block_on(authgate::oauth_cli::list(&gateway, user.as_deref(), json))?
                }
                OAuthCommand::Tokens {
                    command:
                        OAuthTokensCommand::Revoke {
                            user,
                            resource,
                            all,
                            config,
                        },
                } => {
                    let (_, gateway) = load(&config)?;
                    runtime.block_on(authgate::oauth_cli::revoke(&gateway, &user, resource.as_deref(), all))?
                }
                OAuthCommand::Reseal { config } => {
                    let (_, gateway) = load(&config)?;
                    let counts = runtime.block_on(authgate::oauth_cli::reseal(&gateway))?;
                    let key = gateway
                        .apis
                        .oauth
                        .as_ref()
                        .map(|o| o.vault.current_key_id().to_string())
                        .unwrap_or_default();
                    authgate::oauth_cli::describe(&counts, &key)
                }
            };
            print!("{out}");
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

fn bench_tokens(args: BenchTokensArgs) -> anyhow::Result<std::process::ExitCode> {
    use authgate::tokenbench::{run, MintOptions, RunOptions, TokenSet};
    let claims = match &args.claims {
        None => serde_json::Map::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            match value {
                serde_json::Value::Object(map) => map,
                _ => return Err(authgate::tokenbench::BenchError::ClaimsNotObject.into()),
            }
        }
    };
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .unwrap_or(std::num::NonZeroUsize::MIN);
    let set = TokenSet::mint(&MintOptions {
        alg: args.alg,
        distinct: args.distinct,
        lifetime: args.lifetime,
        claims,
        threads,
    })?;
    if let Some(path) = &args.write_tokens {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        set.write_tokens(&mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.write_jwks {
        std::fs::write(path, format!("{:#}\n", set.jwks())).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.count == 0 {
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let report = run(
        &set,
        RunOptions {
            count: args.count,
            threads,
            cache: args.cache,
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.failures == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
