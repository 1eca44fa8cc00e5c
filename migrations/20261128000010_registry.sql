-- Issue 9: the model registry. Registered models hold numbered, immutable versions;
-- aliases (staging, production, ...) point at versions; moving a protected alias
-- goes through a promotion request that approvers decide. Every alias move is kept
-- in model_alias_event, which is both the history the UI shows and what rollback reads.

create table registered_model (
    registered_model_id uuid primary key default gen_random_uuid(),
    project_id          uuid not null default '00000000-0000-4000-8000-000000000001'
                        references project on delete cascade,
    name                text not null check (length(name) between 1 and 200),
    description         text not null default '',
    -- Policy: aliases that only a promotion request may move, how many distinct
    -- approvers must approve, and whether the candidate's gates must have passed.
    protected_aliases   text[] not null default '{production}',
    required_approvals  smallint not null default 1 check (required_approvals in (1, 2)),
    require_gates       boolean not null default true,
    created_by          uuid references app_user on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create unique index registered_model_name_key on registered_model (project_id, lower(name));
select trigger_updated_at('registered_model');

create table registered_model_tag (
    registered_model_id uuid not null references registered_model on delete cascade,
    key                 text not null,
    value               text not null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (registered_model_id, key)
);
select trigger_updated_at('registered_model_tag');

create table model_version (
    model_version_id    uuid primary key default gen_random_uuid(),
    registered_model_id uuid not null references registered_model on delete cascade,
    version             integer not null check (version > 0),
    -- Where it came from: a tracked run (Cairn training or an MLflow client's model),
    -- a pipeline step, or an uploaded bundle; `source` is the URI as given.
    source_kind         text not null check (source_kind in ('run', 'pipeline', 'upload')),
    source              text not null default '',
    run_id              uuid references run on delete set null,
    logged_model_id     uuid references logged_model on delete set null,
    -- 'cairn' bundles are served; other formats are registered but not servable,
    -- and `not_servable_reason` says why.
    format              text not null check (format in ('cairn', 'mlflow')),
    not_servable_reason text,
    -- Object-store key of the version's own copy of the bundle (immutable even if the
    -- run's artifacts are deleted); null for formats Cairn cannot serve.
    bundle_path         text,
    bundle_sha256       text,
    signature           jsonb,
    metrics             jsonb not null default '{}',
    params              jsonb not null default '{}',
    -- [`domain::training::GateResult`] as the training run stored them; null: none declared.
    gates               jsonb,
    gates_passed        boolean,
    dataset_version_id  uuid references dataset_version on delete set null,
    model_artifact_id   uuid references lineage_artifact on delete set null,
    description         text not null default '',
    model_card          text not null default '',
    status              text not null default 'READY'
                        check (status in ('PENDING_REGISTRATION', 'READY', 'FAILED_REGISTRATION')),
    created_by          uuid references app_user on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    unique (registered_model_id, version)
);
select trigger_updated_at('model_version');
create index model_version_run_idx on model_version (run_id) where run_id is not null;

create table model_version_tag (
    model_version_id uuid not null references model_version on delete cascade,
    key              text not null,
    value            text not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (model_version_id, key)
);
select trigger_updated_at('model_version_tag');

-- A version an alias points at cannot be deleted (restrict): move the alias first.
create table model_alias (
    registered_model_id uuid not null references registered_model on delete cascade,
    alias               text not null check (alias ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$'),
    model_version_id    uuid not null references model_version on delete restrict,
    updated_by          uuid references app_user on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (registered_model_id, alias)
);
select trigger_updated_at('model_alias');
create index model_alias_version_idx on model_alias (model_version_id);

create table promotion_request (
    promotion_request_id uuid primary key default gen_random_uuid(),
    registered_model_id  uuid not null references registered_model on delete cascade,
    alias                text not null,
    model_version_id     uuid not null references model_version on delete cascade,
    -- What the alias pointed at when the request was made (the comparison's baseline).
    current_version_id   uuid references model_version on delete set null,
    requested_by         uuid references app_user on delete set null,
    comment              text not null default '',
    state                text not null default 'pending'
                         check (state in ('pending', 'approved', 'rejected', 'cancelled')),
    required_approvals   smallint not null check (required_approvals in (1, 2)),
    decided_at           timestamptz,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
select trigger_updated_at('promotion_request');
-- One open request per candidate and alias: asking twice returns the first.
create unique index promotion_request_pending_key
    on promotion_request (registered_model_id, alias, model_version_id) where state = 'pending';
create index promotion_request_state_idx on promotion_request (state, created_at desc);

create table promotion_review (
    promotion_request_id uuid not null references promotion_request on delete cascade,
    reviewer_id          uuid not null references app_user on delete cascade,
    decision             text not null check (decision in ('approve', 'reject')),
    comment              text not null default '',
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (promotion_request_id, reviewer_id)
);
select trigger_updated_at('promotion_review');

-- Every move of an alias (set, promotion, rollback, delete). Rollback moves an alias
-- back to the version it pointed at before its latest move.
create table model_alias_event (
    model_alias_event_id bigserial primary key,
    registered_model_id  uuid not null references registered_model on delete cascade,
    alias                text not null,
    from_version_id      uuid references model_version on delete set null,
    to_version_id        uuid references model_version on delete set null,
    reason               text not null check (reason in ('set', 'promotion', 'rollback', 'delete')),
    promotion_request_id uuid references promotion_request on delete set null,
    actor_id             uuid references app_user on delete set null,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create index model_alias_event_idx on model_alias_event (registered_model_id, alias, model_alias_event_id desc);

-- In-app notifications (a promotion decided, a request waiting for review).
create table notification (
    notification_id uuid primary key default gen_random_uuid(),
    user_id         uuid not null references app_user on delete cascade,
    kind            text not null,
    title           text not null,
    body            text not null default '',
    link            text not null default '',
    read_at         timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
select trigger_updated_at('notification');
create index notification_user_idx on notification (user_id, created_at desc);
