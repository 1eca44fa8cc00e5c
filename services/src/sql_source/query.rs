//! Running one query against a source, read-only, as a stream of Arrow batches.
//!
//! Each query gets a connection of its own (sources are queried rarely, and a pool
//! per source would hold connections to other people's databases between uses):
//!
//! 1. `begin transaction read only` and a transaction-local `statement_timeout`;
//! 2. the SQL is *prepared* first: a syntax error comes back before anything runs,
//!    the result columns are known before the first row (so even an empty result has
//!    a schema), and the extended protocol refuses several statements in one string,
//!    so `select 1; commit; drop table t` cannot end the read-only transaction;
//! 3. columns of types without a binary decoder are cast to text by wrapping the
//!    statement (`select c1, c2::text from (<sql>) as q(c1, c2)`);
//! 4. rows stream in with `fetch` and are cut into record batches on a task of their
//!    own, which hands them over a small channel (back-pressure: a slow reader slows
//!    the query instead of filling memory);
//! 5. the transaction always ends with `rollback`, and the connection is closed.
//!
//! The transaction being read-only is Postgres' promise, not Cairn's: it stops
//! writes to tables, sequences and the catalog, but functions with side effects
//! outside the database (`dblink`, `pg_terminate_backend`, …) are governed by the
//! source role's privileges. Register sources with a role that may only read.

use super::connection::Target;
use super::to_arrow::{BatchBuilder, ColumnSpec, DecodeError, Decoder, schema};
use crate::{Error, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use domain::ValidationError;
use futures::{Stream, TryStreamExt};
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::{Column, Connection, Executor, PgConnection, Row, Statement};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds of one query. Each is also capped by the operator's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Postgres cancels the statement after this long (`statement_timeout`).
    pub statement_timeout: Duration,
    /// More rows than this is an error, not a silent truncation.
    pub max_rows: u64,
    /// Rows per record batch.
    pub batch_rows: usize,
}

pub const DEFAULT_MAX_ROWS: u64 = 10_000_000;
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            max_rows: DEFAULT_MAX_ROWS,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// Why a query failed; each message is meant for the person who wrote the SQL or
/// registered the source. Converted to `Error::Validation` (field `connection` or
/// `sql`) at the services boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("could not connect to the source at {target}: {message}")]
    Connect { target: String, message: String },
    #[error("lost the connection to the source: {0}")]
    ConnectionLost(String),
    #[error("query cancelled after {} statement_timeout", seconds(*.0))]
    Timeout(Duration),
    #[error("the source is read-only for Cairn: {0}")]
    ReadOnly(String),
    #[error("{0}")]
    Sql(String),
    #[error(
        "the statement returns no rows; a data source query must be a SELECT (or another statement that returns rows)"
    )]
    NoColumns,
    #[error(
        "the query returned more than {0} rows, the limit for one extract (CAIRN_SQL_SOURCE_MAX_ROWS); narrow it with WHERE or LIMIT"
    )]
    TooManyRows(u64),
    #[error(
        "column `{column}` has type {pg_type}, which Cairn reads as text through a cast, but the statement cannot be wrapped to add it ({reason}); cast it yourself, e.g. `{column}::text`"
    )]
    CannotCast { column: String, pg_type: String, reason: String },
    #[error("could not read {0}")]
    Decode(#[from] DecodeError),
    #[error("could not build a record batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl From<QueryError> for Error {
    fn from(e: QueryError) -> Self {
        let field = match e {
            QueryError::Connect { .. } | QueryError::ConnectionLost(_) => "connection",
            _ => "sql",
        };
        Error::Validation(ValidationError::new(field, e.to_string()))
    }
}

/// `0.2 s`, `5 s`, `1.25 s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{} s", s.trim_end_matches('0'))
    }
}

/// The Postgres message, with where in the SQL it points and its detail and hint.
fn describe_db_error(db: &dyn DatabaseError, sql: &str) -> String {
    let mut msg = db.message().to_string();
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        if let Some(PgErrorPosition::Original(pos)) = pg.position() {
            let (line, column) = line_col(sql, pos);
            msg.push_str(&format!(" (at line {line}, column {column} of the query)"));
        }
        if let Some(detail) = pg.detail() {
            msg.push_str(&format!(". {detail}"));
        }
        if let Some(hint) = pg.hint() {
            msg.push_str(&format!(". Hint: {hint}"));
        }
    }
    msg
}

/// 1-based line and column of the 1-based character position `pos`.
fn line_col(sql: &str, pos: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for c in sql.chars().take(pos.saturating_sub(1)) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

fn classify(e: sqlx::Error, sql: &str, limits: &QueryLimits) -> QueryError {
    match &e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // query_canceled: also a user's pg_cancel_backend, which says so.
            Some("57014") if db.message().contains("statement timeout") => {
                QueryError::Timeout(limits.statement_timeout)
            }
            // read_only_sql_transaction
            Some("25006") => QueryError::ReadOnly(describe_db_error(db.as_ref(), sql)),
            _ => QueryError::Sql(describe_db_error(db.as_ref(), sql)),
        },
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            QueryError::ConnectionLost(e.to_string())
        }
        _ => QueryError::Sql(e.to_string()),
    }
}

