//! How long profiling takes at the size of flights.csv.gz (336,776 rows × 19 columns of
//! the same types: 9 int, 5 float with missing values and whole-number values as in
//! flights, 4 string, 1 timestamp), on frames already in memory (ingest not included).
//! Run in release:
//!
//! ```sh
//! cargo test -p ml --release --test profile_bench -- --ignored --nocapture
//! ```

use std::time::Instant;

use domain::datasets::ColumnType;
use ml::frame::{Column, ColumnData, Frame};
use ml::profile::{ProfileConfig, Profiler};

const ROWS: usize = 336_776;
const BATCH: usize = 65_536;

fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A deterministic value in `0..n` for row `i` of column `c`.
fn pick(i: usize, c: u64, n: u64) -> u64 {
    mix64((i as u64) << 5 | c) % n
}

fn int(name: &str, f: impl Fn(usize) -> i64) -> Column {
    Column::new(name, ColumnData::Int((0..ROWS).map(|i| Some(f(i))).collect()))
}

fn float(name: &str, c: u64, scale: f64, offset: f64) -> Column {
    Column::new(
        name,
        ColumnData::Float(
            (0..ROWS)
                .map(|i| (pick(i, c, 40) != 0).then(|| pick(i, c + 20, scale as u64) as f64 + offset))
                .collect(),
        ),
    )
}

fn string(name: &str, c: u64, n: u64, prefix: &str) -> Column {
    Column::new(
        name,
        ColumnData::Str(
            (0..ROWS)
                .map(|i| (pick(i, c + 20, 200) != 0).then(|| format!("{prefix}{}", pick(i, c, n))))
                .collect(),
        ),
    )
}

fn flights_like() -> Vec<Column> {
    vec![
        int("year", |_| 2013),
        int("month", |i| 1 + (i * 12 / ROWS) as i64),
        int("day", |i| 1 + pick(i, 2, 31) as i64),
        float("dep_time", 3, 2400.0, 0.0),
        int("sched_dep_time", |i| 500 + pick(i, 4, 1900) as i64),
        float("dep_delay", 5, 400.0, -40.0),
        float("arr_time", 6, 2400.0, 0.0),
        int("sched_arr_time", |i| pick(i, 7, 2400) as i64),
        float("arr_delay", 8, 450.0, -80.0),
        string("carrier", 9, 16, "C"),
        int("flight", |i| pick(i, 10, 8000) as i64),
        string("tailnum", 11, 4000, "N"),
        string("origin", 12, 3, "O"),
        string("dest", 13, 105, "D"),
        float("air_time", 14, 680.0, 20.0),
        int("distance", |i| 17 + pick(i, 15, 4966) as i64),
        int("hour", |i| 5 + pick(i, 16, 19) as i64),
        int("minute", |i| pick(i, 17, 60) as i64),
        Column::new(
            "time_hour",
            ColumnData::Timestamp(
                (0..ROWS).map(|i| Some(1_357_016_400_000_000 + i as i64 * 93_600_000)).collect(),
            ),
        ),
    ]
}

fn batches(columns: &[Column]) -> Vec<Frame> {
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            let end = (start + BATCH).min(ROWS);
            let cols = columns
                .iter()
                .map(|c| {
                    let data = match &c.data {
                        ColumnData::Int(v) => ColumnData::Int(v[start..end].to_vec()),
                        ColumnData::Float(v) => ColumnData::Float(v[start..end].to_vec()),
                        ColumnData::Bool(v) => ColumnData::Bool(v[start..end].to_vec()),
                        ColumnData::Str(v) => ColumnData::Str(v[start..end].to_vec()),
                        ColumnData::Timestamp(v) => ColumnData::Timestamp(v[start..end].to_vec()),
                    };
                    Column::new(c.name.clone(), data)
                })
                .collect();
            Frame::new(cols).unwrap()
        })
        .collect()
}

/// CPU time (user + system) of this process so far, from /proc (Linux): on a shared
/// machine wall time says little, CPU time says what the work costs.
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0) // USER_HZ is 100 on Linux
}

#[test]
#[ignore = "a timing, not a check: run in release with --ignored --nocapture"]
fn profile_flights_sized_data() {
    let columns = flights_like();
    let schema: Vec<(String, ColumnType)> =
        columns.iter().map(|c| (c.name.clone(), c.data.column_type())).collect();
    let frames = batches(&columns);
    for run in 0..5 {
        let started = Instant::now();
        let cpu_started = cpu_ms();
        let mut profiler = Profiler::new(&schema, ProfileConfig::default()).unwrap();
        let mut push = std::time::Duration::ZERO;
        for frame in &frames {
            let t = Instant::now();
            profiler.push(frame).unwrap();
            push += t.elapsed();
        }
        let t = Instant::now();
        let profile = profiler.finish();
        let finish = t.elapsed();
        let cpu = cpu_ms().zip(cpu_started).map_or("?".to_owned(), |(b, a)| format!("{:.0}", b - a));
        eprintln!(
            "run {run}: {} rows x {} columns in {} batches: push {:.0} ms, finish {:.0} ms, total {:.0} ms wall, {cpu} ms CPU ({} threads)",
            profile.rows,
            profile.columns.len(),
            frames.len(),
            push.as_secs_f64() * 1e3,
            finish.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
            rayon::current_num_threads(),
        );
        assert_eq!(profile.rows, ROWS as u64);
    }
}
