-- Issue 4: the machinery every feature shares: the job queue and its logs, cron
-- schedules, outbound webhooks and the lineage store (ML Metadata model).
-- House rules in migrations/README.md.

-- ---------------------------------------------------------------------------
-- Job queue. A row is one unit of work that may take several attempts; the domain
-- outcome (a run, a pipeline step) lives in the feature's own tables.
-- Workers hold a lease (locked_by + lease_expires_at renewed by a heartbeat), never a
-- transaction, so an hour-long training step pins no connection.
create type job_state as enum ('queued', 'running', 'succeeded', 'failed', 'cancelled');

create table job (
    job_id           uuid primary key default gen_random_uuid(),
    project_id       uuid not null references project default '00000000-0000-4000-8000-000000000001',
    kind             text not null,
    -- Routes work to worker groups (cpu/gpu later); a worker claims from the queues it serves.
    queue            text not null default 'default',
    payload          jsonb not null,
    priority         smallint not null default 0,
    state            job_state not null default 'queued',
    run_at           timestamptz not null default now(),
    attempts         int not null default 0,
    max_attempts     int not null default 5 check (max_attempts >= 1),
    -- Fencing token: every write by a worker is guarded by `locked_by = <its id>`, so a
    -- worker whose lease was taken over cannot complete the job a second time.
    locked_by        text,
    lease_expires_at timestamptz,
    cancel_requested boolean not null default false,
    last_error       text,
    -- At most one live (queued or running) job per key, e.g. one per schedule tick.
    dedup_key        text,
    started_at       timestamptz,
    finished_at      timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
select trigger_updated_at('job');

-- The claim query's index: only queued rows, in claim order. The queue is not a key
-- column on purpose: workers claim from several queues at once (`queue = any($1)`),
-- and with a leading queue column Postgres 15 cannot read the index in order, so it
-- scanned and sorted every queued row on each claim (measured: 35 ms at 10k queued,
-- against 0.04 ms this way). Rows of other queues are filtered on the way.
create index job_claim_idx on job (priority desc, run_at) where state = 'queued';
-- The reaper's index: only running rows, by lease expiry.
create index job_lease_idx on job (lease_expires_at) where state = 'running';
-- Keyset paging for the Jobs page (newest first), optionally filtered by state/kind.
create index job_list_idx on job (created_at desc, job_id desc);
create index job_state_list_idx on job (state, created_at desc, job_id desc);
create index job_kind_list_idx on job (kind, created_at desc, job_id desc);
create index job_project_idx on job (project_id);
create unique index job_dedup_key on job (dedup_key) where state in ('queued', 'running');

-- Wakes idle workers the moment work becomes available (a new job, a retry from the
-- API); the payload is the queue name so workers of other queues can ignore it.
-- Postgres folds identical notifications within one transaction, so a batch enqueue
-- costs one wake-up per queue.
create or replace function job_notify() returns trigger as $$
begin
    perform pg_notify('cairn_job', new.queue);
    return null;
end;
$$ language plpgsql;

create trigger job_notify after insert or update of state on job
    for each row when (new.state = 'queued') execute function job_notify();

-- A job's output, one row per line, numbered from 1 per job so a reader (SSE) can
-- resume after the last line it has seen.
create table job_log (
    job_log_id bigint generated always as identity primary key,
    job_id     uuid not null references job on delete cascade,
    line_no    int not null,
    line       text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
select trigger_updated_at('job_log');
create unique index job_log_line_key on job_log (job_id, line_no);

-- ---------------------------------------------------------------------------
-- Cron schedules. `next_run_at` is the claim token: a scheduler fires a tick by
-- moving it forward with `update ... where next_run_at = <the tick it read>`, in the
-- same transaction as the enqueue, so any number of schedulers fire each tick once.
create table schedule (
    schedule_id  uuid primary key default gen_random_uuid(),
    project_id   uuid not null references project default '00000000-0000-4000-8000-000000000001',
    name         text not null,
    cron         text not null,
    timezone     text not null default 'UTC',
    kind         text not null,
    queue        text not null default 'default',
    payload      jsonb not null default '{}',
    priority     smallint not null default 0,
    max_attempts int not null default 5 check (max_attempts >= 1),
    enabled      boolean not null default true,
    next_run_at  timestamptz,
    last_run_at  timestamptz,
    last_job_id  uuid references job on delete set null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
select trigger_updated_at('schedule');
create unique index schedule_name_key on schedule (project_id, lower(name));
create index schedule_due_idx on schedule (next_run_at) where enabled;

-- ---------------------------------------------------------------------------
-- Outbound webhooks: a subscription, one delivery per (event, subscription), and one
-- attempt row per HTTP request made for it (the delivery log).
create table webhook (
    webhook_id  uuid primary key default gen_random_uuid(),
    project_id  uuid not null references project default '00000000-0000-4000-8000-000000000001',
    url         text not null,
    -- HMAC key for X-Cairn-Signature. Stored as given until CAIRN_SECRET_KEY
    -- encryption of stored secrets lands.
    secret      text not null,
    -- Empty means every event type.
    event_types text[] not null default '{}',
    description text not null default '',
    enabled     boolean not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
select trigger_updated_at('webhook');
create index webhook_project_idx on webhook (project_id);

create type webhook_delivery_state as enum ('pending', 'succeeded', 'failed');

create table webhook_delivery (
    webhook_delivery_id uuid primary key default gen_random_uuid(),
    webhook_id          uuid not null references webhook on delete cascade,
    project_id          uuid not null references project default '00000000-0000-4000-8000-000000000001',
    event_type          text not null,
    payload             jsonb not null,
    state               webhook_delivery_state not null default 'pending',
    job_id              uuid references job on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
select trigger_updated_at('webhook_delivery');
create index webhook_delivery_webhook_idx on webhook_delivery (webhook_id, created_at desc);

create table webhook_delivery_attempt (
    webhook_delivery_attempt_id uuid primary key default gen_random_uuid(),
    webhook_delivery_id         uuid not null references webhook_delivery on delete cascade,
    attempt                     int not null,
    status_code                 int,
    error                       text,
    duration_ms                 int not null,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now()
);
select trigger_updated_at('webhook_delivery_attempt');
create index webhook_delivery_attempt_delivery_idx on webhook_delivery_attempt (webhook_delivery_id, attempt);

-- ---------------------------------------------------------------------------
-- Lineage in the ML Metadata model: artifacts (dataset versions, models, metrics),
-- executions (runs, steps, jobs), events linking them as input or output, and
-- contexts (a pipeline run, an experiment) grouping both. Prefixed `lineage_` because
-- the bare names (artifact, event, context) are too generic to reserve.
create table lineage_artifact (
    lineage_artifact_id uuid primary key default gen_random_uuid(),
    project_id          uuid not null references project default '00000000-0000-4000-8000-000000000001',
    type                text not null,
    name                text not null default '',
    uri                 text not null default '',
    content_hash        text,
    properties          jsonb not null default '{}',
    -- The feature's own key for the thing (e.g. a dataset version id), so recording is
    -- idempotent when a job is retried.
    external_id         text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
select trigger_updated_at('lineage_artifact');
create unique index lineage_artifact_external_key on lineage_artifact (project_id, type, external_id);
create index lineage_artifact_hash_idx on lineage_artifact (content_hash) where content_hash is not null;

create type lineage_execution_state as enum ('new', 'running', 'complete', 'failed', 'cached', 'cancelled');

create table lineage_execution (
    lineage_execution_id uuid primary key default gen_random_uuid(),
    project_id           uuid not null references project default '00000000-0000-4000-8000-000000000001',
    type                 text not null,
    name                 text not null default '',
    state                lineage_execution_state not null default 'new',
    properties           jsonb not null default '{}',
    job_id               uuid references job on delete set null,
    external_id          text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
select trigger_updated_at('lineage_execution');
create unique index lineage_execution_external_key on lineage_execution (project_id, type, external_id);

create type lineage_event_kind as enum ('input', 'output');

create table lineage_event (
    lineage_event_id     uuid primary key default gen_random_uuid(),
    project_id           uuid not null references project default '00000000-0000-4000-8000-000000000001',
    lineage_execution_id uuid not null references lineage_execution on delete cascade,
    lineage_artifact_id  uuid not null references lineage_artifact on delete cascade,
    kind                 lineage_event_kind not null,
    -- What the artifact was to the execution ("train", "model"); MLMD's event path.
    role                 text not null default '',
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
select trigger_updated_at('lineage_event');
create unique index lineage_event_key on lineage_event (lineage_execution_id, lineage_artifact_id, kind, role);
-- The walk goes artifact -> events -> execution -> events -> artifact in both directions.
create index lineage_event_artifact_idx on lineage_event (lineage_artifact_id, kind);
create index lineage_event_execution_idx on lineage_event (lineage_execution_id, kind);

create table lineage_context (
    lineage_context_id uuid primary key default gen_random_uuid(),
    project_id         uuid not null references project default '00000000-0000-4000-8000-000000000001',
    type               text not null,
    name               text not null,
    properties         jsonb not null default '{}',
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
select trigger_updated_at('lineage_context');
create unique index lineage_context_name_key on lineage_context (project_id, type, name);

-- Link tables: the pair is the identity, so it is the primary key.
create table lineage_attribution (
    lineage_context_id  uuid not null references lineage_context on delete cascade,
    lineage_artifact_id uuid not null references lineage_artifact on delete cascade,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (lineage_context_id, lineage_artifact_id)
);
select trigger_updated_at('lineage_attribution');
create index lineage_attribution_artifact_idx on lineage_attribution (lineage_artifact_id);

create table lineage_association (
    lineage_context_id   uuid not null references lineage_context on delete cascade,
    lineage_execution_id uuid not null references lineage_execution on delete cascade,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (lineage_context_id, lineage_execution_id)
);
select trigger_updated_at('lineage_association');
create index lineage_association_execution_idx on lineage_association (lineage_execution_id);
