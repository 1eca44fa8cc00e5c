//! Number formatting for people: sizes, durations, counts.

pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n.max(0) as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{} B", n.max(0)) } else { format!("{v:.1} {}", UNITS[unit]) }
}

pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A duration given in milliseconds: "850 ms", "3.2 s", then as [`duration`].
pub fn duration_ms(ms: i64) -> String {
    match ms.max(0) {
        ms @ 0..1000 => format!("{ms} ms"),
        ms @ 1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => duration(ms / 1000),
    }
}

/// Thousands separated by a thin space, which reads well in tables.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Microseconds since the epoch as a UTC date (and time when it is not midnight).
pub fn micros_date(us: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(t) if t.format("%H:%M:%S").to_string() == "00:00:00" => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => us.to_string(),
    }
}

/// A statistic with at most 4 significant decimals, or "–" when undefined.
pub fn stat(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => count(v as i64),
        Some(v) if v.abs() >= 1e6 || (v != 0.0 && v.abs() < 1e-3) => format!("{v:.3e}"),
        Some(v) => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_for_people() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(8_123_456), "8.1 MB");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(duration(7200), "2h 0m");
        assert_eq!(duration(90000), "1d 1h");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(3250), "3.2 s");
        assert_eq!(duration_ms(61_000), "1m 1s");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
        assert_eq!(count(-1000), "-1\u{2009}000");
    }
}
