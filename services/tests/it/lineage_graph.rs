//! The lineage view's graph: both directions around an artifact, edges pointing from
//! inputs to executions to outputs, columns left to right, links to the pages.
use domain::DEFAULT_PROJECT_ID;
use domain::lineage::NodeKind;
use services::artifacts::ArtifactStore;
use services::lineage::{self, EventKind, ExecutionState, NewArtifact, NewExecution};
use services::{AppState, Error, lineage_graph};
use sqlx::PgPool;

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn the_graph_walks_from_a_registered_model_back_to_its_data_and_forward(pool: PgPool) {
    let st = state(pool.clone());
    let viewer = crate::support::user(&pool, domain::auth::Role::Viewer).await;
    let p = DEFAULT_PROJECT_ID;
    let (dataset_id, version_id, run, mv) =
        (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut tx = pool.begin().await.unwrap();
    let art = |type_name: &str, name: &str, uri: String, props: serde_json::Value, ext: String| NewArtifact {
        type_name: type_name.into(),
        name: name.into(),
        uri,
        content_hash: None,
        properties: props,
        external_id: Some(ext),
    };
    let data = lineage::record_artifact(
        &mut tx,
        p,
        &art(
            "dataset_version",
            "credit v3",
            "datasets/sha256/x.parquet".into(),
            serde_json::json!({"dataset_id": dataset_id, "version": 3}),
            version_id.to_string(),
        ),
    )
    .await
    .unwrap();
    let model = lineage::record_artifact(
        &mut tx,
        p,
        &art(
            "model",
            "run-1 (logistic)",
            format!("runs:/{}/model", run.simple()),
            serde_json::json!({"run_id": run.simple().to_string()}),
            format!("model:{}", run.simple()),
        ),
    )
    .await
    .unwrap();
    let registered = lineage::record_artifact(
        &mut tx,
        p,
        &art(
            "model_version",
            "credit v1",
            "models:/credit/1".into(),
            serde_json::json!({"model_version_id": mv}),
            format!("model_version:{}", mv.simple()),
        ),
    )
    .await
    .unwrap();
    let predictions = lineage::record_artifact(
        &mut tx,
        p,
        &art("file", "preds.csv", "k/preds.csv".into(), serde_json::json!({}), "file:k/preds.csv".into()),
    )
    .await
    .unwrap();
    let exec = |type_name: &str, name: &str, props: serde_json::Value| NewExecution {
        type_name: type_name.into(),
        name: name.into(),
        state: ExecutionState::Complete,
        properties: props,
        job_id: None,
        external_id: Some(name.into()),
    };
    let step_run = uuid::Uuid::new_v4();
    let train = lineage::record_execution(
        &mut tx,
        p,
        &exec(
            "pipeline_step",
            "credit/train",
            serde_json::json!({"run_id": step_run, "component": "train@1", "component_digest": "sha256:abcdef0123456789"}),
        ),
    )
    .await
    .unwrap();
    let register = lineage::record_execution(
        &mut tx,
        p,
        &exec("register", "register credit v1", serde_json::json!({"model": "credit", "version": 1})),
    )
    .await
    .unwrap();
    let predict =
        lineage::record_execution(&mut tx, p, &exec("batch_predict", "predict", serde_json::json!({})))
            .await
            .unwrap();
    use EventKind::{Input, Output};
    for (e, a, k, role) in [
        (train, data, Input, "dataset"),
        (train, model, Output, "model"),
        (register, model, Input, "model"),
        (register, registered, Output, "model_version"),
        (predict, registered, Input, "model"),
        (predict, predictions, Output, "predictions"),
    ] {
        lineage::record_event(&mut tx, e, a, k, role).await.unwrap();
    }
    tx.commit().await.unwrap();

    // From the registered version: back to the data, forward to the predictions.
    let g = lineage_graph::graph(&st, &viewer, &format!("model_version:{mv}")).await.unwrap();
    assert_eq!(g.start, registered.to_string());
    assert_eq!(g.nodes.len(), 7, "{g:#?}");
    let find = |id: String| g.nodes.iter().find(|n| n.id == id).unwrap().clone();
    let d = find(data.to_string());
    assert_eq!(d.kind, NodeKind::Artifact);
    assert_eq!(d.link.as_deref(), Some(format!("/datasets/{dataset_id}/versions/3").as_str()));
    let t = find(train.to_string());
    assert_eq!(t.link.as_deref(), Some(format!("/pipelines/runs/{step_run}").as_str()));
    assert_eq!(t.detail.as_deref(), Some("train@1 · sha256:abcdef0123"));
    assert_eq!(find(registered.to_string()).link.as_deref(), Some("/models/credit/versions/1"));
    assert_eq!(
        find(model.to_string()).link.as_deref(),
        Some(format!("/training/runs/{}", run.simple()).as_str())
    );
    // Inputs point into executions, executions into outputs; columns follow.
    assert!(
        g.edges
            .iter()
            .any(|e| e.from == data.to_string() && e.to == train.to_string() && e.role == "dataset")
    );
    assert!(g.edges.iter().any(|e| e.from == train.to_string() && e.to == model.to_string()));
    let col = |id: String| g.layers[&id];
    assert_eq!(
        [col(data.to_string()), col(train.to_string()), col(model.to_string()), col(registered.to_string())],
        [0, 1, 2, 4]
    );
    assert_eq!(col(predictions.to_string()), 6);

    // The same graph by artifact id; files by key; unknown references are named.
    let by_id = lineage_graph::graph(&st, &viewer, &registered.to_string()).await.unwrap();
    assert_eq!(by_id.nodes.len(), 7);
    let file = lineage_graph::graph(&st, &viewer, "file:k/preds.csv").await.unwrap();
    assert_eq!(file.start, predictions.to_string());
    let err = lineage_graph::graph(&st, &viewer, "dataset_version:nope").await.unwrap_err();
    assert!(matches!(&err, Error::Validation(v) if v.field == "artifact"), "{err:?}");
    let missing =
        lineage_graph::graph(&st, &viewer, &format!("model_version:{}", uuid::Uuid::new_v4())).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
}
