//! Preparing a dataset version: prepared splits as new versions, the fitted
//! transform stored and read back, lineage from the output to the input, content
//! addressing on a re-run, and bad specs refused before anything is stored.
use domain::DatasetId;
use domain::auth::Role;
use domain::datasets::{ColumnType, NewDataset, SourceKind};
use services::auth::Principal;
use services::datasets::{self, Spooled, VersionInput, prepare};
use services::lineage::{self, Direction};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;
use std::collections::BTreeMap;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata");

const SPEC: &str = r#"
target: Status
steps:
  - op: impute
    strategy: median
  - op: impute
    strategy: most_frequent
    columns: [Home, Marital, Job]
  - op: standard_scale
  - op: one_hot
    columns: [Home, Marital, Records, Job]
split:
  method: stratified
  column: Status
  test_fraction: 0.2
  seed: 42
"#;

use crate::support::user;

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
}

/// The `credit` dataset with credit_data.csv as v1.
async fn credit(st: &AppState, p: &Principal) -> (DatasetId, Vec<u8>) {
    let new = NewDataset { name: "credit".into(), description: String::new(), project_id: None };
    let id = datasets::create(st, p, new).await.unwrap().dataset_id;
    let bytes = std::fs::read(format!("{DATA}/credit_data.csv")).unwrap();
    let input = VersionInput::upload(Some("credit_data.csv".into()), BTreeMap::new());
    let made =
        datasets::create_version(st, p, id, Spooled::from_bytes(&bytes).unwrap(), input).await.unwrap();
    assert_eq!(made.version.version, 1);
    (id, bytes)
}