/// Batches of a running query. Dropping it stops the query (its task is aborted and
/// the connection closed, which ends the transaction).
pub struct QueryStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<Msg>,
    task: tokio::task::JoinHandle<()>,
    finished: bool,
}

enum Msg {
    Batch(Result<RecordBatch>),
    /// Sent last when every row was read, so a reader can tell the end from a
    /// crashed task.
    Done,
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl QueryStream {
    /// The columns, known before the first row (an empty result still has them).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next batch; None after the last. An error ends the stream.
    pub async fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        futures::StreamExt::next(self).await
    }

    /// Every batch, in order (the whole result in memory: mind `max_rows`).
    pub async fn collect_all(mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        while let Some(b) = self.next_batch().await {
            out.push(b?);
        }
        Ok(out)
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Msg::Batch(b))) => {
                if b.is_err() {
                    self.finished = true;
                }
                Poll::Ready(Some(b))
            }
            Poll::Ready(Some(Msg::Done)) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Err(Error::Other(anyhow::anyhow!(
                    "the query task stopped before the end of the result"
                )))))
            }
        }
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects, opens the read-only transaction, prepares `sql` and starts streaming.
/// Errors up to the first row (connection, syntax, a write refused) come back here;
/// later ones (timeout, row limit) as the stream's last item.
pub(crate) async fn start(
    target: &Target,
    sql: &str,
    limits: QueryLimits,
    connect_timeout: Duration,
) -> std::result::Result<QueryStream, QueryError> {
    tracing::debug!(source.host = %target.host, source.port = target.port, "connecting to data source");
    let connect_error = |message: String| QueryError::Connect { target: target.display.clone(), message };
    let mut conn = tokio::time::timeout(connect_timeout, PgConnection::connect_with(&target.options))
        .await
        .map_err(|_| connect_error(format!("no answer within {}", seconds(connect_timeout))))?
        .map_err(|e| connect_error(e.to_string()))?;
    let (columns, run_sql) = match open(&mut conn, sql, &limits).await {
        Ok(ok) => ok,
        Err(e) => {
            let _ = conn.close().await;
            return Err(e);
        }
    };
    let schema = schema(&columns);
    let (tx, rx) = mpsc::channel(2);
    let task_schema = schema.clone();
    let task = tokio::spawn(run_to_end(conn, run_sql, columns, task_schema, limits, tx));
    Ok(QueryStream { schema, rx, task, finished: false })
}

/// The transaction, the timeout, and the statement's columns (with the SQL to run,
/// which adds text casts where needed).
async fn open(
    conn: &mut PgConnection,
    sql: &str,
    limits: &QueryLimits,
) -> std::result::Result<(Vec<ColumnSpec>, String), QueryError> {
    let fail = |e| classify(e, sql, limits);
    // `conn.execute(&str)` (the simple protocol, like `raw_sql`): `raw_sql(..).execute`
    // on a `&mut PgConnection` makes the future not `Send`, so no handler could await it.
    conn.execute("begin transaction read only").await.map_err(fail)?;
    let timeout_ms = limits.statement_timeout.as_millis().max(1);
    sqlx::query("select set_config('statement_timeout', $1, true)")
        .bind(format!("{timeout_ms}ms"))
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    watch_for_disconnect(conn).await.map_err(fail)?;
    let stmt = (&mut *conn).prepare(sql).await.map_err(fail)?;
    let columns: Vec<ColumnSpec> =
        stmt.columns().iter().map(|c| ColumnSpec::new(c.name(), c.type_info())).collect();
    if columns.is_empty() {
        // Run it so that a write gets Postgres' own read-only refusal, which says more
        // than "no rows" would.
        stmt.query().execute(&mut *conn).await.map_err(fail)?;
        return Err(QueryError::NoColumns);
    }
    let Some(first_cast) = columns.iter().find(|c| c.decoder.needs_text_cast()) else {
        return Ok((columns, sql.to_string()));
    };
    let wrapped = wrap_with_text_casts(sql, &columns);
    let cannot = |reason: String| QueryError::CannotCast {
        column: first_cast.name.clone(),
        pg_type: first_cast.pg_type.clone(),
        reason,
    };
    let stmt = match (&mut *conn).prepare(&wrapped).await {
        Ok(s) => s,
        Err(sqlx::Error::Database(db)) => return Err(cannot(db.message().to_string())),
        Err(e) => return Err(classify(e, sql, limits)),
    };
    let wrapped_columns: Vec<ColumnSpec> = columns
        .iter()
        .zip(stmt.columns())
        .map(|(orig, c)| ColumnSpec { decoder: Decoder::for_type(c.type_info()), ..orig.clone() })
        .collect();
    if wrapped_columns.len() != columns.len() || wrapped_columns.iter().any(|c| c.decoder.needs_text_cast()) {
        return Err(cannot("the wrapped statement has other columns".into()));
    }
    Ok((wrapped_columns, wrapped))
}

