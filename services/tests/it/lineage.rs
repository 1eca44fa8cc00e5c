//! The lineage store: recording is idempotent and walks go both ways.
use domain::DEFAULT_PROJECT_ID;
use services::lineage::{self, Direction, EventKind, ExecutionState, NewArtifact, NewExecution};
use sqlx::PgPool;
use std::collections::BTreeSet;

fn artifact(type_name: &str, name: &str) -> NewArtifact {
    NewArtifact {
        type_name: type_name.into(),
        name: name.into(),
        uri: format!("store://{name}"),
        content_hash: Some(format!("sha256:{name}")),
        properties: serde_json::json!({"name": name}),
        external_id: Some(name.into()),
    }
}

fn execution(name: &str) -> NewExecution {
    NewExecution {
        type_name: "step".into(),
        name: name.into(),
        state: ExecutionState::Complete,
        properties: serde_json::Value::Null,
        job_id: None,
        external_id: Some(name.into()),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn lineage_walks_upstream_and_downstream(pool: PgPool) {
    let p = DEFAULT_PROJECT_ID;
    let mut tx = pool.begin().await.unwrap();
    let raw = lineage::record_artifact(&mut tx, p, &artifact("dataset_version", "raw")).await.unwrap();
    let clean = lineage::record_artifact(&mut tx, p, &artifact("dataset_version", "clean")).await.unwrap();
    let holdout =
        lineage::record_artifact(&mut tx, p, &artifact("dataset_version", "holdout")).await.unwrap();
    let model = lineage::record_artifact(&mut tx, p, &artifact("model_version", "model")).await.unwrap();
    let metrics = lineage::record_artifact(&mut tx, p, &artifact("metrics", "metrics")).await.unwrap();
    let prep = lineage::record_execution(&mut tx, p, &execution("prep")).await.unwrap();
    let train = lineage::record_execution(&mut tx, p, &execution("train")).await.unwrap();
    let eval = lineage::record_execution(&mut tx, p, &execution("eval")).await.unwrap();
    use EventKind::{Input, Output};
    for (e, a, k, role) in [
        (prep, raw, Input, "source"),
        (prep, clean, Output, "clean"),
        (train, clean, Input, "train"),
        (train, model, Output, "model"),
        (eval, model, Input, "model"),
        (eval, holdout, Input, "data"),
        (eval, metrics, Output, "metrics"),
    ] {
        lineage::record_event(&mut tx, e, a, k, role).await.unwrap();
        // Idempotent: a retried job records the same edge again.
        lineage::record_event(&mut tx, e, a, k, role).await.unwrap();
    }
    let run =
        lineage::record_context(&mut tx, p, "pipeline_run", "run-1", &serde_json::json!({})).await.unwrap();
    for a in [raw, clean, model] {
        lineage::attribute(&mut tx, run, a).await.unwrap();
    }
    for e in [prep, train] {
        lineage::associate(&mut tx, run, e).await.unwrap();
    }
    // Recording the same external id again returns the same node.
    assert_eq!(lineage::record_artifact(&mut tx, p, &artifact("dataset_version", "raw")).await.unwrap(), raw);
    assert_eq!(lineage::record_execution(&mut tx, p, &execution("prep")).await.unwrap(), prep);
    assert_eq!(
        lineage::record_context(&mut tx, p, "pipeline_run", "run-1", &serde_json::json!({})).await.unwrap(),
        run
    );
    tx.commit().await.unwrap();

    // Where did the model come from?
    let up = lineage::walk(&pool, model, Direction::Upstream, 10).await.unwrap();
    let arts: BTreeSet<_> = up.artifacts.iter().map(|a| a.artifact_id).collect();
    assert_eq!(arts, BTreeSet::from([model, clean, raw]));
    assert_eq!(up.artifacts[0].artifact_id, model, "the start comes first");
    let execs: BTreeSet<_> = up.executions.iter().map(|e| e.execution_id).collect();
    assert_eq!(execs, BTreeSet::from([train, prep]));
    let edges: BTreeSet<_> = up.edges.iter().map(|e| (e.execution_id, e.artifact_id, e.kind)).collect();
    assert_eq!(
        edges,
        BTreeSet::from([
            (train, model, Output),
            (train, clean, Input),
            (prep, clean, Output),
            (prep, raw, Input)
        ])
    );

    // Depth 1 stops at the producing execution.
    let near = lineage::walk(&pool, model, Direction::Upstream, 1).await.unwrap();
    assert_eq!(near.executions.len(), 1);
    assert_eq!(near.artifacts.len(), 2);

    // What was built from the raw data?
    let down = lineage::walk(&pool, raw, Direction::Downstream, 10).await.unwrap();
    let arts: BTreeSet<_> = down.artifacts.iter().map(|a| a.artifact_id).collect();
    assert_eq!(arts, BTreeSet::from([raw, clean, model, metrics]));
    let execs: BTreeSet<_> = down.executions.iter().map(|e| e.execution_id).collect();
    assert_eq!(execs, BTreeSet::from([prep, train, eval]));
    assert!(!down.edges.iter().any(|e| e.artifact_id == holdout), "side inputs are not downstream");

    let both = lineage::walk(&pool, clean, Direction::Both, 10).await.unwrap();
    assert_eq!(both.executions.len(), 3);

    assert_eq!(lineage::find_artifact(&pool, p, "model_version", "model").await.unwrap(), Some(model));
    assert_eq!(lineage::find_artifact(&pool, p, "dataset_version", "model").await.unwrap(), None);

    let members = lineage::context_members(&pool, run).await.unwrap();
    assert_eq!(members.artifacts.len(), 3);
    assert_eq!(members.executions.len(), 2);
    let mut conn = pool.acquire().await.unwrap();
    let ghost = domain::ExecutionId(uuid::Uuid::new_v4());
    let err = lineage::record_event(&mut conn, ghost, model, Input, "").await.unwrap_err();
    assert!(matches!(err, services::Error::NotFound { entity: "execution", .. }), "{err:?}");
    let ghost = domain::ArtifactId(uuid::Uuid::new_v4());
    let err = lineage::record_event(&mut conn, eval, ghost, Input, "").await.unwrap_err();
    assert!(matches!(err, services::Error::NotFound { entity: "artifact", .. }), "{err:?}");
    drop(conn);
    assert!(matches!(
        lineage::walk(&pool, model, Direction::Upstream, 0).await,
        Err(services::Error::Validation(_))
    ));
}