fn validation(err: Error) -> String {
    match err {
        Error::Validation(v) => {
            assert_eq!(v.field, "spec");
            v.message
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn preparing_stores_both_splits_the_transform_and_lineage(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let (credit_id, _) = credit(&st, &p).await;
    let input = datasets::version(&st, &p, credit_id, 1).await.unwrap();
    let n = input.n_rows as usize;
    assert_eq!(n, 4454);

    let made = prepare::prepare_version(&st, &p, credit_id, 1, SPEC, None).await.unwrap();
    let train = &made.train;
    let test = made.test.as_ref().expect("the spec splits");
    assert!(train.created && test.created);
    assert_eq!(train.version.dataset_name, "credit-prepared");
    assert_eq!(test.version.dataset_name, "credit-prepared-test");
    let n_test = (0.2 * n as f64).ceil() as i64;
    assert_eq!((train.version.n_rows, test.version.n_rows), (n as i64 - n_test, n_test));
    assert_eq!((train.version.n_rows, test.version.n_rows), (3563, 891));
    assert_eq!(train.version.source_kind, SourceKind::Prepared);
    let detail = &train.version.source_detail;
    assert_eq!(detail["input_dataset"], "credit");
    assert_eq!(detail["input_dataset_id"], credit_id.to_string());
    assert_eq!(detail["input_version"], 1);
    assert_eq!(detail["transform_key"], made.transform_key.as_str());
    assert_eq!(detail["spec"]["split"]["seed"], 42);
    assert_eq!(detail["spec"]["steps"][3]["op"], "one_hot");

    // The same columns on both sides: the one-hot indicators replace the categories.
    assert_eq!(train.version.columns, test.version.columns);
    let column_type =
        |name: &str| train.version.columns.iter().find(|c| c.name == name).map(|c| c.column_type);
    assert_eq!(column_type("Home"), None);
    assert_eq!(column_type("Home_rent"), Some(ColumnType::Float));
    assert_eq!(column_type("Job_fixed"), Some(ColumnType::Float));
    assert_eq!(column_type("Income"), Some(ColumnType::Float), "median imputation makes ints floats");
    assert_eq!(column_type("Status"), Some(ColumnType::String));

    // No missing numbers left on either side (Income, Assets and Debt had some).
    for v in [train, test] {
        let profile = datasets::profile(&st, &p, v.version.dataset_id, v.version.version).await.unwrap();
        let numeric: Vec<_> = profile.columns.iter().filter(|c| c.column_type.is_numeric()).collect();
        assert!(numeric.len() > 20, "{} numeric columns", numeric.len());
        for c in numeric {
            assert_eq!(
                c.missing, 0,
                "{} v{}: `{}` has missing values",
                v.version.dataset_name, v.version.version, c.name
            );
        }
    }

    // The stored rows are exactly what `ml::prepare` computes from the input, and
    // the stored transform is exactly the fitted one.
    let input_frame = datasets::read::whole(datasets::parquet(&st, &p, credit_id, 1).await.unwrap()).unwrap();
    let expected = ml::prepare::prepare(&ml::prepare::parse_spec(SPEC).unwrap(), &input_frame).unwrap();
    let stored = |v: &domain::datasets::VersionCreated| {
        let st = st.clone();
        let p = p.clone();
        let (ds, number) = (v.version.dataset_id, v.version.version);
        async move { datasets::read::whole(datasets::parquet(&st, &p, ds, number).await.unwrap()).unwrap() }
    };
    assert_eq!(stored(train).await, expected.train);
    assert_eq!(Some(stored(test).await), expected.test);
    for v in [train, test] {
        let fitted =
            prepare::fitted_transform(&st, &p, v.version.dataset_id, v.version.version).await.unwrap();
        assert_eq!(fitted, expected.fitted);
    }

    // Lineage: upstream of the train version is the prepare execution, whose input
    // is credit v1; downstream of credit v1 are both splits and the transform.
    let train_artifact = train.version.lineage_artifact_id.unwrap();
    let up = lineage::walk(&st.db, train_artifact, Direction::Upstream, 10).await.unwrap();
    assert_eq!(up.executions.len(), 1);
    assert_eq!(up.executions[0].execution_id, made.execution);
    assert_eq!(up.executions[0].type_name, "prepare");
    let input_artifact = input.lineage_artifact_id.unwrap();
    assert!(up.artifacts.iter().any(|a| a.artifact_id == input_artifact));
    let down = lineage::walk(&st.db, input_artifact, Direction::Downstream, 1).await.unwrap();
    let mut outputs: Vec<(String, String)> = down
        .edges
        .iter()
        .filter(|e| e.kind == lineage::EventKind::Output)
        .map(|e| {
            let a = down.artifacts.iter().find(|a| a.artifact_id == e.artifact_id).unwrap();
            (e.role.clone(), a.type_name.clone())
        })
        .collect();
    outputs.sort();
    assert_eq!(
        outputs,
        [("test", "dataset_version"), ("train", "dataset_version"), ("transform", "transform")]
            .map(|(r, t)| (r.to_string(), t.to_string()))
    );
    let transform = down.artifacts.iter().find(|a| a.type_name == "transform").unwrap();
    assert_eq!(transform.uri, made.transform_key);

    // The version pages' lineage: the train version was made by `prepare` from
    // credit v1 (linked), and credit v1 shows the step that used it.
    let made_by =
        datasets::lineage_view::version_lineage(&st, &p, train.version.dataset_id, 1).await.unwrap();
    assert_eq!(made_by.upstream.len(), 1);
    assert_eq!(made_by.upstream[0].execution_type, "prepare");
    let input = &made_by.upstream[0].inputs;
    assert_eq!(input.len(), 1);
    assert_eq!(input[0].link.as_deref(), Some(format!("/datasets/{credit_id}/versions/1").as_str()));
    assert!(made_by.upstream[0].outputs.iter().any(|a| a.name == "credit-prepared v1"));
    let used_by = datasets::lineage_view::version_lineage(&st, &p, credit_id, 1).await.unwrap();
    assert!(used_by.upstream.is_empty());
    assert_eq!(used_by.downstream.len(), 1);
    assert_eq!(used_by.downstream[0].outputs.len(), 3, "train, test and the transform");

    // Again with the same spec (as JSON this time): the same versions, nothing new.
    let spec_json = serde_json::to_string(&ml::prepare::parse_spec(SPEC).unwrap()).unwrap();
    let again = prepare::prepare_version(&st, &p, credit_id, 1, &spec_json, None).await.unwrap();
    assert!(!again.train.created && !again.test.as_ref().unwrap().created);
    assert_eq!(again.train.version.dataset_version_id, train.version.dataset_version_id);
    assert_eq!(again.test.unwrap().version.dataset_version_id, test.version.dataset_version_id);
    assert_eq!((again.transform_key, again.execution), (made.transform_key.clone(), made.execution));
    let prepared_ds = train.version.dataset_id;
    assert_eq!(datasets::versions(&st, &p, prepared_ds).await.unwrap().len(), 1);

    // A named output; the test split goes next to it.
    let named = prepare::prepare_version(&st, &p, credit_id, 1, SPEC, Some("credit-features")).await.unwrap();
    assert_eq!(named.train.version.dataset_name, "credit-features");
    assert_eq!(named.test.unwrap().version.dataset_name, "credit-features-test");
    assert!(named.train.created, "a version is new in each dataset");
    assert_eq!(named.transform_key, made.transform_key, "the same fit is the same blob");
    let err = prepare::prepare_version(&st, &p, credit_id, 1, SPEC, Some("credit")).await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.field == "output"), "{err:?}");

    // Without a split, everything is train.
    let all = "steps:\n  - op: drop\n    columns: [Price]\n";
    let whole = prepare::prepare_version(&st, &p, credit_id, 1, all, Some("credit-all")).await.unwrap();
    assert!(whole.test.is_none());
    assert_eq!(whole.train.version.n_rows, 4454);
    assert_eq!(whole.train.version.n_cols, 13);

    // An uploaded version has no transform.
    let err = prepare::fitted_transform(&st, &p, credit_id, 1).await.unwrap_err();
    let Error::NotFound { entity, id } = &err else { panic!("{err:?}") };
    assert_eq!(*entity, "fitted transform");
    assert!(id.contains("credit v1") && id.contains("upload"), "{id}");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_specs_and_viewers_store_nothing(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    let (credit_id, _) = credit(&st, &p).await;
    let datasets_before = datasets::list(&st, &p).await.unwrap().len();

    let unknown = "steps:\n  - op: one_hot\n    columns: [Colour]\n";
    let message =
        validation(prepare::prepare_version(&st, &p, credit_id, 1, unknown, None).await.unwrap_err());
    assert!(message.starts_with("step 1 (one_hot): unknown column `Colour`"), "{message}");
    assert!(message.contains("Status"), "the message lists the columns: {message}");

    let syntax = "steps:\n  - op: impute\n    strategy: [median\n";
    let message =
        validation(prepare::prepare_version(&st, &p, credit_id, 1, syntax, None).await.unwrap_err());
    assert!(message.starts_with("invalid transform spec: "), "{message}");
    assert!(message.contains("line"), "the parser's position: {message}");

    let bad_json = r#"{"steps": [{"op": "drop", "colums": ["Price"]}]}"#;
    let message =
        validation(prepare::prepare_version(&st, &p, credit_id, 1, bad_json, None).await.unwrap_err());
    assert!(message.contains("colums"), "{message}");

    // A step that does not fit the column's type names the step and the column.
    let wrong = "steps:\n  - op: log\n    columns: [Home]\n";
    let message = validation(prepare::prepare_version(&st, &p, credit_id, 1, wrong, None).await.unwrap_err());
    assert!(message.starts_with("step 1 (log): column `Home`"), "{message}");

    let viewer = user(&pool, Role::Viewer).await;
    let err = prepare::prepare_version(&st, &viewer, credit_id, 1, SPEC, None).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");

    let missing = prepare::prepare_version(&st, &p, credit_id, 7, SPEC, None).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");

    let after = datasets::list(&st, &p).await.unwrap();
    assert_eq!(after.len(), datasets_before, "no output dataset was created");
    assert_eq!(datasets::versions(&st, &p, credit_id).await.unwrap().len(), 1);
    let executions: i64 =
        sqlx::query_scalar("select count(*) from lineage_execution").fetch_one(&pool).await.unwrap();
    assert_eq!(executions, 0);
}
