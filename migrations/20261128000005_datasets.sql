-- Issue 6: datasets with immutable, content-addressed versions, an editable schema
-- per dataset, and validation reports. House rules in migrations/README.md.

create table dataset (
    dataset_id  uuid primary key default gen_random_uuid(),
    project_id  uuid not null references project default '00000000-0000-4000-8000-000000000001',
    name        text not null,
    description text not null default '',
    created_by  uuid references app_user on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
select trigger_updated_at('dataset');
create unique index dataset_name_key on dataset (project_id, lower(name));

-- A version never changes once written. Its identity is `content_hash`: SHA-256 of
-- the raw bytes plus the type overrides, so uploading the same file twice finds the
-- existing version. The Parquet copy lives in the object store under `storage_key`
-- (content-addressed too, so two datasets holding the same bytes share one file).
create table dataset_version (
    dataset_version_id uuid primary key default gen_random_uuid(),
    dataset_id         uuid not null references dataset on delete cascade,
    version            integer not null check (version > 0),
    content_hash       text not null,
    -- upload | path | url | sql | prepared
    source_kind        text not null,
    -- File name, path, URL, source + query, or the transform and its input.
    source_detail      jsonb not null default '{}',
    format             text not null,
    n_rows             bigint not null,
    n_cols             integer not null,
    raw_bytes          bigint not null,
    parquet_bytes      bigint not null,
    storage_key        text not null,
    -- [{name, type}] in file order, after overrides.
    columns            jsonb not null,
    type_overrides     jsonb not null default '{}',
    profile            jsonb not null,
    lineage_artifact_id uuid references lineage_artifact on delete set null,
    created_by         uuid references app_user on delete set null,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
select trigger_updated_at('dataset_version');
create unique index dataset_version_number_key on dataset_version (dataset_id, version);
create unique index dataset_version_hash_key on dataset_version (dataset_id, content_hash);

-- The dataset's expected shape, inferred from a version and then edited by people.
-- One per dataset; `based_on` names the version it was inferred from.
create table dataset_schema (
    dataset_id   uuid primary key references dataset on delete cascade,
    based_on     uuid references dataset_version on delete set null,
    schema       jsonb not null,
    updated_by   uuid references app_user on delete set null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
select trigger_updated_at('dataset_schema');

create table dataset_validation (
    dataset_validation_id uuid primary key default gen_random_uuid(),
    dataset_id            uuid not null references dataset on delete cascade,
    dataset_version_id    uuid not null references dataset_version on delete cascade,
    baseline_version_id   uuid references dataset_version on delete cascade,
    status                text not null check (status in ('pass', 'warn', 'fail')),
    -- The whole report (schema used, anomalies, drift table, histograms to overlay).
    report                jsonb not null,
    created_by            uuid references app_user on delete set null,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);
select trigger_updated_at('dataset_validation');
create index dataset_validation_version_idx on dataset_validation (dataset_version_id, created_at desc);
create index dataset_validation_dataset_idx on dataset_validation (dataset_id, created_at desc);
