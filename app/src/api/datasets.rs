//! Server functions of the datasets pages. Uploads go straight to the REST
//! endpoint (streamed, with progress), not through a server function.

use crate::error::AppError;
use domain::DatasetId;
use domain::datasets::{Dataset, DatasetSchema, DatasetVersion, RowPage, StoredSchema};
use domain::profile::DatasetProfile;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::ssr::{principal, state};

#[server(endpoint = "datasets")]
pub async fn list_datasets() -> Result<Vec<Dataset>, AppError> {
    Ok(services::datasets::list(&state()?, &principal()?).await?)
}

#[server(endpoint = "datasets/create")]
pub async fn create_dataset(name: String, description: String) -> Result<Dataset, AppError> {
    let new = domain::datasets::NewDataset { name, description, project_id: None };
    Ok(services::datasets::create(&state()?, &principal()?, new).await?)
}

#[server(endpoint = "datasets/get")]
pub async fn get_dataset(dataset_id: DatasetId) -> Result<Dataset, AppError> {
    Ok(services::datasets::get(&state()?, &principal()?, dataset_id).await?)
}

/// A dataset by id or name (links from pages that know only the name).
#[server(endpoint = "datasets/resolve")]
pub async fn resolve_dataset(id_or_name: String) -> Result<Dataset, AppError> {
    Ok(services::datasets::resolve(&state()?, &principal()?, &id_or_name).await?)
}

#[server(endpoint = "datasets/versions")]
pub async fn dataset_versions(dataset_id: DatasetId) -> Result<Vec<DatasetVersion>, AppError> {
    Ok(services::datasets::versions(&state()?, &principal()?, dataset_id).await?)
}

/// A version with its profile: the version page needs both at once.
#[server(endpoint = "datasets/version")]
pub async fn load_dataset_version(
    dataset_id: DatasetId,
    version: i32,
) -> Result<(DatasetVersion, DatasetProfile), AppError> {
    let (st, p) = (state()?, principal()?);
    let v = services::datasets::version(&st, &p, dataset_id, version).await?;
    let profile = services::datasets::profile(&st, &p, dataset_id, version).await?;
    Ok((v, profile))
}

#[server(endpoint = "datasets/rows")]
pub async fn dataset_rows(dataset_id: DatasetId, version: i32, offset: u64) -> Result<RowPage, AppError> {
    Ok(services::datasets::rows(&state()?, &principal()?, dataset_id, version, offset, 25).await?)
}

/// The stored schema, or one inferred from `version` when none is stored yet.
#[server(endpoint = "datasets/schema")]
pub async fn load_dataset_schema(
    dataset_id: DatasetId,
    version: Option<i32>,
) -> Result<(Option<StoredSchema>, Option<DatasetSchema>), AppError> {
    let (st, p) = (state()?, principal()?);
    let stored = services::datasets::schema::get_schema(&st, &p, dataset_id).await?;
    let inferred = match (&stored, version) {
        (None, Some(v)) => Some(services::datasets::schema::infer(&st, &p, dataset_id, v).await?),
        _ => None,
    };
    Ok((stored, inferred))
}

#[server(endpoint = "datasets/schema/save")]
pub async fn save_schema(
    dataset_id: DatasetId,
    schema: DatasetSchema,
    based_on: Option<i32>,
) -> Result<StoredSchema, AppError> {
    Ok(services::datasets::schema::put_schema(&state()?, &principal()?, dataset_id, schema, based_on).await?)
}

#[server(endpoint = "datasets/validations")]
pub async fn list_validations(
    dataset_id: DatasetId,
) -> Result<Vec<domain::datasets::ValidationSummary>, AppError> {
    Ok(services::datasets::validate::list(&state()?, &principal()?, dataset_id).await?)
}

#[server(endpoint = "datasets/validate")]
pub async fn run_validation(
    dataset_id: DatasetId,
    version: i32,
    baseline_version: Option<i32>,
) -> Result<domain::datasets::ValidationReport, AppError> {
    let new = domain::datasets::NewValidation { version, baseline_version, drift: None };
    Ok(services::datasets::validate::run(&state()?, &principal()?, dataset_id, new).await?)
}

#[server(endpoint = "datasets/validation")]
pub async fn get_validation(
    validation_id: domain::ValidationId,
) -> Result<domain::datasets::ValidationReport, AppError> {
    Ok(services::datasets::validate::report(&state()?, &principal()?, validation_id).await?)
}

/// A new version from a registered SQL source, a server path or a URL.
#[server(endpoint = "datasets/import")]
pub async fn import_version(
    dataset_id: DatasetId,
    request: domain::imports::ImportRequest,
) -> Result<domain::datasets::VersionCreated, AppError> {
    Ok(services::datasets::import::run(&state()?, &principal()?, dataset_id, &request).await?)
}

#[server(endpoint = "data-sources")]
pub async fn list_data_sources() -> Result<Vec<domain::imports::DataSource>, AppError> {
    let list = services::sql_source::list(&state()?, &principal()?, None).await?;
    Ok(list.into_iter().map(Into::into).collect())
}

#[server(endpoint = "data-sources/create")]
pub async fn create_data_source(
    name: String,
    connection: String,
) -> Result<domain::imports::DataSource, AppError> {
    let new = services::sql_source::NewDataSource { project_id: None, name, connection };
    Ok(services::sql_source::create(&state()?, &principal()?, new).await?.into())
}

#[server(endpoint = "datasets/lineage")]
pub async fn version_lineage(
    dataset_id: DatasetId,
    version: i32,
) -> Result<domain::datasets::VersionLineage, AppError> {
    Ok(services::datasets::lineage_view::version_lineage(&state()?, &principal()?, dataset_id, version)
        .await?)
}

/// Fits a transform spec (YAML or JSON) on a version; returns the train version
/// (and test version, when the spec splits).
#[server(endpoint = "datasets/prepare")]
pub async fn prepare_dataset_version(
    dataset_id: DatasetId,
    version: i32,
    spec: String,
    output: String,
) -> Result<domain::preparation::Prepared, AppError> {
    let output = Some(output.trim()).filter(|o| !o.is_empty());
    Ok(services::datasets::prepare::prepare_version(
        &state()?,
        &principal()?,
        dataset_id,
        version,
        &spec,
        output,
    )
    .await?)
}
