-- Issue 5: MLflow 3 logged models, what `mlflow.<flavor>.log_model` creates before it
-- uploads the model's files (`logged-models` endpoints). A model belongs to an
-- experiment and usually to the run that produced it; its files live in the artifact
-- store under `mlflow-artifacts/<experiment_id>/models/<model_id>/artifacts/`.
create table logged_model (
    logged_model_id uuid primary key default gen_random_uuid(),
    experiment_id   bigint not null references experiment on delete cascade,
    name            text not null,
    source_run_id   uuid references run on delete set null,
    -- PENDING until the client finalizes the upload as READY or FAILED.
    status          text not null default 'PENDING' check (status in ('PENDING', 'READY', 'FAILED')),
    status_message  text not null default '',
    model_type      text not null default '',
    lifecycle       text not null default 'active' check (lifecycle in ('active', 'deleted')),
    -- Milliseconds since the epoch, as the client reads them.
    creation_time   bigint not null,
    update_time     bigint not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
select trigger_updated_at('logged_model');
-- `runs:/<run>/<name>` resolves through a search by experiment and name.
create index logged_model_experiment_idx on logged_model (experiment_id, name);
create index logged_model_run_idx on logged_model (source_run_id);

-- Tags can change; params are set once, as for runs.
create table logged_model_tag (
    logged_model_id uuid not null references logged_model on delete cascade,
    key             text not null,
    value           text not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (logged_model_id, key)
);
select trigger_updated_at('logged_model_tag');

create table logged_model_param (
    logged_model_id uuid not null references logged_model on delete cascade,
    key             text not null,
    value           text not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (logged_model_id, key)
);
select trigger_updated_at('logged_model_param');

-- Models a run produced (MLflow `runs/outputs`), with the step they were logged at.
create table run_model_output (
    run_id          uuid not null references run on delete cascade,
    logged_model_id uuid not null references logged_model on delete cascade,
    step            bigint not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (run_id, logged_model_id)
);
select trigger_updated_at('run_model_output');
create index run_model_output_model_idx on run_model_output (logged_model_id);
