-- House rules (see migrations/README.md): lowercase SQL, singular table names,
-- `<table>_id` primary keys, created_at/updated_at everywhere, never edit an
-- applied migration.

-- Keeps updated_at honest without every query having to remember it.
create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create or replace function trigger_updated_at(tablename regclass) returns void as $$
begin
    execute format(
        'create trigger set_updated_at before update on %s
         for each row when (old is distinct from new) execute function set_updated_at()',
        tablename);
end;
$$ language plpgsql;

-- Every top-level entity references a project; roles are global for now.
create table project (
    project_id  uuid primary key default gen_random_uuid(),
    name        text not null,
    description text not null default '',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create unique index project_name_key on project (lower(name));
select trigger_updated_at('project');

insert into project (project_id, name, description)
values ('00000000-0000-4000-8000-000000000001', 'default',
        'The project every entity belongs to unless another is chosen.');
