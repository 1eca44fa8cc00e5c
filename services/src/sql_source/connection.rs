//! What a data source's connection is, how it is checked, and how it becomes sqlx
//! connect options.
//!
//! The connect options are built from the URL's parts by hand rather than with
//! `PgConnectOptions::from_str`, because that also honours `host=`/`hostaddr=` query
//! parameters (which would slip past the allow-list), client-certificate *file
//! paths* on Cairn's machine, and falls back to Cairn's own `PGPASSWORD`, `PGUSER`
//! and `~/.pgpass` when the URL has none: a user's source must never borrow Cairn's
//! credentials.

use super::allow::HostAllowList;
use domain::ValidationError;
use percent_encoding::percent_decode_str;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::str::FromStr;

/// The setting the allow-list comes from, named in errors.
pub const ALLOW_SETTING: &str = "CAIRN_SQL_SOURCE_ALLOW";

/// How a source's connection is given at registration.
#[derive(Clone, PartialEq, Eq)]
pub enum ConnectionSpec {
    /// A `postgres://` URL (stored encrypted).
    Url(String),
    /// `env:NAME`: the URL is in this environment variable of the Cairn processes,
    /// read each time a query runs (so it can be rotated without touching Cairn).
    Env(String),
}

impl std::fmt::Debug for ConnectionSpec {
    /// Never prints the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(u) => write!(f, "Url({})", redact(u)),
            Self::Env(name) => write!(f, "Env({name})"),
        }
    }
}

impl ConnectionSpec {
    /// `env:NAME` or a URL; the URL is checked later, by [`check_url`].
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        match s.strip_prefix("env:") {
            Some(name) => {
                check_env_name(name)?;
                Ok(Self::Env(name.to_string()))
            }
            None => Ok(Self::Url(s.to_string())),
        }
    }
}

/// Variable names people can write in a shell, minus Cairn's own settings: `env:`
/// must not become a way to make Cairn query its own metadata database.
fn check_env_name(name: &str) -> Result<(), ValidationError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ValidationError::new(
            "connection",
            "`env:` must be followed by an environment variable name (letters, digits, `_`), e.g. env:WAREHOUSE_URL",
        ));
    }
    if name == "DATABASE_URL" || name.to_ascii_uppercase().starts_with("CAIRN_") {
        return Err(ValidationError::new(
            "connection",
            format!(
                "{name} is one of Cairn's own settings and cannot be a data source; use a variable of its own, e.g. env:WAREHOUSE_URL"
            ),
        ));
    }
    Ok(())
}

/// Reads the URL a `env:NAME` source points at, when a query runs or at registration.
pub(crate) fn read_env(name: &str) -> Result<String, ValidationError> {
    check_env_name(name)?;
    match std::env::var(name) {
        Ok(v) => Ok(v),
        Err(std::env::VarError::NotPresent) => Err(ValidationError::new(
            "connection",
            format!(
                "the connection is read from the environment variable {name}, which is not set for this Cairn process; set it (to a postgres:// URL) where Cairn runs"
            ),
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(ValidationError::new(
            "connection",
            format!("the environment variable {name} is not valid UTF-8"),
        )),
    }
}

/// A URL that passed every check: where to connect, and how to show it.
#[derive(Clone)]
pub(crate) struct Target {
    pub options: PgConnectOptions,
    pub host: String,
    pub port: u16,
    /// `postgres://user@host:port/db`: no password.
    pub display: String,
}

impl std::fmt::Debug for Target {
    /// Only the display form: `PgConnectOptions`' own `Debug` prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.display)
    }
}

const SSL_MODES: [&str; 6] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/// Checks a connection URL and the allow-list; never echoes the URL (it may hold a
/// password) in an error.
pub(crate) fn check_url(url: &str, allow: &HostAllowList) -> Result<Target, ValidationError> {
    let invalid = |why: String| ValidationError::new("connection", why);
    let u = url::Url::parse(url.trim()).map_err(|e| {
        invalid(format!("is not a URL ({e}); expected postgres://user:password@host:5432/database"))
    })?;
    if !matches!(u.scheme(), "postgres" | "postgresql") {
        return Err(invalid(format!(
            "must be a postgres:// URL (got a {}:// URL); only Postgres sources are supported",
            u.scheme()
        )));
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => percent_decode(d, "host")?,
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(invalid("must name a host, e.g. postgres://user@db.internal:5432/sales".into())),
    };
    if host.starts_with('/') {
        return Err(invalid("Unix sockets are not supported; give a host name or address".into()));
    }
    let port = u.port().unwrap_or(5432);
    if !allow.allows(&host, port) {
        let shown = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let why = if allow.is_empty() {
            format!(
                "host {shown} is not allowed: {ALLOW_SETTING} is empty, so no SQL sources are allowed; an operator must add the host to {ALLOW_SETTING}"
            )
        } else {
            format!("host {shown} is not in {ALLOW_SETTING}; ask an operator to add it (host or host:port)")
        };
        return Err(invalid(why));
    }
    let user = percent_decode(u.username(), "user name")?;
    if user.is_empty() {
        return Err(invalid("must name a user, e.g. postgres://reader@db.internal:5432/sales".into()));
    }
    // Always set, even empty: otherwise sqlx falls back to Cairn's PGPASSWORD/.pgpass.
    let password = percent_decode(u.password().unwrap_or(""), "password")?;
    let database = percent_decode(u.path().trim_start_matches('/'), "database name")?;
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&host)
        .port(port)
        .username(&user)
        .password(&password)
        .application_name("cairn")
        .ssl_mode(PgSslMode::Prefer);
    if !database.is_empty() {
        options = options.database(&database);
    }
    for (key, value) in u.query_pairs() {
        match &*key {
            "sslmode" | "ssl-mode" => {
                if !SSL_MODES.contains(&&*value) {
                    return Err(invalid(format!("sslmode must be one of {}", SSL_MODES.join(", "))));
                }
                let mode = PgSslMode::from_str(&value).map_err(|e| invalid(format!("sslmode: {e}")))?;
                options = options.ssl_mode(mode);
            }
            "application_name" => options = options.application_name(&value),
            other => {
                return Err(invalid(format!(
                    "the URL parameter `{other}` is not supported for data sources (only sslmode and application_name are)"
                )));
            }
        }
    }
    let shown_host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
    let display =
        format!("postgres://{}@{shown_host}:{port}/{}", u.username(), u.path().trim_start_matches('/'));
    Ok(Target { options, host, port, display })
}

