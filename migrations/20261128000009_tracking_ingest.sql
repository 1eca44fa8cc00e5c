-- Issue 5, performance: metric history ingest without a per-row foreign-key check.
--
-- The foreign key from `metric` to `run` ran one lookup per inserted point, about
-- half the cost of a 1000-point `log-batch`. Writers already hold the run row
-- (`select ... for key share` in the same transaction) while they insert, so the run
-- exists and cannot be deleted under them; what the foreign key still did was the
-- cascade on delete, which this statement-level trigger keeps.
alter table metric drop constraint metric_run_id_fkey;

create function delete_run_metrics() returns trigger as $$
begin
    delete from metric m using gone where m.run_id = gone.run_id;
    return null;
end;
$$ language plpgsql;

create trigger run_delete_metrics after delete on run
    referencing old table as gone
    for each statement execute function delete_run_metrics();

-- get-history pages by (step, metric_id); with metric_id in the index a page is read
-- in index order, without re-sorting each step's points.
create index metric_history_page_idx on metric (run_id, key, step, metric_id);
drop index metric_history_idx;
