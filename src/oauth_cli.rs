//! `authgate oauth ...`: the administrators' side of outbound OAuth, on the store `gateway.yaml` configures
//! (SQLite or PostgreSQL): list connections (the Tokens view), revoke a user's, and re-encrypt every stored
//! token under the newest vault key (`reseal`, after adding a key and before removing the old one).

use crate::gateway::oauth::OAuthSettings;
use crate::gateway::Gateway;
use anyhow::{bail, Context};
use authgate_apis::outbound::store::{ConnectionStatus, OAuthStore, RefreshOutcome, TokenUpdate};
use authgate_apis::outbound::vault::{Binding, Vault, VaultError, ACCESS_TOKEN, REFRESH_TOKEN};
use authgate_apis::outbound::view::{rows, TokenRow};
use std::fmt::Write as _;
use std::sync::Arc;

fn settings(gateway: &Gateway) -> anyhow::Result<&OAuthSettings> {
    gateway
        .apis
        .oauth
        .as_ref()
        .context("outbound OAuth is not configured (no `oauth:` section in the configuration)")
}

async fn store(gateway: &Gateway) -> anyhow::Result<Arc<dyn OAuthStore>> {
    Ok(gateway.apis.open_stores().await?.oauth)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `oauth tokens list [--user U] [--json]`.
pub async fn list(gateway: &Gateway, user: Option<&str>, json: bool) -> anyhow::Result<String> {
    let oauth = settings(gateway)?;
    let store = store(gateway).await?;
    let records = match user {
        Some(user) => store.connections_of(user).await?,
        None => store.all_connections().await?,
    };
    let rows = rows(&oauth.catalog, &records, now());
    if json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&rows)?));
    }
    Ok(render(&rows))
}

fn render(rows: &[TokenRow]) -> String {
    let mut out = String::new();
    let header = [
        "RESOURCE TYPE",
        "RESOURCE",
        "AUDIENCE",
        "PRIMARY CREDENTIAL",
        "USER",
        "EXPIRES IN (S)",
        "STATUS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.resource_type.clone(),
                r.resource.clone(),
                r.audience.clone(),
                r.primary_credential.clone(),
                r.user_name.clone(),
                r.expires_in_seconds.map_or("-".into(), |s| s.to_string()),
                r.status.as_str().to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut line = |cols: Vec<&str>| {
        let text: Vec<String> = cols.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    let _ = writeln!(out, "{} connection(s)", rows.len());
    out
}

/// `oauth tokens revoke --user U (--resource R | --all)`.
pub async fn revoke(gateway: &Gateway, user: &str, resource: Option<&str>, all: bool) -> anyhow::Result<String> {
    let oauth = settings(gateway)?;
    let store = store(gateway).await?;
    match (resource, all) {
        (Some(resource), false) => {
            let name = oauth
                .catalog
                .resource(resource)
                .map_or(resource.to_string(), |r| r.name.clone());
            if store.revoke(user, &name).await? {
                Ok(format!("revoked {user}'s connection to {name}\n"))
            } else {
                bail!("{user} has no connection to {name}")
            }
        }
        (None, true) => {
            let n = store.revoke_all(user).await?;
            Ok(format!("revoked {n} connection(s) of {user}\n"))
        }
        _ => bail!("give exactly one of --resource and --all"),
    }
}

/// What `reseal` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResealCounts {
    /// Connections re-encrypted under the newest key.
    pub resealed: u64,
    /// Connections already under it.
    pub current: u64,
    /// Connections marked as needing re-authorization (their tokens are unusable; left as they are).
    pub needs_reauthorization: u64,
    /// Connections that changed while being resealed (refreshed meanwhile; run again).
    pub changed: u64,
}

/// Re-encrypts `sealed` under the newest key when it is not already.
fn reseal_one(
    vault: &Vault,
    user: &str,
    resource: &str,
    field: &str,
    sealed: &authgate_apis::outbound::vault::Sealed,
) -> Result<Option<authgate_apis::outbound::vault::Sealed>, VaultError> {
    vault.reseal(Binding { user, resource, field }, sealed)
}

/// `oauth reseal`: every connection's tokens under the newest vault key, each under its refresh lock (so a
/// refresh running at the same time is not overwritten) and keeping its `updated_at`. Idempotent.
pub async fn reseal(gateway: &Gateway) -> anyhow::Result<ResealCounts> {
    let oauth = settings(gateway)?;
    let store = store(gateway).await?;
    let vault = oauth.vault.clone();
    let mut counts = ResealCounts::default();
    for record in store.all_connections().await? {
        if record.status == ConnectionStatus::NeedsReauthorization {
            counts.needs_reauthorization += 1;
            continue;
        }
        let current = Vault::key_id_of(&record.access_token).ok() == Some(vault.current_key_id())
            && record
                .refresh_token
                .as_ref()
                .is_none_or(|r| Vault::key_id_of(r).ok() == Some(vault.current_key_id()));
        if current {
            counts.current += 1;
            continue;
        }
        // Opened before taking the lock, so an undecryptable row is reported with its name.
        let access = reseal_one(
            &vault,
            &record.user,
            &record.resource,
            ACCESS_TOKEN,
            &record.access_token,
        )
        .with_context(|| format!("{}'s access token for {}", record.user, record.resource))?;
        let refresh = match &record.refresh_token {
            Some(r) => reseal_one(&vault, &record.user, &record.resource, REFRESH_TOKEN, r)
                .with_context(|| format!("{}'s refresh token for {}", record.user, record.resource))?,
            None => None,
        };
        let expected = record.clone();
        let update = TokenUpdate {
            resource_type: record.resource_type.clone(),
            access_token: access.unwrap_or_else(|| record.access_token.clone()),
            refresh_token: refresh,
            expires_at: record.expires_at,
        };
        let changed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = changed.clone();
        store
            .with_refresh_lock(
                &record.user,
                &record.resource,
                record.updated_at,
                Box::new(move |now_row| {
                    Box::pin(async move {
                        if now_row == expected {
                            RefreshOutcome::Tokens(update)
                        } else {
                            flag.store(true, std::sync::atomic::Ordering::Relaxed);
                            RefreshOutcome::Keep
                        }
                    })
                }),
            )
            .await?;
        if changed.load(std::sync::atomic::Ordering::Relaxed) {
            counts.changed += 1;
        } else {
            counts.resealed += 1;
        }
    }
    Ok(counts)
}

/// The report line of `reseal`.
pub fn describe(counts: &ResealCounts, key: &str) -> String {
    format!(
        "resealed {} connection(s) under vault key '{key}'; {} already under it; {} needing re-authorization \
         left as they are; {} changed meanwhile (run again)\n",
        counts.resealed, counts.current, counts.needs_reauthorization, counts.changed
    )
}
