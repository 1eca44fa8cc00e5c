-- Training runs: the tracked run (`run`) plus what only Cairn's trainers know: the
-- request, the queue job, live progress, the evaluation, gate results and the
-- model bundle. A search (hyper-parameter tuning) is a training_run of kind
-- 'search' whose trials are training_runs pointing at it through parent_run_id.
create table training_run (
    run_id             uuid primary key references run on delete cascade,
    kind               text not null check (kind in ('builtin', 'command', 'search')),
    spec               jsonb not null,
    job_id             uuid references job on delete set null,
    state              text not null default 'queued'
                       check (state in ('queued', 'running', 'finished', 'failed', 'cancelled')),
    stage              text not null default 'queued',
    progress           double precision not null default 0 check (progress >= 0 and progress <= 1),
    error              text,
    task               text,
    algorithm          text,
    dataset_version_id uuid references dataset_version on delete set null,
    parent_run_id      uuid references training_run on delete cascade,
    -- Scalar metrics on the training rows, and the held-out evaluation (metrics,
    -- curves, confusion matrix, slices, importance) as `domain::training::Evaluation`.
    train_metrics      jsonb,
    evaluation         jsonb,
    -- [`domain::training::GateResult`]; gates_passed is null when no gate was declared.
    gates              jsonb,
    gates_passed       boolean,
    -- Per-iteration metrics where the algorithm has them ([{step, metrics}]).
    history            jsonb,
    -- Object-store key of the model bundle (a run artifact).
    bundle_path        text,
    model_artifact_id  uuid references lineage_artifact on delete set null,
    -- Search only: the best trial so far, by the search's objective.
    best_run_id        uuid references training_run on delete set null,
    created_by         uuid references app_user on delete set null,
    created_at         timestamptz not null default now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz not null default now()
);
select trigger_updated_at('training_run');
create index training_run_created_idx on training_run (created_at desc);
create index training_run_parent_idx on training_run (parent_run_id) where parent_run_id is not null;
