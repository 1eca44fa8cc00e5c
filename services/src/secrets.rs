//! Encryption of secrets Cairn stores (webhook signing keys, data-source connection
//! URLs) under the operator's `CAIRN_SECRET_KEY`.
//!
//! A stored value looks like `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`:
//!
//! - the 256-bit key is derived from `CAIRN_SECRET_KEY` with HKDF-SHA256 (so any
//!   string of at least 32 characters makes a uniform key, and the same passphrase
//!   never serves another purpose by accident);
//! - the cipher is XChaCha20-Poly1305 (RustCrypto, pure Rust) with a random 192-bit
//!   nonce per value: nonces that large can be drawn at random without counting;
//! - the *purpose* (e.g. `webhook.secret`) is authenticated as associated data, so a
//!   ciphertext copied from one column into another does not decrypt there;
//! - the key id (8 hex digits, derived from the key, revealing nothing about it) lets
//!   a failure say "encrypted under another key" instead of "corrupt", and leaves
//!   room for rotation (decrypting with a list of keys) later.
//!
//! `v1` names this whole scheme; a new scheme gets a new prefix, and old values stay
//! readable by their own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;

/// Fewest characters `CAIRN_SECRET_KEY` may have (the server's config checks it too).
pub const MIN_KEY_CHARS: usize = 32;

/// Prefix of every value [`SecretCipher::encrypt`] produces.
pub const V1_PREFIX: &str = "v1:";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// HKDF salt: fixed, public, and Cairn's own, so the derived keys differ from those of
/// any other program handed the same passphrase.
const HKDF_SALT: &[u8] = b"cairn stored secrets";
const HKDF_INFO_KEY: &[u8] = b"cairn v1 xchacha20poly1305 key";
const HKDF_INFO_KEY_ID: &[u8] = b"cairn v1 key id";

/// Associated data for webhook signing secrets.
pub const PURPOSE_WEBHOOK_SECRET: &str = "webhook.secret";
/// Associated data for data-source connection URLs.
pub const PURPOSE_DATA_SOURCE_URL: &str = "data_source.url";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "CAIRN_SECRET_KEY must be at least {MIN_KEY_CHARS} characters (got {0}); generate one with `openssl rand -hex 32`"
    )]
    KeyTooShort(usize),
    #[error(
        "this process has no CAIRN_SECRET_KEY, which is needed to store or read secrets; set the same key as `cairn serve` uses"
    )]
    NoKey,
    #[error("stored secret is not in a format Cairn knows (expected `v1:<key id>:<base64>`)")]
    UnknownFormat,
    #[error(
        "stored secret cannot be decrypted: CAIRN_SECRET_KEY changed? It was encrypted under key id {stored}, this process has key id {current}"
    )]
    OtherKey { stored: String, current: String },
    #[error("stored secret cannot be decrypted: CAIRN_SECRET_KEY changed, or the stored value was altered")]
    Undecryptable,
}

impl From<SecretError> for crate::Error {
    /// A secret Cairn cannot read is the operator's problem (the key), not the
    /// caller's: it becomes an internal error, logged with this message.
    fn from(e: SecretError) -> Self {
        crate::Error::Other(anyhow::Error::new(e))
    }
}

/// Encrypts and decrypts stored secrets. Cheap to clone; `Debug` shows only the key id.
#[derive(Clone)]
pub struct SecretCipher {
    inner: Arc<Inner>,
}

struct Inner {
    cipher: XChaCha20Poly1305,
    key_id: String,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretCipher(key id {})", self.inner.key_id)
    }
}

