//! Ingest and profile one file the way a dataset upload does: type inference,
//! conversion into canonical Arrow batches, the Parquet copy, and the profiler fed
//! batch by batch (`services::datasets::create_version` minus the database and the
//! object store). No database.
//!
//! Timed separately, so a slow total can be traced to its piece:
//! - ingest + profile (what an upload costs), best and median of `runs`;
//! - ingest alone (a no-op batch hook: inference, parsing, Parquet);
//! - reading the file once (decompressing a `.gz`): the ingest reads it twice,
//!   once to infer the column types over the whole file and once to convert;
//! - profiling the same batches already in memory (only for `--file`: holding a
//!   large synthetic file's batches would defeat the memory check).
//!
//! Peak memory is the process's peak resident set (`VmHWM` in
//! `/proc/self/status`), reset before each phase through `/proc/self/clear_refs`
//! where the kernel allows it, so the ingest + profile peak is that phase's own.
//!
//! `--synthetic-rows N` generates a CSV of N rows of mixed columns in a temporary
//! directory instead (deleted afterwards) to show that profiling streams: the peak
//! stays far below the file's size.

use super::Report;
use super::drift::SplitMix64;
use domain::datasets::{ColumnInfo, FileFormat};
use ml::frame::Frame;
use services::datasets::ingest::{IngestError, Ingested, ingest_file};
use services::datasets::read::Profiling;
use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Settings {
    /// The file to ingest; ignored when `synthetic_rows` is set.
    pub file: PathBuf,
    pub runs: usize,
    /// Generate a CSV of this many rows instead of reading `file`.
    pub synthetic_rows: Option<usize>,
    pub synthetic_columns: usize,
    pub seed: u64,
}

/// What one ingest produced, for the report.
struct Outcome {
    rows: u64,
    columns: usize,
    parquet_bytes: u64,
}

impl From<&Ingested> for Outcome {
    fn from(i: &Ingested) -> Self {
        Self { rows: i.n_rows, columns: i.columns.len(), parquet_bytes: i.parquet_bytes }
    }
}

