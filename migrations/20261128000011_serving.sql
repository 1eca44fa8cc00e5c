-- Issue 9, serving: endpoints that serve registered model versions, their traffic
-- routes, the serving logs (columnar, one row per flush batch, partitioned by day)
-- and ground-truth feedback.

-- The name appears in serving URLs (/v2/models/{name}, /endpoints/{name}/invocations)
-- that carry no project, so it is unique in the instance, ignoring case.
create table endpoint (
    endpoint_id         uuid primary key default gen_random_uuid(),
    project_id          uuid not null default '00000000-0000-4000-8000-000000000001'
                        references project on delete cascade,
    name                text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    description         text not null default '',
    -- The model whose versions (by alias or pinned) the routes serve.
    registered_model_id uuid not null references registered_model on delete restrict,
    -- The fraction of requests written to the serving log.
    log_sample_rate     double precision not null default 1
                        check (log_sample_rate >= 0 and log_sample_rate <= 1),
    created_by          uuid references app_user on delete set null,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create unique index endpoint_name_key on endpoint (lower(name));
select trigger_updated_at('endpoint');

-- A route sends a share of the endpoint's traffic to the version an alias points at
-- (followed as the alias moves) or to a pinned version. The non-shadow routes'
-- percentages sum to 100 (checked by the service, which can say what is wrong); a
-- shadow route gets a copy of that percentage of requests, answers logged only.
create table endpoint_route (
    endpoint_route_id uuid primary key default gen_random_uuid(),
    endpoint_id       uuid not null references endpoint on delete cascade,
    position          smallint not null,
    alias             text,
    model_version_id  uuid references model_version on delete restrict,
    traffic_percent   smallint not null check (traffic_percent between 0 and 100),
    shadow            boolean not null default false,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    check ((alias is null) <> (model_version_id is null)),
    unique (endpoint_id, position)
);
select trigger_updated_at('endpoint_route');
create index endpoint_route_version_idx on endpoint_route (model_version_id) where model_version_id is not null;

-- One counter that every change a serving process must see bumps (endpoints, routes,
-- aliases, versions), in the changing transaction: processes poll this single row
-- (cheap) and reload only when it moved. A row, not a sequence, so the new value is
-- visible exactly when the change is.
create table serving_generation (
    id         boolean primary key default true check (id),
    value      bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
insert into serving_generation (id, value) values (true, 0);

create function bump_serving_generation() returns trigger as $$
begin
    update serving_generation set value = value + 1, updated_at = now();
    return null;
end;
$$ language plpgsql;

create trigger endpoint_generation after insert or update or delete on endpoint
    for each statement execute function bump_serving_generation();
create trigger endpoint_route_generation after insert or update or delete on endpoint_route
    for each statement execute function bump_serving_generation();
create trigger model_alias_generation after insert or update or delete on model_alias
    for each statement execute function bump_serving_generation();
create trigger model_version_generation after update or delete on model_version
    for each statement execute function bump_serving_generation();

-- The serving log: one row per (endpoint, version, shadow, flush batch). The
-- requests and their rows are Arrow IPC streams (columnar, read without parsing);
-- counts and a latency histogram are plain columns for per-minute statistics, and
-- `summary` holds per-feature aggregates computed at flush time. Partitioned by day
-- on `started_at`; the flusher creates partitions ahead and the hourly cleanup drops
-- those past CAIRN_SERVING_LOG_RETENTION_DAYS. No foreign keys: a deleted endpoint's
-- logs age out with their partitions.
create table serving_log (
    serving_log_id   bigint generated always as identity,
    endpoint_id      uuid not null,
    model_version_id uuid not null,
    shadow           boolean not null default false,
    started_at       timestamptz not null,
    ended_at         timestamptz not null,
    requests         integer not null,
    errors           integer not null,
    row_count        integer not null,
    -- Counts per latency bucket (services::serving::logs::LATENCY_BUCKETS_US).
    latency_hist     integer[] not null,
    latency_sum_us   bigint not null,
    -- Arrow IPC: request_id, received_at_us, latency_us, status, rows, error.
    request_data     bytea not null,
    -- Arrow IPC: request (index into request_data), one column per signature input,
    -- prediction, and proba_<class> for classifiers.
    row_data         bytea not null,
    summary          jsonb not null default '{}',
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (endpoint_id, started_at, serving_log_id)
) partition by range (started_at);
-- Random floats do not compress: skip pglz's attempt on every write.
alter table serving_log alter column row_data set storage external;
alter table serving_log alter column request_data set storage external;

-- Ground truth for logged requests, attached later by request id (monitoring joins
-- them). A label sent again replaces the earlier one.
create table serving_feedback (
    endpoint_id uuid not null references endpoint on delete cascade,
    request_id  text not null check (length(request_id) between 1 and 200),
    label       jsonb not null,
    created_by  uuid references app_user on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (endpoint_id, request_id)
);
select trigger_updated_at('serving_feedback');
