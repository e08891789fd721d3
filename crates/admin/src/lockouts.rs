//! The Lockouts page's API: the accounts and client addresses with failed logins or a running lock (from the
//! shared store when configured, else this replica's counters), and an administrator's unlock (audited as
//! `lockout.unlock`, before `{failures, locked_until}`, after `null`).

use crate::api::{now, Admin, AdminState, ApiError};
use authgate_apis::store::admin::AuditRecord;
use authgate_core::shared::LockState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The most counters of each kind listed.
pub const LIST_MAX: usize = 1000;

/// When a lock that lasts `left` more ends, RFC 3339 to the second.
fn until(left: Duration) -> Option<String> {
    let at = jiff::Timestamp::now().checked_add(left).ok()?;
    Some(at.round(jiff::Unit::Second).unwrap_or(at).to_string())
}

/// One listed counter, its key under `key_name` (`name`, `ip`).
fn entry(key_name: &str, state: &LockState) -> Value {
    let mut entry = json!({
        "failures": state.failures,
        "locked_until": state.locked_for.and_then(until),
    });
    entry[key_name] = json!(state.key);
    entry
}

/// `GET lockouts`.
pub(crate) async fn list(State(state): State<Arc<AdminState>>) -> Response {
    let (users, ips) = match state.host().lockout() {
        Some(lockout) => (
            lockout.account_states(LIST_MAX).await,
            lockout.ip_states(LIST_MAX).await,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Json(json!({
        "users": users.iter().map(|s| entry("name", s)).collect::<Vec<_>>(),
        "ips": ips.iter().map(|s| entry("ip", s)).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// The audit of one unlock.
async fn audited(state: &AdminState, who: &str, target: String, before: &LockState) {
    state
        .audit(AuditRecord {
            who: who.to_string(),
            at: now(),
            action: "lockout.unlock".into(),
            target,
            before: json!({"failures": before.failures, "locked_until": before.locked_for.and_then(until)}),
            after: Value::Null,
        })
        .await;
}

/// `DELETE lockouts/users/{name}`.
pub(crate) async fn unlock_user(
    State(state): State<Arc<AdminState>>,
    Extension(Admin(who)): Extension<Admin>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let lockout = state
        .host()
        .lockout()
        .ok_or_else(|| ApiError::Missing("Basic authentication is off: nothing is locked".into()))?;
    let before = lockout
        .unlock_account(&name)
        .await
        .ok_or_else(|| ApiError::Missing(format!("no failures or lock for the account {name:?}")))?;
    audited(&state, &who.fqn, before.key.clone(), &before).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE lockouts/ips/{ip}`.
pub(crate) async fn unlock_ip(
    State(state): State<Arc<AdminState>>,
    Extension(Admin(who)): Extension<Admin>,
    Path(ip): Path<String>,
) -> Result<StatusCode, ApiError> {
    let address: IpAddr = ip.parse().map_err(|_| ApiError::Field {
        field: "ip",
        message: format!("{ip:?} is not an IP address"),
    })?;
    let lockout = state
        .host()
        .lockout()
        .ok_or_else(|| ApiError::Missing("Basic authentication is off: nothing is locked".into()))?;
    let before = lockout
        .unlock_ip(address)
        .await
        .ok_or_else(|| ApiError::Missing(format!("no failures or lock for the address {address}")))?;
    audited(&state, &who.fqn, address.to_string(), &before).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_their_key_and_give_the_lock_end() {
        let locked = LockState {
            key: "alice".into(),
            failures: 0,
            locked_for: Some(Duration::from_secs(60)),
        };
        let e = entry("name", &locked);
        assert_eq!(e["name"], "alice");
        let end: jiff::Timestamp = e["locked_until"].as_str().expect("a time").parse().expect("RFC 3339");
        let left = end.duration_since(jiff::Timestamp::now()).as_secs();
        assert!((58..=61).contains(&left), "{left}");
        let failing = LockState {
            key: "192.0.2.7".into(),
            failures: 2,
            locked_for: None,
        };
        assert_eq!(
            entry("ip", &failing),
            json!({"ip": "192.0.2.7", "failures": 2, "locked_until": null})
        );
    }
}
