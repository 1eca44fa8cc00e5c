//! Timestamps: reading the literals users write (filters, time split cutoffs) and
//! taking calendar parts of timestamp columns. Everything is UTC.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use domain::prepare::DatePart;

/// Microseconds since the epoch for an RFC 3339 timestamp (`2013-06-01T12:00:00Z`,
/// any offset), `YYYY-MM-DD HH:MM:SS[.fff]` or `YYYY-MM-DDTHH:MM:SS[.fff]` (UTC),
/// or a date `YYYY-MM-DD` (midnight UTC).
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

/// The calendar part of a timestamp; `None` outside chrono's calendar (about
/// ±262,000 years), which an i64 of microseconds can exceed.
pub(crate) fn date_part(micros: i64, part: DatePart) -> Option<i64> {
    let t: DateTime<Utc> = DateTime::from_timestamp_micros(micros)?;
    Some(match part {
        DatePart::Year => i64::from(t.year()),
        DatePart::Month => i64::from(t.month()),
        DatePart::Day => i64::from(t.day()),
        DatePart::Weekday => i64::from(t.weekday().num_days_from_monday()),
        DatePart::Hour => i64::from(t.hour()),
        DatePart::DayOfYear => i64::from(t.ordinal()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_in_every_accepted_form() {
        let noon = 1_370_088_000_000_000; // 2013-06-01T12:00:00Z
        assert_eq!(parse_timestamp("2013-06-01T12:00:00Z"), Some(noon));
        assert_eq!(parse_timestamp("2013-06-01T14:00:00+02:00"), Some(noon));
        assert_eq!(parse_timestamp("2013-06-01 12:00:00"), Some(noon));
        assert_eq!(parse_timestamp("2013-06-01T12:00:00.5"), Some(noon + 500_000));
        assert_eq!(parse_timestamp(" 2013-06-01 "), Some(noon - 12 * 3_600_000_000));
        assert_eq!(parse_timestamp("2013-13-01"), None);
        assert_eq!(parse_timestamp("June"), None);
    }

    #[test]
    fn parts_match_the_calendar() {
        // 2024-02-29T23:30:00Z, a Thursday, day 60 of a leap year.
        let t = parse_timestamp("2024-02-29T23:30:00Z").unwrap();
        let parts: Vec<i64> = [
            DatePart::Year,
            DatePart::Month,
            DatePart::Day,
            DatePart::Weekday,
            DatePart::Hour,
            DatePart::DayOfYear,
        ]
        .into_iter()
        .map(|p| date_part(t, p).unwrap())
        .collect();
        assert_eq!(parts, [2024, 2, 29, 3, 23, 60]);
        // Before the epoch too.
        let t = parse_timestamp("1969-12-31T23:00:00Z").unwrap();
        assert_eq!(date_part(t, DatePart::Year), Some(1969));
        assert_eq!(date_part(t, DatePart::Weekday), Some(2));
        assert_eq!(date_part(i64::MAX, DatePart::Year), None);
    }
}
