//! Wire types of data imports: registered SQL data sources and the body of
//! `POST /api/v1/datasets/{dataset}/versions/import` (a version from a SQL query, a
//! server-side path or a URL instead of an uploaded file).

use crate::ValidationError;
use crate::ids::{DataSourceId, ProjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A registered SQL data source as the API shows it: never its password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataSource {
    pub data_source_id: DataSourceId,
    pub project_id: ProjectId,
    pub name: String,
    /// `postgres` (the only kind so far).
    pub kind: String,
    /// The URL without its password (`postgres://user@host:5432/db`), or `env:NAME`.
    pub connection: String,
    /// The creator's username; None once that user is deleted.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/data-sources`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDataSource {
    /// Unique per project, ignoring case.
    pub name: String,
    /// `postgres://user:password@host:port/database[?sslmode=…]` (stored encrypted), or
    /// `env:NAME` for a URL kept in an environment variable of the Cairn processes.
    pub connection: String,
    /// Defaults to the default project.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

impl std::fmt::Debug for NewDataSource {
    /// Without the connection: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDataSource")
            .field("name", &self.name)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// A query against a registered source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SqlImport {
    /// The source's id or name.
    pub source: String,
    /// One statement that returns rows; it runs in a read-only transaction.
    pub query: String,
}

/// Body of `POST /api/v1/datasets/{dataset}/versions/import`: exactly one of `sql`,
/// `path` and `url`, plus optional type overrides. A plain struct rather than an
/// enum so that "two sources at once" gets a message instead of serde picking one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<SqlImport>,
    /// An absolute path on the Cairn server, under `CAIRN_DATA_PATH_ALLOW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An http(s) URL under `CAIRN_DATA_URL_ALLOW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Type overrides, `column=type,...` with types int, float, bool, string, timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
}

/// Where an import reads from, once the request named exactly one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportSource<'a> {
    Sql { source: &'a str, query: &'a str },
    Path(&'a str),
    Url(&'a str),
}

impl ImportRequest {
    /// The one source this request names, or a message saying what to send.
    pub fn source(&self) -> Result<ImportSource<'_>, ValidationError> {
        let mut found = Vec::with_capacity(1);
        if let Some(s) = &self.sql {
            found.push(ImportSource::Sql { source: &s.source, query: &s.query });
        }
        if let Some(p) = &self.path {
            found.push(ImportSource::Path(p));
        }
        if let Some(u) = &self.url {
            found.push(ImportSource::Url(u));
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ValidationError::new(
                "source",
                "say where to import from: `sql` ({\"source\", \"query\"}), `path` or `url`",
            )),
            _ => Err(ValidationError::new(
                "source",
                "give only one of `sql`, `path` and `url`; each import reads one source",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_names_exactly_one_source() {
        let r: ImportRequest =
            serde_json::from_str(r#"{"sql": {"source": "dw", "query": "select 1"}, "types": "a=int"}"#)
                .unwrap();
        assert_eq!(r.source().unwrap(), ImportSource::Sql { source: "dw", query: "select 1" });
        assert_eq!(r.types.as_deref(), Some("a=int"));
        let r: ImportRequest = serde_json::from_str(r#"{"path": "/data/x.csv"}"#).unwrap();
        assert_eq!(r.source().unwrap(), ImportSource::Path("/data/x.csv"));
        let r: ImportRequest = serde_json::from_str(r#"{"url": "https://h/x.csv"}"#).unwrap();
        assert_eq!(r.source().unwrap(), ImportSource::Url("https://h/x.csv"));

        let none: ImportRequest = serde_json::from_str("{}").unwrap();
        assert!(none.source().unwrap_err().message.contains("say where"));
        let two: ImportRequest = serde_json::from_str(r#"{"path": "/a", "url": "https://h/"}"#).unwrap();
        assert!(two.source().unwrap_err().message.contains("only one"));
        assert!(serde_json::from_str::<ImportRequest>(r#"{"file": "/a"}"#).is_err());
    }

    #[test]
    fn a_new_source_never_prints_its_connection() {
        let n = NewDataSource {
            name: "dw".into(),
            connection: "postgres://u:hunter2@h/db".into(),
            project_id: None,
        };
        assert!(!format!("{n:?}").contains("hunter2"));
    }
}
