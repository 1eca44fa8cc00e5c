//! Datasets: versions from real CSV files, content addressing, bad input.
use domain::auth::Role;
use domain::datasets::{ColumnType, NewDataset};
use services::Error;
use services::auth::Principal;
use services::datasets::{self, Spooled, VersionInput};
use services::{AppState, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::collections::BTreeMap;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap()
}

use crate::support::user;

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
}

async fn dataset(st: &AppState, p: &Principal, name: &str) -> domain::DatasetId {
    let new = NewDataset { name: name.into(), description: String::new(), project_id: None };
    datasets::create(st, p, new).await.unwrap().dataset_id
}

fn upload(name: &str) -> VersionInput {
    VersionInput::upload(Some(name.into()), BTreeMap::new())
}

#[sqlx::test(migrations = "../migrations")]
async fn a_csv_becomes_a_typed_version_and_the_same_bytes_find_it_again(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let id = dataset(&st, &p, "penguins").await;
    let bytes = data("penguins.csv");
    let made =
        datasets::create_version(&st, &p, id, Spooled::from_bytes(&bytes).unwrap(), upload("penguins.csv"))
            .await
            .unwrap();
    assert!(made.created);
    let v = made.version;
    assert_eq!((v.version, v.n_rows, v.n_cols), (1, 344, 8));
    let types: Vec<(&str, ColumnType)> = v.columns.iter().map(|c| (c.name.as_str(), c.column_type)).collect();
    assert_eq!(
        types,
        vec![
            ("species", ColumnType::String),
            ("island", ColumnType::String),
            ("bill_length_mm", ColumnType::Float),
            ("bill_depth_mm", ColumnType::Float),
            ("flipper_length_mm", ColumnType::Float),
            ("body_mass_g", ColumnType::Float),
            ("sex", ColumnType::String),
            ("year", ColumnType::Int),
        ]
    );
    assert!(v.lineage_artifact_id.is_some());
    assert_eq!(v.raw_bytes as usize, bytes.len());

    // Same bytes: the same version, nothing new stored.
    let again =
        datasets::create_version(&st, &p, id, Spooled::from_bytes(&bytes).unwrap(), upload("copy.csv"))
            .await
            .unwrap();
    assert!(!again.created);
    assert_eq!(again.version.dataset_version_id, v.dataset_version_id);

    // Same bytes with an override: a new version with the overridden type.
    let mut types = BTreeMap::new();
    types.insert("year".to_string(), ColumnType::String);
    let input = VersionInput::upload(Some("penguins.csv".into()), types);
    let v2 =
        datasets::create_version(&st, &p, id, Spooled::from_bytes(&bytes).unwrap(), input).await.unwrap();
    assert!(v2.created);
    assert_eq!(v2.version.version, 2);
    assert_eq!(v2.version.columns[7].column_type, ColumnType::String);

    // The preview reads the stored Parquet back, with missing values as None.
    let page = datasets::rows(&st, &p, id, 1, 0, 5).await.unwrap();
    assert_eq!(page.total, 344);
    assert_eq!(page.rows.len(), 5);
    assert_eq!(page.rows[0][0].as_deref(), Some("Adelie"));
    assert_eq!(page.rows[0][2].as_deref(), Some("39.1"));
    assert_eq!(page.rows[3][2], None, "row 4 of penguins.csv has no measurements");
    let tail = datasets::rows(&st, &p, id, 1, 340, 50).await.unwrap();
    assert_eq!(tail.rows.len(), 4);

    // The profile was computed while storing: penguins has 2 rows without measurements.
    let profile = datasets::profile(&st, &p, id, 1).await.unwrap();
    assert_eq!(profile.rows, 344);
    let bill = &profile.columns[2];
    assert_eq!((bill.name.as_str(), bill.count, bill.missing), ("bill_length_mm", 342, 2));
    let domain::profile::ColumnStats::Numeric(stats) = &bill.stats else { panic!("{bill:?}") };
    assert!((stats.mean.unwrap() - 43.921_929_824_561_4).abs() < 1e-9);
    let species = &profile.columns[0];
    let domain::profile::ColumnStats::Categorical(top) = &species.stats else { panic!("{species:?}") };
    assert_eq!((top.values[0].value.as_str(), top.values[0].count), ("Adelie", 152));
}

