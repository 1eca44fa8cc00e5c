//! Who is calling and what they may do. Authorization is decided here, in
//! [`authorize`], and every use case that changes or reveals state calls it: the
//! REST handlers, the MLflow-compatible API, the CLI and the UI's server functions
//! all go through the same check (never a hidden button alone).

pub mod audit;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::{Error, Result};
use domain::auth::{Me, Role};
use domain::{JobId, TokenId, UserId};
use sha2::{Digest, Sha256};

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Session,
    Token(TokenId),
    /// The `cairn` CLI working on the database directly (it has the database's trust).
    Cli,
    /// A background job acting for the user who queued it (a training run).
    Job(JobId),
}

/// An authenticated caller, attached to each request by the HTTP layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub via: Via,
    /// The client's address, for the audit log.
    pub ip: Option<String>,
}

impl Principal {
    pub fn me(&self) -> Me {
        Me {
            user_id: self.user_id,
            username: self.username.clone(),
            role: self.role,
            via: match self.via {
                Via::Session => "session",
                Via::Token(_) => "token",
                Via::Cli => "cli",
                Via::Job(_) => "job",
            }
            .to_string(),
        }
    }
}

/// The caller of the current request, as the HTTP layer found it (None: anonymous).
/// Carried in request extensions, where both handlers and server functions read it.
#[derive(Clone, Debug, Default)]
pub struct CurrentUser(pub Option<Principal>);

/// What a caller wants to do, each with the least role allowed to do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read experiments, datasets, models, jobs; manage one's own API tokens.
    Read,
    /// Create and change experiments, datasets, pipelines, projects.
    Write,
    /// Approve or reject promotions.
    Approve,
    /// Create users, change roles, manage anyone's tokens.
    ManageUsers,
    /// Read the audit log.
    ReadAudit,
}

impl Action {
    pub fn min_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Write => Role::Editor,
            Action::Approve => Role::Approver,
            Action::ManageUsers | Action::ReadAudit => Role::Admin,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Action::Read => "read this",
            Action::Write => "change this",
            Action::Approve => "approve or reject",
            Action::ManageUsers => "manage users",
            Action::ReadAudit => "read the audit log",
        }
    }
}

/// The one authorization rule: a role may do what its own and lower roles may.
pub fn authorize(p: &Principal, action: Action) -> Result<()> {
    let needed = action.min_role();
    if p.role >= needed {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "you need the {needed} role to {}; you are signed in as {} ({}). Ask an admin for access",
            action.describe(),
            p.username,
            p.role
        )))
    }
}

/// 32 bytes from the OS's generator, as URL-safe base64 (43 characters).
pub(crate) fn random_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    use base64::Engine;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            user_id: UserId(uuid::Uuid::nil()),
            username: "ana".into(),
            role,
            via: Via::Session,
            ip: None,
        }
    }

    #[test]
    fn every_action_needs_its_role_or_higher() {
        let actions = [Action::Read, Action::Write, Action::Approve, Action::ManageUsers, Action::ReadAudit];
        for role in Role::ALL {
            for action in actions {
                let allowed = authorize(&principal(role), action).is_ok();
                assert_eq!(allowed, role >= action.min_role(), "{role:?} {action:?}");
            }
        }
        let msg = authorize(&principal(Role::Viewer), Action::Write).unwrap_err().to_string();
        assert!(msg.contains("editor role") && msg.contains("viewer"), "{msg}");
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret());
    }
}
