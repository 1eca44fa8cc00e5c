-- Pipelines: components (content-addressed, versioned), pipelines and their immutable
-- versions, runs and steps, and the triggers that start runs (schedules live in
-- `schedule` with kind `pipeline.trigger`; watched datasets and webhook secrets here).

-- A component version. Built-ins are registered by the server at start-up; command
-- components when a pipeline version that defines them is created, or through the API.
-- The digest (SHA-256 of the canonical definition) makes registration idempotent.
create table pipeline_component (
    pipeline_component_id uuid primary key default gen_random_uuid(),
    project_id            uuid not null references project default '00000000-0000-4000-8000-000000000001',
    name                  text not null,
    version               int not null check (version >= 1),
    digest                text not null,
    kind                  text not null check (kind in ('builtin', 'command')),
    description           text not null default '',
    -- ComponentSignature: typed inputs and outputs, cacheable.
    signature             jsonb not null,
    -- CommandComponentSpec for command components.
    command               jsonb,
    created_by            uuid references app_user on delete set null,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);
select trigger_updated_at('pipeline_component');
create unique index pipeline_component_version_key on pipeline_component (project_id, name, version);
create unique index pipeline_component_digest_key on pipeline_component (project_id, name, digest);

create table pipeline (
    pipeline_id uuid primary key default gen_random_uuid(),
    project_id  uuid not null references project default '00000000-0000-4000-8000-000000000001',
    name        text not null,
    description text not null default '',
    -- HMAC-SHA256 key for the CI webhook, encrypted with CAIRN_SECRET_KEY
    -- (purpose `pipeline.webhook`); null until someone creates one.
    webhook_secret_enc text,
    created_by  uuid references app_user on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
select trigger_updated_at('pipeline');
create unique index pipeline_name_key on pipeline (project_id, lower(name));

create table pipeline_version (
    pipeline_version_id uuid primary key default gen_random_uuid(),
    pipeline_id         uuid not null references pipeline on delete cascade,
    version             int not null check (version >= 1),
    -- The text as submitted (YAML or JSON) and its parsed form.
    spec_text           text not null,
    spec                jsonb not null,
    -- Step name → PinnedComponent.
    components          jsonb not null,
    digest              text not null,
    created_by          uuid references app_user on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
select trigger_updated_at('pipeline_version');
create unique index pipeline_version_key on pipeline_version (pipeline_id, version);
create unique index pipeline_version_digest_key on pipeline_version (pipeline_id, digest);

-- Datasets whose new versions start a run of the pipeline's newest version.
create table pipeline_dataset_trigger (
    pipeline_id  uuid not null references pipeline on delete cascade,
    dataset_name text not null,
    -- The parameter that receives the new version (`name@version`), if any.
    parameter    text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (pipeline_id, dataset_name)
);
select trigger_updated_at('pipeline_dataset_trigger');
create index pipeline_dataset_trigger_dataset_idx on pipeline_dataset_trigger (lower(dataset_name));

create type pipeline_run_state as enum ('queued', 'running', 'succeeded', 'failed', 'cancelled');

create table pipeline_run (
    pipeline_run_id     uuid primary key default gen_random_uuid(),
    project_id          uuid not null references project default '00000000-0000-4000-8000-000000000001',
    pipeline_id         uuid not null references pipeline on delete cascade,
    pipeline_version_id uuid not null references pipeline_version on delete cascade,
    state               pipeline_run_state not null default 'queued',
    parameters          jsonb not null default '{}',
    -- domain::pipelines::Trigger.
    trigger             jsonb not null,
    rerun_of            uuid references pipeline_run on delete set null,
    error               text,
    created_by          uuid references app_user on delete set null,
    started_at          timestamptz,
    finished_at         timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
select trigger_updated_at('pipeline_run');
create index pipeline_run_pipeline_idx on pipeline_run (pipeline_id, created_at desc);
create index pipeline_run_recent_idx on pipeline_run (created_at desc);

create type pipeline_step_state as enum (
    'pending', 'queued', 'running', 'waiting', 'succeeded', 'cached', 'skipped', 'failed', 'cancelled'
);

create table pipeline_step (
    pipeline_step_id  uuid primary key default gen_random_uuid(),
    pipeline_run_id   uuid not null references pipeline_run on delete cascade,
    name              text not null,
    -- Position in the spec, for stable ordering.
    position          int not null,
    component_name    text not null,
    component_version int not null,
    component_digest  text not null,
    state             pipeline_step_state not null default 'pending',
    depends_on        text[] not null default '{}',
    -- The attempt (job attempt number) that owns the step while it runs: the fence
    -- that keeps a worker whose lease was taken over from recording outputs.
    attempt           int not null default 0,
    max_attempts      int not null default 1 check (max_attempts >= 1),
    timeout_s         int not null,
    cache_enabled     boolean not null default true,
    job_id            uuid references job on delete set null,
    inputs            jsonb not null default '{}',
    outputs           jsonb not null default '{}',
    -- SHA-256 over the component digest and the resolved inputs; set when queued.
    cache_key         text,
    cached_from       uuid references pipeline_step on delete set null,
    -- Work started elsewhere and awaited: {"kind": "training_run", "id": "..."}.
    external          jsonb,
    error             text,
    started_at        timestamptz,
    finished_at       timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
select trigger_updated_at('pipeline_step');
create unique index pipeline_step_name_key on pipeline_step (pipeline_run_id, name);
-- The cache lookup: a finished execution with the same key.
create index pipeline_step_cache_idx on pipeline_step (cache_key, finished_at desc) where state = 'succeeded';
create index pipeline_step_job_idx on pipeline_step (job_id);
