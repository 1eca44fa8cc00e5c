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

/// Where a keyset page ended: the last run's sort value, start time and id.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyset {
    pub value: SortValue,
    pub start_time: i64,
    pub run_id: uuid::Uuid,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SortValue {
    Null,
    /// Kept as its bits so NaN and every float round-trip exactly.
    Num(f64),
    Text(String),
}

pub fn encode_keyset(k: &Keyset) -> String {
    let value = match &k.value {
        SortValue::Null => "n".to_string(),
        SortValue::Num(v) => format!("f{:016x}", v.to_bits()),
        SortValue::Text(s) => format!("s{s}"),
    };
    URL_SAFE_NO_PAD.encode(format!("k:{}:{}:{value}", k.start_time, k.run_id.simple()))
}

/// A keyset token, or None when `t` is another kind of token (an offset).
pub fn decode_keyset(t: &str) -> Result<Option<Keyset>> {
    let raw = URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let Some(rest) = s.strip_prefix("k:") else { return Ok(None) };
    let mut parts = rest.splitn(3, ':');
    let (Some(start), Some(id), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let value = match value.split_at_checked(1) {
        Some(("n", "")) => SortValue::Null,
        Some(("f", bits)) => {
            SortValue::Num(f64::from_bits(u64::from_str_radix(bits, 16).map_err(|_| bad())?))
        }
        Some(("s", text)) => SortValue::Text(text.to_string()),
        _ => return Err(bad()),
    };
    Ok(Some(Keyset {
        value,
        start_time: start.parse().map_err(|_| bad())?,
        run_id: uuid::Uuid::try_parse(id).map_err(|_| bad())?,
    }))
}

#[cfg(test)]
mod keyset_tests {
    use super::*;

    #[test]
    fn keysets_round_trip_exactly() {
        for value in [SortValue::Null, SortValue::Num(0.1), SortValue::Text("a:b".into())] {
            let k = Keyset { value, start_time: -5, run_id: uuid::Uuid::new_v4() };
            assert_eq!(decode_keyset(&encode_keyset(&k)).unwrap(), Some(k));
        }
        let nan = Keyset { value: SortValue::Num(f64::NAN), start_time: 1, run_id: uuid::Uuid::nil() };
        assert!(
            matches!(decode_keyset(&encode_keyset(&nan)).unwrap(), Some(Keyset { value: SortValue::Num(v), .. }) if v.is_nan())
        );
        assert_eq!(decode_keyset(&encode_after(3)).unwrap(), None);
    }
}
