-- Users, sessions, API tokens and the audit log.

create table app_user (
    user_id       uuid primary key default gen_random_uuid(),
    username      text not null,
    password_hash text not null,
    role          text not null check (role in ('viewer', 'editor', 'approver', 'admin')),
    disabled      boolean not null default false,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create unique index app_user_username_key on app_user (lower(username));
select trigger_updated_at('app_user');

-- Only the SHA-256 of a session's cookie value is stored: a leaked table cannot be
-- replayed as cookies.
create table session (
    session_hash bytea primary key,
    user_id      uuid not null references app_user on delete cascade,
    ip           text,
    user_agent   text,
    expires_at   timestamptz not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index session_user_idx on session (user_id);
create index session_expires_idx on session (expires_at);
select trigger_updated_at('session');

-- API tokens: 256-bit random values, stored as SHA-256 (cheap to check on every
-- request, unlike a password hash), with a short prefix kept for display.
create table api_token (
    token_id     uuid primary key default gen_random_uuid(),
    user_id      uuid not null references app_user on delete cascade,
    name         text not null,
    token_hash   bytea not null unique,
    prefix       text not null,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index api_token_user_idx on api_token (user_id);
select trigger_updated_at('api_token');

-- Append-only record of security-relevant events. `actor_name` is kept as text so
-- the record survives the actor's deletion.
create table audit_event (
    audit_id      bigserial primary key,
    at            timestamptz not null default now(),
    actor_user_id uuid references app_user on delete set null,
    actor_name    text,
    action        text not null,
    target        text not null default '',
    outcome       text not null check (outcome in ('ok', 'denied', 'failed')),
    ip            text,
    details       text not null default '',
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index audit_event_at_idx on audit_event (at desc, audit_id desc);
create index audit_event_action_at_idx on audit_event (action, at);