pub fn run(s: &Settings) -> anyhow::Result<Report> {
    let runs = s.runs.max(1);
    // Held until the end of the run: dropping it deletes the generated file.
    let mut scratch: Option<tempfile::TempDir> = None;
    let mut generate_seconds = None;
    let (path, format) = match s.synthetic_rows {
        Some(rows) => {
            anyhow::ensure!(rows > 0 && s.synthetic_columns > 0, "synthetic rows and columns must be > 0");
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("synthetic.csv");
            let t = Instant::now();
            write_synthetic_csv(&path, rows, s.synthetic_columns, s.seed)?;
            generate_seconds = Some(t.elapsed().as_secs_f64());
            scratch = Some(dir);
            (path, FileFormat::Csv)
        }
        None => {
            let format =
                s.file.file_name().and_then(|n| n.to_str()).and_then(FileFormat::from_file_name).ok_or_else(
                    || {
                        anyhow::anyhow!(
                            "{}: the file name should end in .csv, .csv.gz or .parquet",
                            s.file.display()
                        )
                    },
                )?;
            (s.file.clone(), format)
        }
    };
    let bytes_in = std::fs::metadata(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (pass --file with a CSV, CSV.gz or Parquet)", path.display()))?
        .len();

    // Ingest + profile, as an upload does.
    let peak_reset = reset_peak_rss();
    let rss_before = rss_bytes("VmRSS:");
    let mut total = Vec::with_capacity(runs);
    let mut outcome = None;
    for _ in 0..runs {
        let t = Instant::now();
        let (ingested, profile) = ingest_and_profile(&path, format)?;
        std::hint::black_box(&profile);
        total.push(t.elapsed().as_secs_f64());
        outcome = Some(Outcome::from(&ingested));
    }
    let peak_total = rss_bytes("VmHWM:");
    let Some(outcome) = outcome else { anyhow::bail!("no run was made") };

    // Ingest alone.
    reset_peak_rss();
    let mut ingest_only = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let ingested = ingest_file(&path, format, &BTreeMap::new(), &mut |_, _| Ok(()))?;
        std::hint::black_box(&ingested);
        ingest_only.push(t.elapsed().as_secs_f64());
    }
    let peak_ingest = rss_bytes("VmHWM:");

    // One plain read of the file (decompressed), as each of the ingest's two passes does.
    let t = Instant::now();
    let text_bytes = read_through(&path, format)?;
    let read_seconds = t.elapsed().as_secs_f64();

    // Profiling the same batches from memory.
    let mut profile_only = Vec::new();
    if s.synthetic_rows.is_none() {
        let mut batches: Vec<(Vec<ColumnInfo>, Frame)> = Vec::new();
        ingest_file(&path, format, &BTreeMap::new(), &mut |cols, frame| {
            batches.push((cols.to_vec(), frame.clone()));
            Ok(())
        })?;
        for _ in 0..runs {
            let t = Instant::now();
            let mut profiling = Profiling::default();
            for (cols, frame) in &batches {
                profiling.push(cols, frame).map_err(anyhow::Error::msg)?;
            }
            let profile = serde_json::to_value(profiling.finish())?;
            std::hint::black_box(&profile);
            profile_only.push(t.elapsed().as_secs_f64());
        }
    }
    drop(scratch);

    let (total_best, total_median) = (best(&total), median(&total));
    let mb = |b: u64| b as f64 / 1e6;
    let mut figures = vec![
        ("rows", outcome.rows as f64, ""),
        ("columns", outcome.columns as f64, ""),
        ("bytes_in_mb", mb(bytes_in), "MB (file as uploaded)"),
        ("text_mb", mb(text_bytes), "MB (decompressed)"),
        ("parquet_out_mb", mb(outcome.parquet_bytes), "MB (canonical Parquet, Snappy)"),
        ("ingest_profile_seconds", total_best, "s (best run: ingest + Parquet + profile)"),
        ("ingest_profile_seconds_median", total_median, "s"),
        ("rows_per_second", outcome.rows as f64 / total_best, "rows/s"),
        ("mb_per_second", mb(bytes_in) / total_best, "MB/s of the file as uploaded"),
        ("text_mb_per_second", mb(text_bytes) / total_best, "MB/s of decompressed text"),
        ("ingest_only_seconds", best(&ingest_only), "s (best run, no-op batch hook)"),
        ("read_once_seconds", read_seconds, "s (one decompressing read; the ingest makes two)"),
    ];
    if !profile_only.is_empty() {
        figures.push(("profile_only_seconds", best(&profile_only), "s (best run, batches in memory)"));
    }
    if let Some(g) = generate_seconds {
        figures.push(("generate_seconds", g, "s (writing the synthetic CSV, not timed above)"));
    }
    let mut rss = |name, v: Option<u64>, unit| {
        if let Some(v) = v {
            figures.push((name, mb(v), unit));
        }
    };
    rss("rss_before_mb", rss_before, "MB (resident before ingest + profile)");
    rss("peak_rss_mb", peak_total, "MB (peak resident during ingest + profile)");
    rss("peak_rss_ingest_only_mb", peak_ingest, "MB");
    if let Some(p) = peak_total {
        figures.push(("peak_rss_over_file_size", p as f64 / text_bytes.max(1) as f64, "(peak / text size)"));
    }

    let source = match s.synthetic_rows {
        Some(_) => format!("synthetic CSV (seed {}), generated in a temp dir and deleted", s.seed),
        None => path.display().to_string(),
    };
    let list = |v: &[f64]| v.iter().map(|t| format!("{t:.3} s")).collect::<Vec<_>>().join(", ");
    let mut notes = vec![
        format!("{source}: {} rows x {} columns, {format:?}", outcome.rows, outcome.columns),
        format!("ingest + profile runs: {}", list(&total)),
        format!("ingest-only runs: {}", list(&ingest_only)),
        format!("threads available to the profiler: {}", available_threads()),
    ];
    if !profile_only.is_empty() {
        notes.push(format!("profile-only runs: {}", list(&profile_only)));
    }
    if !peak_reset {
        notes.push("could not reset the peak RSS: peaks include everything earlier in the process".into());
    }
    Ok(Report {
        title: "cairn bench profile: ingest (CSV/CSV.gz/Parquet -> Parquet) + profile",
        figures,
        notes,
    })
}

/// Exactly what `create_version` runs on the blocking pool, minus storage.
fn ingest_and_profile(path: &Path, format: FileFormat) -> anyhow::Result<(Ingested, serde_json::Value)> {
    let mut profiler = Profiling::default();
    let ingested = ingest_file(path, format, &BTreeMap::new(), &mut |cols, frame: &Frame| {
        profiler.push(cols, frame).map_err(IngestError::Batch)
    })?;
    let profile = serde_json::to_value(profiler.finish())?;
    Ok((ingested, profile))
}

/// Reads the whole file once (through gzip for `.gz`) and returns the text's size.
fn read_through(path: &Path, format: FileFormat) -> anyhow::Result<u64> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut reader: Box<dyn Read> = match format {
        FileFormat::CsvGz => Box::new(flate2::read::MultiGzDecoder::new(file)),
        FileFormat::Csv | FileFormat::Parquet => Box::new(file),
    };
    Ok(std::io::copy(&mut reader, &mut std::io::sink())?)
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s.get(n / 2).copied().unwrap_or(f64::NAN),
        n => {
            (s.get(n / 2 - 1).copied().unwrap_or(f64::NAN) + s.get(n / 2).copied().unwrap_or(f64::NAN)) / 2.0
        }
    }
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A `kB` line of `/proc/self/status` (`VmRSS:`, `VmHWM:`) in bytes; `None` off Linux.
fn rss_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.trim_start_matches(field).trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak resident set (`VmHWM`) to the current one (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The kinds of column the synthetic CSV cycles through: mostly numbers, as in
/// the tables people upload, plus strings of low, medium and high cardinality
/// (the last one past the profiler's exact distinct limit), a bool and a
/// timestamp.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Float,
    Int,
    FloatMissing,
    Category,
    Code,
    Id,
    Bool,
    Timestamp,
}