fn percent_decode(s: &str, what: &str) -> Result<String, ValidationError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ValidationError::new("connection", format!("the {what} in the URL is not valid UTF-8")))
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    crate::db::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(s: &str) -> HostAllowList {
        s.parse().unwrap()
    }

    #[test]
    fn a_good_url_becomes_options_without_showing_the_password() {
        let t = check_url(
            "postgres://reader:s3cr%40t@db.internal:6543/sales?sslmode=disable",
            &allow("db.internal"),
        )
        .unwrap();
        assert_eq!((t.host.as_str(), t.port), ("db.internal", 6543));
        assert_eq!(t.display, "postgres://reader@db.internal:6543/sales");
        assert_eq!(t.options.get_username(), "reader");
        assert_eq!(t.options.get_database(), Some("sales"));
        assert!(matches!(t.options.get_ssl_mode(), PgSslMode::Disable));
        let t = check_url("postgresql://reader@[::1]/x", &allow("[::1]:5432")).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 5432));
        assert_eq!(t.display, "postgres://reader@[::1]:5432/x");
    }

    #[test]
    fn the_allow_list_names_the_host_and_the_setting() {
        let err = check_url("postgres://u:pw@evil.example.com/db", &allow("db.internal")).unwrap_err();
        assert_eq!(err.field, "connection");
        assert!(
            err.message.contains("evil.example.com:5432") && err.message.contains(ALLOW_SETTING),
            "{err:?}"
        );
        let err = check_url("postgres://u:pw@db.internal/db", &HostAllowList::default()).unwrap_err();
        assert!(err.message.contains("is empty"), "{err:?}");
        assert!(!err.message.contains("pw"));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        let a = allow("*");
        for (url, why) in [
            ("mysql://u:hunter2@h/db", "postgres://"),
            ("not a url hunter2", "is not a URL"),
            ("postgres://:hunter2@h/db", "must name a user"),
            ("postgres:///db", "must name a host"),
            ("postgres://u:hunter2@h/db?host=other", "`host` is not supported"),
            ("postgres://u:hunter2@h/db?sslkey=/etc/ssl/key", "`sslkey` is not supported"),
            ("postgres://u:hunter2@h/db?sslmode=bogus", "sslmode must be"),
        ] {
            let err = check_url(url, &a).unwrap_err();
            assert!(err.message.contains(why), "{url}: {err:?}");
            assert!(!err.message.contains("hunter2"), "{url}: {err:?}");
        }
    }

    #[test]
    fn env_references_are_checked() {
        assert_eq!(
            ConnectionSpec::parse("env:WAREHOUSE_URL").unwrap(),
            ConnectionSpec::Env("WAREHOUSE_URL".into())
        );
        assert!(matches!(ConnectionSpec::parse("postgres://x@y/z").unwrap(), ConnectionSpec::Url(_)));
        for bad in ["env:", "env:1X", "env:A-B", "env:DATABASE_URL", "env:CAIRN_SECRET_KEY", "env:cairn_x"] {
            assert!(ConnectionSpec::parse(bad).is_err(), "{bad}");
        }
        let err = read_env("SURELY_NOT_SET_IN_TESTS_4711").unwrap_err();
        assert!(
            err.message.contains("SURELY_NOT_SET_IN_TESTS_4711") && err.message.contains("not set"),
            "{err:?}"
        );
        let shown = format!("{:?}", ConnectionSpec::Url("postgres://u:hunter2@h/db".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
