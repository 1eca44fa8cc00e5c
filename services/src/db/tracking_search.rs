//! The one dynamic query of tracking: runs matching a parsed filter, in a chosen
//! order. Built with `QueryBuilder`; every user-given key and value is a bind
//! parameter, and only fixed SQL fragments from `tracking::filter` are pushed as text.

use crate::tracking::filter::{Clause, Entity, Value, attribute_column};
use crate::tracking::token::{Keyset, SortValue};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

/// One sort key: (entity, key, ascending).
pub type Sort = (Entity, String, bool);

pub struct RunQuery<'a> {
    pub experiment_ids: &'a [i64],
    pub lifecycles: &'a [String],
    pub clauses: &'a [Clause],
    pub order: &'a [Sort],
    pub offset: i64,
    /// Keyset position (only with at most one non-attribute sort key): rows after it.
    pub after: Option<&'a Keyset>,
    pub limit: i64,
}

/// A matching run with what its keyset position needs.
#[derive(sqlx::FromRow)]
pub struct Hit {
    pub run_id: Uuid,
    pub start_time: i64,
    pub sort_num: Option<f64>,
    pub sort_text: Option<String>,
}

/// The matching runs, in order.
///
/// Sorted by a metric, the runs that have it come first (`nulls last` either way),
/// so when at least a page of them matches, the page is the same as that of an inner
/// join, which Postgres reads in value order from `latest_metric_key_idx` and stops
/// after a page; the left join has to join and sort every run of the experiment
/// (100,000 runs: hundreds of milliseconds). The inner join is tried first and the
/// left join only when it comes back short.
pub async fn search_runs<'c, E>(db: E, q: &RunQuery<'_>) -> sqlx::Result<Vec<Hit>>
where
    E: PgExecutor<'c> + Copy,
{
    let first_is_metric = q.order.first().is_some_and(|o| o.0 == Entity::Metric);
    let after_null = q.after.is_some_and(|k| k.value == SortValue::Null);
    if first_is_metric && !after_null {
        let hits = build(q, true).build_query_as().fetch_all(db).await?;
        if hits.len() as i64 >= q.limit {
            return Ok(hits);
        }
    }
    build(q, false).build_query_as().fetch_all(db).await
}

/// The query; `inner` joins the first (metric) sort key's table instead of a left
/// join, so only runs that have it match.
fn build<'a>(q: &RunQuery<'a>, inner: bool) -> QueryBuilder<'a, Postgres> {
    let first = q.order.first().map(|o| o.0);
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(match first {
        Some(Entity::Metric) => {
            "select r.run_id, r.start_time, s0.value as sort_num, null::text as sort_text from run r"
        }
        Some(Entity::Param | Entity::Tag) => {
            "select r.run_id, r.start_time, null::float8 as sort_num, s0.value as sort_text from run r"
        }
        _ => "select r.run_id, r.start_time, null::float8 as sort_num, null::text as sort_text from run r",
    });
    for (i, (entity, key, _)) in q.order.iter().enumerate() {
        let table = match entity {
            Entity::Metric => "latest_metric",
            Entity::Param => "run_param",
            Entity::Tag => "run_tag",
            Entity::Attribute => continue,
        };
        let join = if inner && i == 0 { "join" } else { "left join" };
        b.push(format_args!(" {join} {table} s{i} on s{i}.run_id = r.run_id and s{i}.key = "));
        b.push_bind(key.clone());
    }
    b.push(" where r.experiment_id = any(");
    b.push_bind(q.experiment_ids.to_vec());
    b.push(") and r.lifecycle = any(");
    b.push_bind(q.lifecycles.to_vec());
    b.push(")");
    for c in q.clauses {
        b.push(" and ");
        push_clause(&mut b, c);
    }
    if let Some(k) = q.after {
        let asc = q.order.first().map(|o| o.2);
        match (inner, asc) {
            (true, Some(asc)) => push_after_inner(&mut b, k, asc),
            _ => push_after(&mut b, k, asc),
        }
    }
    b.push(" order by ");
    for (i, (entity, key, asc)) in q.order.iter().enumerate() {
        let dir = if *asc { "asc" } else { "desc" };
        match entity {
            Entity::Attribute => {
                // attribute_column only returns fixed column names; unknown keys were
                // rejected by the parser.
                let col = attribute_column(key).unwrap_or("r.start_time");
                b.push(format_args!("{col} {dir} nulls last, "));
            }
            // Inner-joined values are never null (`latest_metric.value` is not null),
            // so the index's own null placement gives the same order and lets
            // Postgres read the index backwards for `desc`.
            _ if inner && i == 0 => {
                b.push(format_args!("s{i}.value {dir}, "));
            }
            _ => {
                b.push(format_args!("s{i}.value {dir} nulls last, "));
            }
        }
    }
    b.push("r.start_time desc, r.run_id limit ");
    b.push_bind(q.limit);
    b.push(" offset ");
    b.push_bind(q.offset);
    b
}

