//! The operator's allow-lists for imports from server-side paths
//! (`CAIRN_DATA_PATH_ALLOW`) and URLs (`CAIRN_DATA_URL_ALLOW`). Both are empty by
//! default, which allows nothing: reading the server's disk or making it fetch URLs
//! on a user's behalf must be switched on deliberately.

use std::path::{Component, Path, PathBuf};

pub const PATH_ALLOW_SETTING: &str = "CAIRN_DATA_PATH_ALLOW";
pub const URL_ALLOW_SETTING: &str = "CAIRN_DATA_URL_ALLOW";

/// Directories (absolute) whose files may be imported, subfolders included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathAllowList(Vec<PathBuf>);

impl PathAllowList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `resolved` (already canonical: no `..`, no symlinks) lies under one of
    /// the directories. Each directory is canonicalized too, so `/data` allows files
    /// of `/data` when `/data` is itself a symlink to `/mnt/data`. Comparison is per
    /// component: `/data` does not allow `/data2/x`.
    pub fn allows(&self, resolved: &Path) -> bool {
        self.0.iter().any(|dir| {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| normalize(dir));
            resolved.starts_with(&dir)
        })
    }

    /// A relative path looked up in the allowed directories, in order: the first
    /// that has it. Lets a pipeline name `credit_data.csv` without knowing where the
    /// operator keeps data; the result is still checked like any absolute path.
    pub fn locate(&self, relative: &Path) -> Option<PathBuf> {
        if relative.is_absolute() {
            return None;
        }
        self.0.iter().map(|dir| dir.join(relative)).find(|p| p.exists())
    }

    /// Like [`allows`](Self::allows) but without touching the disk: for a path that
    /// does not exist, to decide whether saying so reveals anything.
    pub fn allows_lexically(&self, path: &Path) -> bool {
        let path = normalize(path);
        self.0.iter().any(|dir| path.starts_with(normalize(dir)))
    }
}

/// `..` and `.` folded away without following symlinks (`/a/b/../c` → `/a/c`).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl std::str::FromStr for PathAllowList {
    type Err = String;

    /// Comma-separated absolute directories; blank entries are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut dirs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let p = Path::new(part);
            if !p.is_absolute() {
                return Err(format!("`{part}` is not an absolute directory (like /srv/data)"));
            }
            dirs.push(normalize(p));
        }
        Ok(Self(dirs))
    }
}

impl std::fmt::Display for PathAllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|p| p.display().to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// URL prefixes (`https://data.example.com/exports/`) that may be fetched. A URL is
/// allowed when its scheme, host and port equal a prefix's and its path starts with
/// the prefix's path at a `/` boundary; query strings are not compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlAllowList(Vec<url::Url>);

impl UrlAllowList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows(&self, url: &url::Url) -> bool {
        self.0.iter().any(|prefix| {
            if prefix.scheme() != url.scheme()
                || prefix.host_str() != url.host_str()
                || prefix.port_or_known_default() != url.port_or_known_default()
                || !url.username().is_empty()
                || url.password().is_some()
            {
                return false;
            }
            let (want, got) = (prefix.path(), url.path());
            match got.strip_prefix(want) {
                Some(rest) => want.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
                None => false,
            }
        })
    }
}

impl std::str::FromStr for UrlAllowList {
    type Err = String;

    /// Comma-separated http(s) URL prefixes; blank entries are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut prefixes = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let url = url::Url::parse(part).map_err(|e| format!("`{part}` is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("`{part}` must be an http:// or https:// URL with a host"));
            }
            if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
                return Err(format!("`{part}` must not carry credentials or a query string"));
            }
            prefixes.push(url);
        }
        Ok(Self(prefixes))
    }
}

impl std::fmt::Display for UrlAllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(url::Url::as_str).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_compared_per_component_after_folding_dots() {
        let allow: PathAllowList = " /srv/data , /mnt/x/ ".parse().unwrap();
        assert_eq!(allow.to_string(), "/srv/data,/mnt/x");
        assert!(allow.allows_lexically(Path::new("/srv/data/a.csv")));
        assert!(allow.allows_lexically(Path::new("/srv/data/sub/../a.csv")));
        assert!(!allow.allows_lexically(Path::new("/srv/data/../secret.csv")));
        assert!(!allow.allows_lexically(Path::new("/srv/data2/a.csv")));
        assert!(!allow.allows_lexically(Path::new("/etc/passwd")));
        assert!("data/x".parse::<PathAllowList>().unwrap_err().contains("absolute"));
        assert!("".parse::<PathAllowList>().unwrap().is_empty());
    }

    #[test]
    fn urls_match_on_origin_and_path_boundary() {
        let allow: UrlAllowList = "https://data.example.com/exports/,http://10.0.0.5:8080/d".parse().unwrap();
        let ok = |u: &str| allow.allows(&url::Url::parse(u).unwrap());
        assert!(ok("https://data.example.com/exports/a.csv?x=1"));
        assert!(ok("https://DATA.example.com:443/exports/a.csv"));
        assert!(ok("http://10.0.0.5:8080/d/a.csv"));
        assert!(ok("http://10.0.0.5:8080/d"));
        assert!(!ok("http://10.0.0.5:8080/data.csv"));
        assert!(!ok("https://data.example.com/other/a.csv"));
        assert!(!ok("https://data.example.com/exports/../secret"));
        assert!(!ok("http://data.example.com/exports/a.csv"));
        assert!(!ok("https://data.example.com.evil.net/exports/a.csv"));
        assert!(!ok("https://data.example.com@evil.net/exports/a.csv"));
        assert!(!ok("https://u:p@data.example.com/exports/a.csv"));
        assert!(!ok("http://10.0.0.5:8081/d/a.csv"));
        assert!("ftp://h/".parse::<UrlAllowList>().is_err());
        assert!("https://u:p@h/".parse::<UrlAllowList>().is_err());
        assert!("".parse::<UrlAllowList>().unwrap().is_empty());
    }
}
