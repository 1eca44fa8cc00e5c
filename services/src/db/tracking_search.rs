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
pub async fn search_runs(db: impl PgExecutor<'_>, q: &RunQuery<'_>) -> sqlx::Result<Vec<Hit>> {
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
        b.push(format_args!(" left join {table} s{i} on s{i}.run_id = r.run_id and s{i}.key = "));
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
        push_after(&mut b, k, q.order.first().map(|o| o.2));
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
            _ => {
                b.push(format_args!("s{i}.value {dir} nulls last, "));
            }
        }
    }
    b.push("r.start_time desc, r.run_id limit ");
    b.push_bind(q.limit);
    b.push(" offset ");
    b.push_bind(q.offset);
    b.build_query_as().fetch_all(db).await
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
