//! The model registry against Postgres: versions from real training runs, aliases,
//! the approval rules of protected aliases (who may, who may not, how many), the
//! audit trail and notifications, rollback, and bad input.
use crate::support::user;
use crate::training::{credit, run_jobs, spec, state};
use domain::auth::{AuditFilter, Role};
use domain::registry::{
    AliasOutcome, Decision, ModelChange, ModelFormat, ModelPolicy, NewModelVersion, NewPromotion,
    NewRegisteredModel, NewReview, PromotionState,
};
use services::auth::Principal;
use services::lineage::{self, Direction};
use services::registry::{self, aliases, promotion};
use services::{AppState, Error, auth::audit, notifications, training};
use sqlx::PgPool;

/// A finished Gaussian naive Bayes run on credit (fast), with the given gates.
async fn trained(st: &AppState, p: &Principal, gates: &[&str]) -> String {
    let mut s = spec(serde_json::json!({"name": "gaussian_nb"}));
    s.gates = gates.iter().map(|g| g.to_string()).collect();
    let made = training::submit(st, p, s).await.unwrap();
    assert_eq!(run_jobs(st).await, 1);
    made.run_id
}

async fn model(st: &AppState, p: &Principal, name: &str) {
    let new = NewRegisteredModel { name: name.into(), ..Default::default() };
    registry::create_model(st, p, new).await.unwrap();
}

async fn version(st: &AppState, p: &Principal, name: &str, run: &str) -> i32 {
    let new = NewModelVersion { source: format!("runs:/{run}/model"), ..Default::default() };
    registry::create_version(st, p, name, new).await.unwrap().version
}

fn review(decision: Decision, comment: &str) -> NewReview {
    NewReview { decision, comment: comment.into() }
}

async fn production(st: &AppState, p: &Principal, name: &str) -> Option<i32> {
    aliases::get_alias(st, p, name, "production").await.ok().map(|a| a.version)
}

