//! Users, roles, tokens and the audit log, as the API and the UI see them.

use crate::ValidationError;
use crate::ids::{TokenId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Ordered: each role may do everything the roles before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "role",
                format!("'{s}' is not a role; use viewer, editor, approver or admin"),
            )
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// Who is calling, and how they proved it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    /// "session" (browser cookie) or "token" (API token).
    pub via: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Body of `POST /api/v1/users`. Without a password, one is generated and returned once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub role: Role,
    #[serde(default)]
    pub password: Option<String>,
}

/// A created user and, when Cairn generated it, the password (shown this once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedUser {
    pub user: User,
    pub generated_password: Option<String>,
}

/// Body of `PATCH /api/v1/users/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub token_id: TokenId,
    pub user_id: UserId,
    pub username: String,
    pub name: String,
    /// The first characters of the secret, to recognise it; never the whole secret.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    /// Days until the token stops working; none for no expiry.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A created token with its secret, which is shown this once and never stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    /// "ok", "denied" or "failed".
    pub outcome: String,
    pub ip: Option<String>,
    pub details: String,
}

/// Filters for the audit log; `before` pages backwards by `audit_id`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub outcome: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// Events per page of the audit log unless a limit is asked for.
pub const AUDIT_PAGE_SIZE: i64 = 100;

pub const MIN_PASSWORD_CHARS: usize = 12;

/// The password policy: long enough to resist guessing, not the username, and
/// bounded so hashing cannot be used to burn CPU.
pub fn check_password(username: &str, password: &str) -> Result<(), ValidationError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters (got {n})"),
        ));
    }
    if n > 256 {
        return Err(ValidationError::new("password", "must be at most 256 characters"));
    }
    if password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(ValidationError::new("password", "must not contain the username"));
    }
    if password.chars().collect::<std::collections::HashSet<_>>().len() < 5 {
        return Err(ValidationError::new("password", "must use at least 5 different characters"));
    }
    Ok(())
}

/// Usernames appear in URLs, logs and the audit log: keep them simple.
pub fn check_username(username: &str) -> Result<(), ValidationError> {
    let ok_chars = username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if username.is_empty() || username.len() > 64 || !ok_chars {
        return Err(ValidationError::new(
            "username",
            "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Approver && Role::Approver < Role::Admin);
        assert_eq!("approver".parse::<Role>().unwrap(), Role::Approver);
        assert!("root".parse::<Role>().unwrap_err().message.contains("viewer, editor"));
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
    }

    #[test]
    fn password_policy() {
        assert!(check_password("ana", "correct horse battery").is_ok());
        assert_eq!(check_password("ana", "short").unwrap_err().field, "password");
        assert!(check_password("ana", "xxana-is-my-name").unwrap_err().message.contains("username"));
        assert!(check_password("bob", "aaaaaaaaaaaaaaaa").unwrap_err().message.contains("different"));
        assert!(check_password("bob", &"ab1!-".repeat(60)).is_err());
    }

    #[test]
    fn usernames() {
        assert!(check_username("ana.lopez@corp").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("has space").is_err());
    }
}
