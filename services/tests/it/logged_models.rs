//! MLflow 3 logged models through `services::tracking::logged_models`: create with
//! tags and params, finalize, params are immutable, search filters, files live under
//! the model's own prefix.
use bytes::Bytes;
use domain::auth::Role;
use domain::tracking::Tag;
use services::auth::{Principal, Via};
use services::tracking::{self as t, NewRun, artifacts as arts, logged_models as lm};
use services::{AppState, Error, artifacts::ArtifactStore};
use sqlx::PgPool;

fn as_role(role: Role) -> Principal {
    Principal {
        user_id: domain::UserId(uuid::Uuid::nil()),
        username: "t".into(),
        role,
        via: Via::Cli,
        ip: None,
    }
}

fn state(pool: PgPool) -> AppState {
    let dir = tempfile::tempdir().unwrap().keep();
    AppState::new(pool, ArtifactStore::open(&dir.display().to_string()).unwrap())
}

fn kv(k: &str, v: &str) -> Tag {
    Tag { key: k.into(), value: v.into() }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_logged_model_is_created_finalized_found_and_keeps_its_params(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "lm", None, vec![]).await.unwrap();
    let run = t::create_run(&st, &ed, NewRun { experiment_id: exp, ..Default::default() }).await.unwrap();
    let run_id = run.info.run_id;

    let new = lm::NewLoggedModel {
        experiment_id: exp,
        name: Some("model".into()),
        source_run_id: Some(run_id),
        model_type: None,
        tags: vec![kv("mlflow.source.type", "LOCAL")],
        params: vec![kv("C", "1.0")],
    };
    let m = lm::create(&st, &ed, new).await.unwrap();
    assert_eq!(m.status, "PENDING");
    assert!(m.model_id.starts_with("m-"));
    assert_eq!(m.artifact_location, format!("mlflow-artifacts:/{exp}/models/{}/artifacts", m.model_id));
    assert_eq!(m.source_run_id, Some(run_id));
    assert_eq!(m.params, vec![kv("C", "1.0")]);
    let id = lm::parse_model_id(&m.model_id).unwrap();

    // Params: the same value again is fine, another value is refused and nothing is written.
    lm::log_params(&st, &ed, id, vec![kv("C", "1.0"), kv("penalty", "l2")]).await.unwrap();
    let e = lm::log_params(&st, &ed, id, vec![kv("max_iter", "9"), kv("C", "2.0")]).await.unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e:?}");
    lm::set_tags(&st, &ed, id, vec![kv("team", "cv")]).await.unwrap();
    lm::delete_tag(&st, &ed, id, "mlflow.source.type").await.unwrap();
    assert!(matches!(lm::delete_tag(&st, &ed, id, "nope").await, Err(Error::NotFound { .. })));

    let ready = lm::finalize(&st, &ed, id, "READY").await.unwrap();
    assert_eq!(ready.status, "READY");
    assert_eq!(ready.params, vec![kv("C", "1.0"), kv("penalty", "l2")]);
    assert_eq!(ready.tags, vec![kv("team", "cv")]);
    assert!(matches!(lm::finalize(&st, &ed, id, "DONE").await, Err(Error::Validation(_))));

    // A second model in the same experiment; the search by name finds only the first.
    let other = lm::NewLoggedModel { experiment_id: exp, name: Some("other".into()), ..Default::default() };
    lm::create(&st, &ed, other).await.unwrap();
    let (hits, next) = lm::search(&st, &ed, &[exp], Some("name = 'model'"), None, None).await.unwrap();
    assert_eq!((hits.len(), next), (1, None));
    assert_eq!(hits[0].model_id, m.model_id);
    let (hits, _) = lm::search(&st, &ed, &[exp], Some("params.C = '1.0' and status = 'READY'"), None, None)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let (page, next) = lm::search(&st, &ed, &[exp], None, Some(1), None).await.unwrap();
    assert_eq!(page.len(), 1);
    let (page2, next2) = lm::search(&st, &ed, &[exp], None, Some(1), next.as_deref()).await.unwrap();
    assert_eq!((page2.len(), next2), (1, None));
    assert_ne!(page[0].model_id, page2[0].model_id);
    assert!(matches!(
        lm::search(&st, &ed, &[exp], Some("run_name = 'x'"), None, None).await,
        Err(Error::Validation(_))
    ));

    // Outputs: the run produced the model; an unknown model is refused.
    lm::log_outputs(&st, &ed, run_id, vec![(id, 3)]).await.unwrap();
    let unknown = uuid::Uuid::new_v4();
    assert!(matches!(
        lm::log_outputs(&st, &ed, run_id, vec![(unknown, 0)]).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(lm::get(&st, &ed, unknown).await, Err(Error::NotFound { .. })));

    // Readers cannot write.
    let viewer = as_role(Role::Viewer);
    assert!(matches!(lm::set_tags(&st, &viewer, id, vec![kv("a", "b")]).await, Err(Error::Forbidden(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn model_files_stay_under_the_models_prefix(pool: PgPool) {
    let st = state(pool);
    let ed = as_role(Role::Editor);
    let exp = t::create_experiment(&st, &ed, "files", None, vec![]).await.unwrap();
    let new = lm::NewLoggedModel { experiment_id: exp, name: Some("m".into()), ..Default::default() };
    let m = lm::create(&st, &ed, new).await.unwrap();
    let root = format!("{exp}/models/{}/artifacts", m.model_id);
    arts::upload(&st, &ed, &format!("{root}/MLmodel"), Bytes::from_static(b"flavors: {}")).await.unwrap();
    arts::upload(&st, &ed, &format!("{root}/sub/model.skops"), Bytes::from_static(b"xx")).await.unwrap();
    assert_eq!(&arts::download(&st, &ed, &format!("{root}/MLmodel")).await.unwrap()[..], b"flavors: {}");
    let mut names: Vec<(String, bool)> =
        arts::list(&st, &ed, &root).await.unwrap().into_iter().map(|e| (e.path, e.is_dir)).collect();
    names.sort();
    assert_eq!(names, vec![("MLmodel".to_string(), false), ("sub".to_string(), true)]);

    for bad in [format!("{root}/../../x"), format!("/{root}/x"), format!("{exp}/models/{}/x", m.model_id)] {
        let e = arts::upload(&st, &ed, &bad, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(e, Error::Validation(_)), "{bad}: {e:?}");
    }
    // Another experiment's id, or an unknown model: not found.
    let e =
        arts::upload(&st, &ed, &format!("{}/models/{}/artifacts/x", exp + 1, m.model_id), Bytes::new()).await;
    assert!(matches!(e, Err(Error::NotFound { .. })), "{e:?}");
    let unknown = lm::model_id(uuid::Uuid::new_v4());
    let e = arts::upload(&st, &ed, &format!("{exp}/models/{unknown}/artifacts/x"), Bytes::new()).await;
    assert!(matches!(e, Err(Error::NotFound { .. })), "{e:?}");
}
