//! Password hashing with argon2id. Hashing is deliberately slow, so it runs on the
//! blocking pool and never stalls the async runtime.

use crate::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Other(anyhow::anyhow!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("hashing task failed: {e}")))?
}

/// True when `password` matches `stored`. A malformed stored hash is an error,
/// not a silent "no".
pub async fn verify(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Other(anyhow::anyhow!("stored hash unreadable: {e}")))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("verify task failed: {e}")))?
}

/// A password people can type: 20 characters from an alphabet without look-alikes.
pub fn generate() -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery".into(), h.clone()).await.unwrap());
        assert!(!verify("wrong horse battery".into(), h).await.unwrap());
        assert!(verify("x".into(), "not a hash".into()).await.is_err());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..20 {
            let p = generate();
            assert_eq!(p.len(), 20);
            assert!(domain::auth::check_password("someone", &p).is_ok(), "{p}");
        }
    }
}