#[sqlx::test(migrations = "../migrations")]
async fn gzip_and_parquet_uploads_are_read_too(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let id = dataset(&st, &p, "iris").await;
    let csv = data("iris.csv");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &csv).unwrap();
    let gz = gz.finish().unwrap();
    // No file name: the format is sniffed from the gzip signature.
    let input = VersionInput::upload(None, BTreeMap::new());
    let v = datasets::create_version(&st, &p, id, Spooled::from_bytes(&gz).unwrap(), input)
        .await
        .unwrap()
        .version;
    assert_eq!((v.n_rows, v.n_cols, v.format.as_str()), (150, 5, "csv.gz"));

    // The stored Parquet uploaded as a new file gives the same table.
    let row =
        st.store.get(&format!("datasets/sha256/{}/{}.parquet", &v.content_hash[..2], v.content_hash)).await;
    let parquet = row.unwrap();
    let other = dataset(&st, &p, "iris-parquet").await;
    let input = VersionInput::upload(Some("iris.parquet".into()), BTreeMap::new());
    let pv = datasets::create_version(&st, &p, other, Spooled::from_bytes(&parquet).unwrap(), input)
        .await
        .unwrap()
        .version;
    assert_eq!((pv.n_rows, pv.n_cols), (150, 5));
    assert_eq!(pv.columns, v.columns);
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_files_get_errors_that_name_the_problem_and_leave_nothing(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let id = dataset(&st, &p, "bad").await;
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "empty"),
        (b"a,b,c\n", "header but no data rows"),
        (b"a,b,a\n1,2,3\n", "`a` appears twice"),
        (b"a,b\n1,2\n3\n", "line 3"),
        (b"a,b\n1,\xff\xfe\n", "UTF-8"),
    ];
    for (bytes, want) in cases {
        let err = datasets::create_version(&st, &p, id, Spooled::from_bytes(bytes).unwrap(), upload("x.csv"))
            .await
            .unwrap_err();
        let Error::Validation(v) = &err else { panic!("{:?} gave {err:?}", String::from_utf8_lossy(bytes)) };
        assert!(v.message.contains(want), "{:?}: {}", String::from_utf8_lossy(bytes), v.message);
    }
    // A value that breaks an explicit override names the column and the line.
    let mut types = BTreeMap::new();
    types.insert("b".to_string(), ColumnType::Int);
    let input = VersionInput::upload(Some("x.csv".into()), types);
    let err =
        datasets::create_version(&st, &p, id, Spooled::from_bytes(b"a,b\n1,2\n2,abc\n").unwrap(), input)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("`b`") && err.to_string().contains("line"), "{err}");
    // An override for a column the file lacks.
    let mut types = BTreeMap::new();
    types.insert("zzz".to_string(), ColumnType::Int);
    let input = VersionInput::upload(Some("x.csv".into()), types);
    let err = datasets::create_version(&st, &p, id, Spooled::from_bytes(b"a\n1\n").unwrap(), input)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("zzz"), "{err}");
    // A .gz name on plain text.
    let err =
        datasets::create_version(&st, &p, id, Spooled::from_bytes(b"a\n1\n").unwrap(), upload("x.csv.gz"))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");

    assert!(datasets::versions(&st, &p, id).await.unwrap().is_empty(), "no partial version left behind");
    let viewer = user(&pool, Role::Viewer).await;
    let err =
        datasets::create_version(&st, &viewer, id, Spooled::from_bytes(b"a\n1\n").unwrap(), upload("x.csv"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)));
}

#[sqlx::test(migrations = "../migrations")]
async fn mixed_columns_become_strings_and_timestamps_are_recognised(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let id = dataset(&st, &p, "mixed").await;
    let csv = b"n,x,when,flag,day\n1,1.5,2013-01-01 05:00:00,true,2013-01-01\n2,abc,2013-01-02T06:30:00,false,2013-01-02\n3,,,TRUE,\n";
    let v = datasets::create_version(&st, &p, id, Spooled::from_bytes(csv).unwrap(), upload("m.csv"))
        .await
        .unwrap()
        .version;
    let types: Vec<ColumnType> = v.columns.iter().map(|c| c.column_type).collect();
    assert_eq!(
        types,
        vec![
            ColumnType::Int,
            ColumnType::String,
            ColumnType::Timestamp,
            ColumnType::Bool,
            ColumnType::Timestamp
        ]
    );
    let page = datasets::rows(&st, &p, id, 1, 0, 10).await.unwrap();
    assert_eq!(page.rows[0][2].as_deref(), Some("2013-01-01T05:00:00+00:00"));
    assert_eq!(page.rows[1][4].as_deref(), Some("2013-01-02T00:00:00+00:00"));
    assert_eq!(page.rows[2][1], None);
}
