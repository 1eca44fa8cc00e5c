use domain::DEFAULT_PROJECT_ID;
use domain::auth::Role;
use domain::project::NewProject;
use services::auth::{Principal, Via};
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

#[sqlx::test(migrations = "../migrations")]
async fn the_default_project_exists_from_the_first_migration(pool: PgPool) {
    let st = state(pool);
    let p = services::projects::get(&st, &as_role(Role::Viewer), DEFAULT_PROJECT_ID).await.unwrap();
    assert_eq!(p.name, "default");
}

#[sqlx::test(migrations = "../migrations")]
async fn names_are_unique_ignoring_case(pool: PgPool) {
    let st = state(pool);
    let new = |n: &str| NewProject { name: n.into(), description: String::new() };
    services::projects::create(&st, &as_role(Role::Editor), new("Fraud")).await.unwrap();
    let err = services::projects::create(&st, &as_role(Role::Editor), new("fraud")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("already exists")), "{err:?}");
    let err = services::projects::create(&st, &as_role(Role::Editor), new("")).await.unwrap_err();
    assert!(matches!(err, Error::Validation(ref v) if v.field == "name"), "{err:?}");
    let err = services::projects::create(&st, &as_role(Role::Viewer), new("viewer-made")).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    let names: Vec<_> = services::projects::list(&st, &as_role(Role::Viewer))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["default", "Fraud"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn overview_counts_what_is_stored(pool: PgPool) {
    let st = state(pool);
    let o = services::overview::read(&st, &as_role(Role::Viewer)).await.unwrap();
    assert_eq!(o.projects, 1);
    assert!(o.migrations_applied >= 1);
    assert!(o.database_bytes > 0);
    assert!(o.postgres_version.chars().next().unwrap().is_ascii_digit());
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_projects_are_not_found(pool: PgPool) {
    let st = state(pool);
    let id = domain::ProjectId(uuid::Uuid::nil());
    let err = services::projects::get(&st, &as_role(Role::Viewer), id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { entity: "project", .. }));
    assert!(err.is_client_error());
}