/// Asks the backend to check every second whether Cairn is still connected, so a
/// dropped [`QueryStream`] (its connection closed) stops a long computation at once
/// instead of when it next sends a row or at the statement timeout. Postgres 14+ on
/// servers whose kernel supports it; elsewhere the setting is refused, which the
/// savepoint undoes, and the statement timeout remains the bound.
async fn watch_for_disconnect(conn: &mut PgConnection) -> std::result::Result<(), sqlx::Error> {
    conn.execute("savepoint cairn_check").await?;
    let set = sqlx::query("select set_config('client_connection_check_interval', '1000', true)")
        .execute(&mut *conn)
        .await;
    let end = if set.is_ok() { "release savepoint cairn_check" } else { "rollback to savepoint cairn_check" };
    conn.execute(end).await?;
    Ok(())
}

/// `select c1, c2::text, … from (<sql>) as cairn_source(c1, c2, …)`: positional
/// aliases, so duplicate or odd column names need no quoting. The newline before `)`
/// keeps a trailing `-- comment` from swallowing it.
fn wrap_with_text_casts(sql: &str, columns: &[ColumnSpec]) -> String {
    let body = sql.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let select: Vec<String> =
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.decoder.needs_text_cast() { format!("c{}::text", i + 1) } else { format!("c{}", i + 1) }
            })
            .collect();
    let aliases: Vec<String> = (1..=columns.len()).map(|i| format!("c{i}")).collect();
    format!("select {} from (\n{body}\n) as cairn_source({})", select.join(", "), aliases.join(", "))
}

/// The query's task: stream, report how it ended, roll back, close.
async fn run_to_end(
    mut conn: PgConnection,
    sql: String,
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
    limits: QueryLimits,
    tx: mpsc::Sender<Msg>,
) {
    let outcome = stream_rows(&mut conn, &sql, columns, schema, &limits, &tx).await;
    let last = match outcome {
        Ok(()) => Msg::Done,
        Err(e) => Msg::Batch(Err(e.into())),
    };
    let _ = tx.send(last).await;
    // Nothing was written (the transaction is read-only); end it explicitly anyway.
    let _ = conn.execute("rollback").await;
    let _ = conn.close().await;
}

async fn stream_rows(
    conn: &mut PgConnection,
    sql: &str,
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
    limits: &QueryLimits,
    tx: &mpsc::Sender<Msg>,
) -> std::result::Result<(), QueryError> {
    let mut batch = BatchBuilder::new(columns, schema, limits.batch_rows);
    let mut total: u64 = 0;
    let mut rows = conn.fetch(sqlx::query(sql));
    while let Some(row) = rows.try_next().await.map_err(|e| classify(e, sql, limits))? {
        if total >= limits.max_rows {
            return Err(QueryError::TooManyRows(limits.max_rows));
        }
        batch.append_row(|i| row.try_get_raw(i))?;
        total += 1;
        if batch.rows() >= limits.batch_rows && tx.send(Msg::Batch(Ok(batch.finish()?))).await.is_err() {
            // The reader went away: stop reading.
            return Ok(());
        }
    }
    if batch.rows() > 0 {
        let _ = tx.send(Msg::Batch(Ok(batch.finish()?))).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only if a query can be started from a multi-threaded server (axum
    /// handlers, jobs): the future of `start` must be `Send`.
    #[allow(dead_code)]
    fn start_is_send(target: &Target) {
        fn is_send<T: Send>(_: T) {}
        is_send(start(target, "select 1", QueryLimits::default(), Duration::ZERO));
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(Duration::from_millis(200)), "0.2 s");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25 s");
        assert_eq!(seconds(Duration::from_secs(300)), "300 s");
    }

    #[test]
    fn positions_become_lines_and_columns() {
        let sql = "select 1\nfrom  nowhere";
        assert_eq!(line_col(sql, 1), (1, 1));
        assert_eq!(line_col(sql, 8), (1, 8));
        assert_eq!(line_col(sql, 10), (2, 1));
        assert_eq!(line_col(sql, 16), (2, 7));
        assert_eq!(line_col(sql, 0), (1, 1));
    }

    #[test]
    fn wrapping_casts_only_what_needs_it() {
        let col = |n: &str, decoder| ColumnSpec { name: n.into(), pg_type: "X".into(), decoder };
        let sql = wrap_with_text_casts(
            "select a, b from t; \n ",
            &[col("a", Decoder::Int8), col("b", Decoder::TextCast)],
        );
        assert_eq!(sql, "select c1, c2::text from (\nselect a, b from t\n) as cairn_source(c1, c2)");
    }
}
