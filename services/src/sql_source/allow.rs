//! `CAIRN_SQL_SOURCE_ALLOW`: which hosts a SQL data source may point at.
//!
//! A registered source makes Cairn open connections on a user's behalf, so without
//! a list an editor could aim Cairn at any database its network reaches. The list is
//! the operator's: comma-separated patterns, each `host` (any port), `host:port`,
//! `*.example.com` (any subdomain), or `*` (any host, an explicit opt-in). IPv6
//! addresses go in brackets: `[::1]:5432`. Hosts compare case-insensitively and as
//! written: `localhost` does not allow `127.0.0.1`, and names are not resolved, so
//! allow only names whose DNS you trust.

use std::fmt;
use std::str::FromStr;

/// The parsed allow-list; the default (empty) allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList {
    patterns: Vec<HostPattern>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    /// `*.example.com`, kept as `.example.com`: matches `db.example.com`, not `example.com`.
    Suffix(String),
}

impl HostAllowList {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern admits `host` on `port`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = normalize(host);
        self.patterns.iter().any(|p| {
            p.port.is_none_or(|want| want == port)
                && match &p.host {
                    HostMatch::Any => true,
                    HostMatch::Exact(h) => *h == host,
                    HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
                }
        })
    }
}

/// Lowercase, without IPv6 brackets or a trailing dot.
fn normalize(host: &str) -> String {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    h.to_ascii_lowercase()
}

impl FromStr for HostAllowList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let patterns = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_pattern)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { patterns })
    }
}

fn parse_pattern(p: &str) -> Result<HostPattern, String> {
    let bad = |why: &str| format!("`{p}` is not a host[:port] pattern: {why}");
    let (host, port) = if let Some(rest) = p.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
        let port = match after {
            "" => None,
            a => Some(a.strip_prefix(':').ok_or_else(|| bad("expected `:port` after `]`"))?),
        };
        (addr, port)
    } else {
        match p.split_once(':') {
            Some((_, rest)) if rest.contains(':') => {
                return Err(bad("write IPv6 addresses in brackets, e.g. `[::1]:5432`"));
            }
            Some((h, port)) => (h, Some(port)),
            None => (p, None),
        }
    };
    let port = port
        .map(|s| s.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| bad("the port must be 1-65535")))
        .transpose()?;
    let host = host.trim().to_ascii_lowercase();
    if normalize(&host).is_empty() {
        return Err(bad("the host is empty"));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
        return Err(bad("hosts hold no spaces, `/` or `@`"));
    }
    let wildcard = || bad("use `*` only as a whole leading label, e.g. `*.example.com`");
    let host = if host == "*" {
        HostMatch::Any
    } else if let Some(suffix) = host.strip_prefix("*.") {
        let suffix = normalize(suffix);
        if suffix.is_empty() || suffix.contains('*') {
            return Err(wildcard());
        }
        HostMatch::Suffix(format!(".{suffix}"))
    } else if host.contains('*') {
        return Err(wildcard());
    } else {
        HostMatch::Exact(normalize(&host))
    };
    Ok(HostPattern { host, port })
}

impl fmt::Display for HostAllowList {
    /// The canonical form, for the start-up summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let host = match &p.host {
                HostMatch::Any => "*".to_string(),
                HostMatch::Exact(h) if h.contains(':') => format!("[{h}]"),
                HostMatch::Exact(h) => h.clone(),
                HostMatch::Suffix(s) => format!("*{s}"),
            };
            match p.port {
                Some(port) => write!(f, "{host}:{port}")?,
                None => f.write_str(&host)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> HostAllowList {
        s.parse().unwrap()
    }

    #[test]
    fn empty_allows_nothing() {
        assert!(list("").is_empty());
        assert!(list(" , ").is_empty());
        assert!(!list("").allows("127.0.0.1", 5432));
        assert!(!HostAllowList::default().allows("localhost", 5432));
    }

    #[test]
    fn hosts_ports_and_wildcards() {
        let l = list("127.0.0.1:5432, DB.internal ,*.warehouse.example.com:6432,[::1]");
        assert!(l.allows("127.0.0.1", 5432));
        assert!(!l.allows("127.0.0.1", 5433));
        assert!(!l.allows("localhost", 5432), "names are compared as written");
        assert!(l.allows("db.internal", 1), "no port: any port");
        assert!(l.allows("db.INTERNAL.", 5432));
        assert!(l.allows("a.warehouse.example.com", 6432));
        assert!(l.allows("x.y.warehouse.example.com", 6432));
        assert!(!l.allows("warehouse.example.com", 6432), "the wildcard needs a subdomain");
        assert!(!l.allows("evilwarehouse.example.com", 6432));
        assert!(!l.allows("a.warehouse.example.com", 5432));
        assert!(l.allows("::1", 5432) && l.allows("[::1]", 5432));
        assert!(list("*").allows("anything.at.all", 1));
        assert!(list("*:5432").allows("anything", 5432) && !list("*:5432").allows("anything", 1));
        assert_eq!(l.to_string(), "127.0.0.1:5432,db.internal,*.warehouse.example.com:6432,[::1]");
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (bad, why) in [
            ("host:0", "1-65535"),
            ("host:99999", "1-65535"),
            ("host:abc", "1-65535"),
            ("::1", "brackets"),
            ("[::1", "`]`"),
            ("db*.x", "leading label"),
            ("*.", "leading label"),
            ("a b", "spaces"),
            (":5432", "empty"),
        ] {
            let err = bad.parse::<HostAllowList>().unwrap_err();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }
}
