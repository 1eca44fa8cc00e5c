//! Page tokens: opaque to clients (base64), so their content can change later.

use crate::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::ValidationError;

fn bad() -> Error {
    Error::Validation(ValidationError::new(
        "page_token",
        "this page token is not valid; start from the first page",
    ))
}

/// A token carrying one number (an offset or the last id seen).
pub fn encode_after(n: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("a:{n}"))
}

pub fn decode_after(t: &str) -> Result<i64> {
    let raw = URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix("a:").and_then(|n| n.parse().ok()).filter(|n: &i64| *n >= 0).ok_or_else(bad)
}

/// A token carrying a keyset position of two numbers.
pub fn encode_pair(a: i64, b: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p:{a}:{b}"))
}

pub fn decode_pair(t: &str) -> Result<(i64, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let rest = s.strip_prefix("p:").ok_or_else(bad)?;
    let (a, b) = rest.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_after(&encode_after(42)).unwrap(), 42);
        assert_eq!(decode_pair(&encode_pair(-3, 9)).unwrap(), (-3, 9));
        assert!(decode_after("!!").is_err());
        assert!(decode_pair(&encode_after(1)).is_err());
    }
}