#[sqlx::test(migrations = "../migrations")]
async fn a_training_run_registers_as_a_servable_version_with_its_evidence(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let run = trained(&st, &p, &["accuracy >= 0.5"]).await;
    model(&st, &p, "credit").await;
    assert_eq!(version(&st, &p, "credit", &run).await, 1);
    assert_eq!(version(&st, &p, "credit", &run).await, 2, "versions are numbered densely");

    let v = registry::get_version(&st, &p, "credit", 1).await.unwrap();
    assert_eq!(v.format, ModelFormat::Cairn);
    assert_eq!(v.not_servable_reason, None);
    let sig = v.signature.as_ref().unwrap();
    assert!(sig.inputs.iter().any(|c| c.name == "Seniority"));
    assert_eq!(sig.output.classes, ["bad", "good"]);
    assert!(v.metrics["accuracy"] > 0.5, "{:?}", v.metrics);
    assert_eq!(v.params["algorithm"], "gaussian_nb");
    assert_eq!(v.gates_passed, Some(true));
    assert!(v.dataset_version_id.is_some());
    assert_eq!(v.created_by.as_deref(), Some(p.username.as_str()));

    // The version's own bundle copy predicts, whatever happens to the run later.
    let bundle = registry::bundle(&st, &p, &v).await.unwrap();
    assert_eq!(bundle.classes(), ["bad", "good"]);

    // `models:/` references resolve.
    assert_eq!(registry::resolve(&st, &p, "models:/credit/latest").await.unwrap().version, 2);
    assert_eq!(registry::resolve(&st, &p, "models:/credit/1").await.unwrap().version, 1);

    // Lineage: the version ← register ← the trained model ← train ← the dataset version.
    let external = format!("model_version:{}", v.model_version_id.0.simple());
    let artifact = lineage::find_artifact(&st.db, domain::DEFAULT_PROJECT_ID, "model_version", &external)
        .await
        .unwrap()
        .expect("the version is a lineage artifact");
    let up = lineage::walk(&st.db, artifact, Direction::Upstream, lineage::MAX_DEPTH).await.unwrap();
    let types: Vec<&str> = up.artifacts.iter().map(|a| a.type_name.as_str()).collect();
    assert!(types.contains(&"dataset_version") && types.contains(&"model"), "{types:?}");

    // The model card is editable markdown.
    let card =
        domain::registry::VersionChange { model_card: Some("# Credit\nGood.".into()), description: None };
    let v = registry::update_version(&st, &p, "credit", 1, card).await.unwrap();
    assert_eq!(v.model_card, "# Credit\nGood.");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_protected_alias_moves_only_through_an_approved_request(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    let approver = user(&pool, Role::Approver).await;
    let other_approver = user(&pool, Role::Approver).await;
    let viewer = user(&pool, Role::Viewer).await;
    credit(&st, &editor).await;
    let run = trained(&st, &editor, &[]).await;
    model(&st, &editor, "credit").await;
    version(&st, &editor, "credit", &run).await;

    // An unprotected alias moves at once.
    match aliases::set_alias(&st, &editor, "credit", "staging", 1, "").await.unwrap() {
        AliasOutcome::Moved { alias } => assert_eq!(alias.version, 1),
        other => panic!("staging should move at once: {other:?}"),
    }
    // Production does not: setting it makes a request, asked twice is the same request.
    let AliasOutcome::RequestCreated { request } =
        aliases::set_alias(&st, &editor, "credit", "production", 1, "ship it").await.unwrap()
    else {
        panic!("production is protected")
    };
    assert_eq!(request.state, PromotionState::Pending);
    let again = promotion::request(
        &st,
        &editor,
        "credit",
        NewPromotion { version: 1, alias: "production".into(), comment: String::new() },
    )
    .await
    .unwrap();
    assert_eq!(again.promotion_request_id, request.promotion_request_id);
    assert_eq!(production(&st, &editor, "credit").await, None);

    // Approvers are told; the requester's own inbox does not count it.
    assert_eq!(promotion::inbox(&st, &approver).await.unwrap().pending_reviews, 1);
    assert_eq!(promotion::inbox(&st, &approver).await.unwrap().unread_notifications, 1);
    assert_eq!(promotion::inbox(&st, &editor).await.unwrap().pending_reviews, 0);

    let id = request.promotion_request_id;
    // Viewers and editors cannot decide; an approver cannot decide their own request.
    for who in [&viewer, &editor] {
        let err = promotion::review(&st, who, id, review(Decision::Approve, "")).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    }
    let own = promotion::request(
        &st,
        &approver,
        "credit",
        NewPromotion { version: 1, alias: "production".into(), comment: String::new() },
    )
    .await
    .unwrap();
    assert_eq!(own.promotion_request_id, id, "the open request for the same version");
    assert_eq!(production(&st, &editor, "credit").await, None);

    let detail = promotion::detail(&st, &approver, id).await.unwrap();
    assert!(detail.can_review && detail.current.is_none());
    assert!(!promotion::detail(&st, &viewer, id).await.unwrap().can_review);

    let decided =
        promotion::review(&st, &approver, id, review(Decision::Approve, "metrics hold")).await.unwrap();
    assert_eq!(decided.state, PromotionState::Approved);
    assert_eq!(production(&st, &editor, "credit").await, Some(1));
    let err = promotion::review(&st, &other_approver, id, review(Decision::Approve, "")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("already approved")), "{err:?}");

    // The requester hears about it; the audit log has the request, the denials and the approval.
    let notes = notifications::list(&st, &editor, 10).await.unwrap();
    assert!(
        notes.iter().any(|n| n.kind == "promotion.approved" && n.title.contains("credit v1")),
        "{notes:?}"
    );
    let admin = user(&pool, Role::Admin).await;
    let log = audit::list(&st, &admin, &AuditFilter::default()).await.unwrap();
    let seen = |action: &str, outcome: &str| log.iter().any(|e| e.action == action && e.outcome == outcome);
    assert!(
        seen("promotion.request", "ok")
            && seen("promotion.approve", "ok")
            && seen("promotion.approve", "denied")
    );

    // Baseline gates can compare against what production serves now.
    let mut s = spec(serde_json::json!({"name": "gaussian_nb"}));
    s.gates = vec!["accuracy >= baseline - 1%".into()];
    s.baseline_run = Some("models:/credit@production".into());
    let made = training::submit(&st, &editor, s.clone()).await.unwrap();
    assert_eq!(run_jobs(&st).await, 1);
    let d = training::get(&st, &editor, uuid::Uuid::parse_str(&made.run_id).unwrap()).await.unwrap();
    assert_eq!(d.gates.len(), 1);
    assert!(d.gates[0].passed, "the same model on the same data is no worse: {:?}", d.gates);
    s.baseline_run = Some("models:/credit@nope".into());
    assert!(matches!(training::submit(&st, &editor, s).await, Err(Error::NotFound { .. })));

    // A protected alias cannot be removed, and its version cannot be deleted.
    assert!(matches!(
        aliases::delete_alias(&st, &editor, "credit", "production").await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(registry::delete_version(&st, &editor, "credit", 1).await, Err(Error::Conflict(_))));
    assert!(matches!(registry::delete_model(&st, &editor, "credit").await, Err(Error::Conflict(_))));
}

#[sqlx::test(migrations = "../migrations")]
async fn two_approvals_rejections_and_rollback(pool: PgPool) {
    let st = state(pool.clone());
    let editor = user(&pool, Role::Editor).await;
    let a1 = user(&pool, Role::Approver).await;
    let a2 = user(&pool, Role::Approver).await;
    let admin = user(&pool, Role::Admin).await;
    credit(&st, &editor).await;
    let run = trained(&st, &editor, &[]).await;
    model(&st, &editor, "credit").await;
    for _ in 0..3 {
        version(&st, &editor, "credit", &run).await;
    }
    // Only an admin changes the policy.
    let two = ModelPolicy { required_approvals: 2, ..ModelPolicy::default() };
    let change = ModelChange { description: None, policy: Some(two) };
    assert!(matches!(
        registry::update_model(&st, &editor, "credit", change.clone()).await,
        Err(Error::Forbidden(_))
    ));
    registry::update_model(&st, &admin, "credit", change).await.unwrap();

    let promote = |v: i32| NewPromotion { version: v, alias: "production".into(), comment: String::new() };
    let r1 = promotion::request(&st, &editor, "credit", promote(1)).await.unwrap().promotion_request_id;
    let half = promotion::review(&st, &a1, r1, review(Decision::Approve, "")).await.unwrap();
    assert_eq!(half.state, PromotionState::Pending, "one of two approvals");
    assert!(matches!(
        promotion::review(&st, &a1, r1, review(Decision::Approve, "")).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(production(&st, &editor, "credit").await, None);
    promotion::review(&st, &a2, r1, review(Decision::Approve, "")).await.unwrap();
    assert_eq!(production(&st, &editor, "credit").await, Some(1));

    // A rejection needs a reason and ends the request.
    let r2 = promotion::request(&st, &editor, "credit", promote(2)).await.unwrap().promotion_request_id;
    let err = promotion::review(&st, &a1, r2, review(Decision::Reject, " ")).await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.field == "comment"), "{err:?}");
    let rejected = promotion::review(&st, &a1, r2, review(Decision::Reject, "recall dropped")).await.unwrap();
    assert_eq!(rejected.state, PromotionState::Rejected);
    assert_eq!(production(&st, &editor, "credit").await, Some(1));
    let notes = notifications::list(&st, &editor, 10).await.unwrap();
    assert!(notes.iter().any(|n| n.kind == "promotion.rejected" && n.body == "recall dropped"));

    for v in [2, 3] {
        let r = promotion::request(&st, &editor, "credit", promote(v)).await.unwrap().promotion_request_id;
        promotion::review(&st, &a1, r, review(Decision::Approve, "")).await.unwrap();
        promotion::review(&st, &a2, r, review(Decision::Approve, "")).await.unwrap();
    }
    assert_eq!(production(&st, &editor, "credit").await, Some(3));
    // Rollback: approvers alone, walking back through history.
    assert!(matches!(
        aliases::rollback(&st, &editor, "credit", "production").await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(aliases::rollback(&st, &a1, "credit", "production").await.unwrap().version, 2);
    assert_eq!(aliases::rollback(&st, &a1, "credit", "production").await.unwrap().version, 1);
    let err = aliases::rollback(&st, &a1, "credit", "production").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("no earlier version")), "{err:?}");
    let history = registry::model_detail(&st, &editor, "credit").await.unwrap().alias_history;
    let reasons: Vec<&str> = history.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["rollback", "rollback", "promotion", "promotion", "promotion"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn failed_gates_and_bad_sources_are_refused_with_reasons(pool: PgPool) {
    let st = state(pool.clone());
    let p = user(&pool, Role::Editor).await;
    credit(&st, &p).await;
    let run = trained(&st, &p, &["accuracy >= 0.999"]).await;
    model(&st, &p, "credit").await;
    version(&st, &p, "credit", &run).await;
    let err = promotion::request(
        &st,
        &p,
        "credit",
        NewPromotion { version: 1, alias: "production".into(), comment: String::new() },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("accuracy >= 0.999")), "{err:?}");

    let bad = |source: &str| NewModelVersion { source: source.into(), ..Default::default() };
    let err = registry::create_version(&st, &p, "credit", bad("s3://x/model")).await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.field == "source"), "{err:?}");
    let missing = uuid::Uuid::new_v4();
    let err = registry::create_version(&st, &p, "credit", bad(&format!("runs:/{missing}/model")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = registry::create_version(&st, &p, "nope", bad(&run)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { entity: "registered model", .. }), "{err:?}");
    let err =
        registry::create_version_from_bundle(&st, &p, "credit", "x.json", "{}".into(), "").await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.field == "bundle"), "{err:?}");
    let err =
        registry::create_model(&st, &p, NewRegisteredModel { name: "Credit".into(), ..Default::default() })
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "names are unique ignoring case: {err:?}");
    let err = aliases::set_alias(&st, &p, "credit", "latest", 1, "").await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.field == "alias"), "{err:?}");
    // A version uploaded as a bundle file is servable too.
    let bytes = st
        .store
        .get(&registry::bundle_key(
            registry::get_version(&st, &p, "credit", 1).await.unwrap().model_version_id,
        ))
        .await
        .unwrap();
    let up = registry::create_version_from_bundle(&st, &p, "credit", "model.json", bytes, "hand-made")
        .await
        .unwrap();
    assert_eq!((up.version, up.format, up.source.as_str()), (2, ModelFormat::Cairn, "upload:model.json"));
}
