//! The platform rules, applied to every authenticated identity:
//! only AD and AAD user managers may use the APIs (per route, `[ad, aad]` by default), and Basic
//! authentication of an AAD account with MFA enabled is refused with a pointer to OAuth.

use super::errors::AuthError;
use crate::identity::{AuthMethod, Identity, UserManager};

/// Applies the rules to `identity` on a route allowing `allowed` user managers.
pub fn check(identity: &Identity, allowed: &[UserManager]) -> Result<(), AuthError> {
    if identity.auth_method == AuthMethod::Basic && identity.user_manager == UserManager::Aad && identity.mfa {
        return Err(AuthError::MfaRequiresOAuth);
    }
    if !allowed.contains(&identity.user_manager) {
        return Err(AuthError::UserManagerRefused(identity.user_manager.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(manager: &str, method: AuthMethod, mfa: bool) -> Identity {
        Identity {
            name: "u".into(),
            fqn: "X:u".into(),
            user_manager: UserManager::from_label(manager),
            auth_method: method,
            email: None,
            display_name: None,
            groups: vec![],
            mfa,
            tenant: None,
            scopes: vec![],
            roles: vec![],
            provider: None,
        }
    }

    const PLATFORM: [UserManager; 2] = [UserManager::Ad, UserManager::Aad];

    #[test]
    fn ad_and_aad_pass_others_are_refused() {
        assert!(check(&identity("ad", AuthMethod::Basic, false), &PLATFORM).is_ok());
        assert!(check(&identity("aad", AuthMethod::OAuth, false), &PLATFORM).is_ok());
        for other in ["sql", "forms", "sharepoint"] {
            assert!(matches!(
                check(&identity(other, AuthMethod::Basic, false), &PLATFORM),
                Err(AuthError::UserManagerRefused(_))
            ));
        }
    }

    #[test]
    fn mfa_blocks_basic_for_aad_only() {
        assert_eq!(
            check(&identity("aad", AuthMethod::Basic, true), &PLATFORM),
            Err(AuthError::MfaRequiresOAuth)
        );
        assert!(check(&identity("aad", AuthMethod::OAuth, true), &PLATFORM).is_ok());
        assert!(check(&identity("ad", AuthMethod::Basic, true), &PLATFORM).is_ok());
    }
}