/// `push_after` for the inner join (no nulls), written as a range on `s0.value` so
/// the index scan starts at the keyset position instead of filtering up to it.
fn push_after_inner(b: &mut QueryBuilder<'_, Postgres>, k: &Keyset, asc: bool) {
    let bind_value = |b: &mut QueryBuilder<'_, Postgres>| match &k.value {
        SortValue::Num(v) => {
            b.push_bind(*v);
        }
        SortValue::Text(s) => {
            b.push_bind(s.clone());
        }
        SortValue::Null => {}
    };
    let (inclusive, strict) = if asc { (">=", ">") } else { ("<=", "<") };
    b.push(format_args!(" and s0.value {inclusive} "));
    bind_value(b);
    b.push(format_args!(" and (s0.value {strict} "));
    bind_value(b);
    b.push(" or (r.start_time < ");
    b.push_bind(k.start_time);
    b.push(" or (r.start_time = ");
    b.push_bind(k.start_time);
    b.push(" and r.run_id > ");
    b.push_bind(k.run_id);
    b.push(")))");
}

/// Rows after `k` in the order `s0.value {asc|desc} nulls last, start_time desc, run_id`.
fn push_after(b: &mut QueryBuilder<'_, Postgres>, k: &Keyset, asc: Option<bool>) {
    let tie = |b: &mut QueryBuilder<'_, Postgres>| {
        b.push("(r.start_time < ");
        b.push_bind(k.start_time);
        b.push(" or (r.start_time = ");
        b.push_bind(k.start_time);
        b.push(" and r.run_id > ");
        b.push_bind(k.run_id);
        b.push("))");
    };
    let Some(asc) = asc else {
        b.push(" and ");
        tie(b);
        return;
    };
    let bind_value = |b: &mut QueryBuilder<'_, Postgres>| match &k.value {
        SortValue::Num(v) => {
            b.push_bind(*v);
        }
        SortValue::Text(s) => {
            b.push_bind(s.clone());
        }
        SortValue::Null => {}
    };
    if k.value == SortValue::Null {
        b.push(" and s0.value is null and ");
        tie(b);
        return;
    }
    b.push(if asc { " and (s0.value > " } else { " and (s0.value < " });
    bind_value(b);
    b.push(" or s0.value is null or (s0.value = ");
    bind_value(b);
    b.push(" and ");
    tie(b);
    b.push("))");
}

fn push_clause(b: &mut QueryBuilder<'_, Postgres>, c: &Clause) {
    let (table, col) = match c.entity {
        Entity::Metric => ("latest_metric", "x.value"),
        Entity::Param => ("run_param", "x.value"),
        Entity::Tag => ("run_tag", "x.value"),
        Entity::Attribute => {
            let col = attribute_column(&c.key).unwrap_or("r.run_id::text");
            push_comparison(b, col, c);
            return;
        }
    };
    b.push(format_args!("exists (select 1 from {table} x where x.run_id = r.run_id and x.key = "));
    b.push_bind(c.key.clone());
    b.push(" and ");
    push_comparison(b, col, c);
    b.push(")");
}

fn push_comparison(b: &mut QueryBuilder<'_, Postgres>, col: &str, c: &Clause) {
    use crate::tracking::filter::Op;
    match (&c.value, c.op) {
        (Value::List(items), Op::In) => {
            b.push(format_args!("{col} = any("));
            b.push_bind(items.clone());
            b.push(")");
        }
        (Value::List(items), _) => {
            b.push(format_args!("{col} <> all("));
            b.push_bind(items.clone());
            b.push(")");
        }
        (Value::Num(n), op) => {
            b.push(format_args!("{col} {} ", op.sql()));
            b.push_bind(*n);
            if col.starts_with("r.") {
                // start_time/end_time are bigint; compare them as numbers.
                b.push("::float8");
            }
        }
        (Value::Str(s), op) => {
            b.push(format_args!("{col} {} ", op.sql()));
            b.push_bind(s.clone());
        }
    }
}