impl SecretCipher {
    /// Derives the key from `CAIRN_SECRET_KEY` (at least [`MIN_KEY_CHARS`] characters).
    pub fn from_passphrase(passphrase: &str) -> Result<Self, SecretError> {
        let chars = passphrase.chars().count();
        if chars < MIN_KEY_CHARS {
            return Err(SecretError::KeyTooShort(chars));
        }
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), passphrase.as_bytes());
        let mut key = [0u8; 32];
        let mut id = [0u8; 4];
        // `expand` fails only for outputs longer than 255 hash lengths.
        hk.expand(HKDF_INFO_KEY, &mut key).map_err(|_| SecretError::Undecryptable)?;
        hk.expand(HKDF_INFO_KEY_ID, &mut id).map_err(|_| SecretError::Undecryptable)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&key));
        Ok(Self { inner: Arc::new(Inner { cipher, key_id: hex::encode(id) }) })
    }

    /// 8 hex digits naming the key (not secret: derived one-way, separately from it).
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, a fresh random nonce each call.
    pub fn encrypt(&self, purpose: &str, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with an in-memory buffer cannot fail (the length limit is 256 GiB).
        let sealed = self
            .inner
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: purpose.as_bytes() })
            .unwrap_or_default();
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        format!("{V1_PREFIX}{}:{}", self.inner.key_id, URL_SAFE_NO_PAD.encode(raw))
    }

    /// The plaintext of a value [`encrypt`](Self::encrypt)ed with the same key and purpose.
    pub fn decrypt(&self, purpose: &str, stored: &str) -> Result<String, SecretError> {
        let rest = stored.strip_prefix(V1_PREFIX).ok_or(SecretError::UnknownFormat)?;
        let (key_id, body) = rest.split_once(':').ok_or(SecretError::UnknownFormat)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::UnknownFormat)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::UnknownFormat);
        }
        if key_id != self.inner.key_id {
            return Err(SecretError::OtherKey {
                stored: key_id.to_string(),
                current: self.inner.key_id.clone(),
            });
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let plain = self
            .inner
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: purpose.as_bytes() })
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

/// True when `stored` is in a format [`SecretCipher::decrypt`] reads.
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(V1_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let c = SecretCipher::from_passphrase(KEY).unwrap();
        let a = c.encrypt(PURPOSE_WEBHOOK_SECRET, "hunter2-hunter2-hunter2");
        let b = c.encrypt(PURPOSE_WEBHOOK_SECRET, "hunter2-hunter2-hunter2");
        assert_ne!(a, b, "same plaintext must not give the same ciphertext");
        assert!(a.starts_with("v1:") && is_encrypted(&a), "{a}");
        assert!(!a.contains("hunter2"));
        assert_eq!(c.decrypt(PURPOSE_WEBHOOK_SECRET, &a).unwrap(), "hunter2-hunter2-hunter2");
        assert_eq!(c.decrypt(PURPOSE_WEBHOOK_SECRET, &b).unwrap(), "hunter2-hunter2-hunter2");
        assert_eq!(c.decrypt(PURPOSE_WEBHOOK_SECRET, &c.encrypt(PURPOSE_WEBHOOK_SECRET, "")).unwrap(), "");
    }

    #[test]
    fn the_same_passphrase_derives_the_same_key() {
        let a = SecretCipher::from_passphrase(KEY).unwrap();
        let b = SecretCipher::from_passphrase(KEY).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(b.decrypt("p", &a.encrypt("p", "x")).unwrap(), "x");
    }

    #[test]
    fn another_key_says_the_key_changed() {
        let a = SecretCipher::from_passphrase(KEY).unwrap();
        let b = SecretCipher::from_passphrase(&format!("{KEY}!")).unwrap();
        assert_ne!(a.key_id(), b.key_id());
        let err = b.decrypt("p", &a.encrypt("p", "x")).unwrap_err().to_string();
        assert!(err.contains("stored secret cannot be decrypted: CAIRN_SECRET_KEY changed?"), "{err}");
    }

    #[test]
    fn tampering_and_wrong_purpose_are_refused() {
        let c = SecretCipher::from_passphrase(KEY).unwrap();
        let stored = c.encrypt(PURPOSE_WEBHOOK_SECRET, "secret value");
        assert!(matches!(c.decrypt(PURPOSE_DATA_SOURCE_URL, &stored), Err(SecretError::Undecryptable)));
        // Flip one character of the ciphertext.
        let mut bytes = stored.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let err = c.decrypt(PURPOSE_WEBHOOK_SECRET, &tampered).unwrap_err();
        assert!(matches!(err, SecretError::Undecryptable | SecretError::UnknownFormat), "{err:?}");
    }

    #[test]
    fn malformed_values_and_short_keys_are_errors_not_panics() {
        let c = SecretCipher::from_passphrase(KEY).unwrap();
        for bad in ["", "plain", "v1:", "v1:abc", "v1:abcd1234:", "v1:abcd1234:!!!", "v2:x:y"] {
            assert!(matches!(c.decrypt("p", bad), Err(SecretError::UnknownFormat)), "{bad}");
        }
        let err = SecretCipher::from_passphrase("short").unwrap_err().to_string();
        assert!(err.contains("at least 32"), "{err}");
        assert!(!format!("{c:?}").contains(KEY));
    }
}
