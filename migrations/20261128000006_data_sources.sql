-- Registered SQL data sources that dataset versions can be extracted from, and
-- encryption of webhook secrets under CAIRN_SECRET_KEY. House rules in
-- migrations/README.md.

-- ---------------------------------------------------------------------------
-- A Postgres database Cairn may query, read-only, on a user's behalf. The connection
-- URL (which may hold a password) is never stored in plain text: either encrypted
-- (`url_enc`, `v1:...` from services::secrets) or as the name of an environment
-- variable of the Cairn processes (`url_env`), read when a query runs.
create table data_source (
    data_source_id uuid primary key default gen_random_uuid(),
    project_id     uuid not null references project default '00000000-0000-4000-8000-000000000001',
    name           text not null,
    kind           text not null default 'postgres' check (kind in ('postgres')),
    url_enc        text,
    url_env        text,
    -- What lists show: the URL without its password (`postgres://user@host:5432/db`),
    -- or `env:NAME`.
    display        text not null,
    created_by     uuid references app_user on delete set null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint data_source_one_connection check (num_nonnulls(url_enc, url_env) = 1)
);
select trigger_updated_at('data_source');
create unique index data_source_name_key on data_source (project_id, lower(name));

-- ---------------------------------------------------------------------------
-- Webhook secrets move to `secret_enc` (encrypted, `v1:...`). Expand step: rows made
-- before this keep their plaintext `secret` and stay deliverable; `cairn serve`
-- encrypts them at start-up (services::webhooks::encrypt_plaintext_secrets) and
-- clears `secret`. A later migration drops the column once every install has run that.
alter table webhook add column secret_enc text;
alter table webhook alter column secret drop not null;
alter table webhook add constraint webhook_one_secret check (num_nonnulls(secret, secret_enc) = 1);
comment on column webhook.secret is 'Legacy plaintext HMAC key; null once encrypted into secret_enc.';
