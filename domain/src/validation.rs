//! User-facing validation failures: which field, and what to do about it.

use serde::{Deserialize, Serialize};

/// One rule a piece of input broke. `field` names the input (a JSON path or a form
/// field) so the UI can show the message next to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Rules for names people type (projects, experiments, models): shown in URLs and
/// tables, so they must be short, printable and not blank.
pub fn check_name(field: &str, value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if trimmed != value {
        return Err(ValidationError::new(field, "must not start or end with spaces"));
    }
    if value.chars().count() > 100 {
        return Err(ValidationError::new(field, "must be at most 100 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "fraud-detection").is_ok());
        assert!(check_name("name", "Credit scoring v2").is_ok());
        assert_eq!(check_name("name", "").unwrap_err().message, "must not be empty");
        assert_eq!(check_name("name", "   ").unwrap_err().message, "must not be empty");
        assert!(check_name("name", " x").is_err());
        assert!(check_name("name", "a\u{0007}b").is_err());
        assert!(check_name("name", &"x".repeat(101)).is_err());
        assert!(check_name("name", &"é".repeat(100)).is_ok());
    }
}