const KINDS: [Kind; 20] = [
    Kind::Float,
    Kind::Float,
    Kind::Int,
    Kind::Float,
    Kind::Category,
    Kind::Int,
    Kind::Float,
    Kind::Bool,
    Kind::Float,
    Kind::Int,
    Kind::Code,
    Kind::Float,
    Kind::Timestamp,
    Kind::Float,
    Kind::Int,
    Kind::FloatMissing,
    Kind::Id,
    Kind::Float,
    Kind::Int,
    Kind::Float,
];

fn kind(c: usize) -> Kind {
    KINDS.get(c % KINDS.len()).copied().unwrap_or(Kind::Float)
}

/// Writes `rows` rows of `columns` mixed columns (~200 bytes a row at 20 columns).
fn write_synthetic_csv(path: &Path, rows: usize, columns: usize, seed: u64) -> anyhow::Result<()> {
    const CATEGORIES: [&str; 6] = ["north", "south", "east", "west", "centre", "offshore"];
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let header: Vec<String> = (0..columns).map(|c| format!("c{c:02}_{:?}", kind(c)).to_lowercase()).collect();
    writeln!(out, "{}", header.join(","))?;
    let mut rng = SplitMix64(seed);
    let start = 1_704_067_200_i64; // 2024-01-01T00:00:00Z
    for r in 0..rows {
        for c in 0..columns {
            if c > 0 {
                out.write_all(b",")?;
            }
            match kind(c) {
                Kind::Float => write!(out, "{:.4}", 100.0 * rng.normal() + c as f64)?,
                Kind::FloatMissing if rng.next_f64() < 0.05 => {}
                Kind::FloatMissing => write!(out, "{:.3}", (3.0 + rng.normal()).exp())?,
                Kind::Int => write!(out, "{}", (rng.next_u64() % 100_000) as i64 - 1_000)?,
                Kind::Category => {
                    let i = (rng.next_u64() % CATEGORIES.len() as u64) as usize;
                    out.write_all(CATEGORIES.get(i).copied().unwrap_or("north").as_bytes())?
                }
                Kind::Code => write!(out, "K{:04}", rng.next_u64() % 5_000)?,
                Kind::Id => write!(out, "id-{r:09}")?,
                Kind::Bool => out.write_all(if rng.next_u64() & 1 == 0 { b"true" } else { b"false" })?,
                Kind::Timestamp => {
                    let secs = start + (r as i64) * 7 + (rng.next_u64() % 60) as i64;
                    if let Some(t) = chrono::DateTime::from_timestamp(secs, 0) {
                        write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S"))?
                    }
                }
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::datasets::ColumnType;

    fn fig(report: &Report, name: &str) -> f64 {
        report.figures.iter().find(|f| f.0 == name).map(|f| f.1).unwrap()
    }

    #[test]
    fn profiles_a_small_csv() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiny.csv");
        std::fs::write(&file, "a,b,c\n1,x,0.5\n2,y,\n3,x,2.5\n").unwrap();
        let s = Settings { file, runs: 2, synthetic_rows: None, synthetic_columns: 20, seed: 1 };
        let report = run(&s).unwrap();
        assert_eq!(fig(&report, "rows"), 3.0);
        assert_eq!(fig(&report, "columns"), 3.0);
        assert!(fig(&report, "parquet_out_mb") > 0.0);
        assert!(fig(&report, "profile_only_seconds") >= 0.0);
    }

    #[test]
    fn synthetic_csv_has_the_asked_shape_and_types() {
        let s = Settings {
            file: PathBuf::new(),
            runs: 1,
            synthetic_rows: Some(2_000),
            synthetic_columns: 20,
            seed: 3,
        };
        let report = run(&s).unwrap();
        assert_eq!(fig(&report, "rows"), 2_000.0);
        assert_eq!(fig(&report, "columns"), 20.0);

        // Every kind is inferred as meant (the CSV is what the memory check reads).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        write_synthetic_csv(&path, 500, 20, 3).unwrap();
        let ingested = ingest_file(&path, FileFormat::Csv, &BTreeMap::new(), &mut |_, _| Ok(())).unwrap();
        let types: Vec<String> = ingested.columns.iter().map(|c| c.column_type.to_string()).collect();
        let want = |t: ColumnType| t.to_string();
        assert_eq!(types[0], want(ColumnType::Float));
        assert_eq!(types[2], want(ColumnType::Int));
        assert_eq!(types[4], want(ColumnType::String));
        assert_eq!(types[7], want(ColumnType::Bool));
        assert_eq!(types[12], want(ColumnType::Timestamp));
        assert_eq!(types[15], want(ColumnType::Float));
        assert_eq!(types[16], want(ColumnType::String));
    }

    #[test]
    fn a_missing_file_says_so() {
        let s = Settings {
            file: PathBuf::from("/nonexistent/x.csv"),
            runs: 1,
            synthetic_rows: None,
            synthetic_columns: 20,
            seed: 1,
        };
        let e = run(&s).err().unwrap().to_string();
        assert!(e.contains("/nonexistent/x.csv"), "{e}");
    }
}
