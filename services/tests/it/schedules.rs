//! Cron schedules: validation, time zones, and each tick firing exactly once.
use crate::support::{eventually, separate_pool};
use chrono::{DateTime, TimeZone, Utc};
use services::Error;
use services::queue::{self, JobFilter};
use services::schedule::{self, ScheduleSpec, SchedulerConfig};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::time::Duration;

fn spec(name: &str, cron: &str) -> ScheduleSpec {
    ScheduleSpec {
        name: name.into(),
        cron: cron.into(),
        timezone: "UTC".into(),
        kind: "test.count".into(),
        queue: "default".into(),
        payload: serde_json::json!({"n": 0}),
        priority: 0,
        max_attempts: 3,
        enabled: true,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn schedules_are_validated_and_managed(pool: PgPool) {
    let bad = schedule::create(&pool, None, spec("bad", "not cron")).await.unwrap_err();
    assert!(matches!(bad, Error::Validation(ref v) if v.field == "cron"), "{bad:?}");
    let mut tz = spec("tz", "0 9 * * *");
    tz.timezone = "Mars/Phobos".into();
    assert!(
        matches!(schedule::create(&pool, None, tz).await, Err(Error::Validation(ref v)) if v.field == "timezone")
    );

    let s = schedule::create(&pool, None, spec("nightly", "0 3 * * *")).await.unwrap();
    assert!(s.next_run_at.unwrap() > Utc::now());
    let dup = schedule::create(&pool, None, spec("Nightly", "0 4 * * *")).await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");

    let off = schedule::set_enabled(&pool, s.schedule_id, false).await.unwrap();
    assert!(!off.enabled && off.next_run_at.is_none());
    let on = schedule::set_enabled(&pool, s.schedule_id, true).await.unwrap();
    assert!(on.enabled && on.next_run_at.is_some());
    let mut changed = spec("nightly", "30 1 * * *");
    changed.timezone = "Europe/Berlin".into();
    let updated = schedule::update(&pool, s.schedule_id, changed).await.unwrap();
    assert_eq!((updated.cron.as_str(), updated.timezone.as_str()), ("30 1 * * *", "Europe/Berlin"));
    assert_eq!(schedule::list(&pool, None).await.unwrap().len(), 1);
    schedule::delete(&pool, s.schedule_id).await.unwrap();
    assert!(matches!(schedule::get(&pool, s.schedule_id).await, Err(Error::NotFound { .. })));
}

#[test]
fn ticks_follow_the_schedules_time_zone() {
    let after = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let ticks = schedule::preview("0 9 * * *", "America/New_York", after, 2).unwrap();
    assert_eq!(ticks[0], Utc.with_ymd_and_hms(2026, 1, 1, 14, 0, 0).unwrap());
    assert_eq!(ticks[1], Utc.with_ymd_and_hms(2026, 1, 2, 14, 0, 0).unwrap());
    // Summer time: 09:00 in New York is 13:00 UTC.
    let july = Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
    assert_eq!(
        schedule::preview("0 9 * * *", "America/New_York", july, 1).unwrap()[0],
        Utc.with_ymd_and_hms(2026, 7, 1, 13, 0, 0).unwrap()
    );
}

/// Two schedulers race over the same due schedules: every tick fires once.
#[sqlx::test(migrations = "../migrations")]
async fn concurrent_fire_due_fires_each_due_tick_once(pool: PgPool) {
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            schedule::create(&pool, None, spec(&format!("s{i}"), "0 0 * * *")).await.unwrap().schedule_id,
        );
    }
    // Make them all due now.
    sqlx::query("update schedule set next_run_at = now() - interval '1 minute'")
        .execute(&pool)
        .await
        .unwrap();
    let (a, b) = (separate_pool(&pool, 2).await, separate_pool(&pool, 2).await);
    let (fa, fb) = tokio::join!(schedule::fire_due(&a), schedule::fire_due(&b));
    let fired: Vec<_> = fa.unwrap().into_iter().chain(fb.unwrap()).collect();
    assert_eq!(fired.len(), 20);
    let distinct: BTreeSet<_> = fired.iter().map(|f| f.schedule_id).collect();
    assert_eq!(distinct.len(), 20);
    let jobs = queue::list(&pool, &JobFilter { limit: 100, ..JobFilter::default() }).await.unwrap().jobs;
    assert_eq!(jobs.len(), 20);
    // Nothing is due any more: the next tick is tomorrow.
    assert!(schedule::fire_due(&pool).await.unwrap().is_empty());
    for id in ids {
        assert!(schedule::get(&pool, id).await.unwrap().next_run_at.unwrap() > Utc::now());
    }
}

/// Two scheduler loops on one database over several real ticks.
#[sqlx::test(migrations = "../migrations")]
async fn two_schedulers_fire_each_tick_once(pool: PgPool) {
    let s = schedule::create(&pool, None, spec("every-second", "* * * * * *")).await.unwrap();
    let cfg = SchedulerConfig { poll_interval: Duration::from_millis(20) };
    let one = schedule::start(separate_pool(&pool, 3).await, cfg.clone());
    let two = schedule::start(separate_pool(&pool, 3).await, cfg);
    let jobs = || async {
        queue::list(&pool, &JobFilter { limit: 100, ..JobFilter::default() }).await.unwrap().jobs
    };
    let enough = eventually(Duration::from_secs(15), || async { jobs().await.len() >= 4 }).await;
    one.shutdown().await;
    two.shutdown().await;
    assert!(enough);

    let jobs = jobs().await;
    let ticks: Vec<DateTime<Utc>> = jobs
        .iter()
        .map(|j| {
            // schedule:<id>:<tick as RFC 3339>
            let key = j.dedup_key.clone().unwrap();
            let tick = key.splitn(3, ':').nth(2).unwrap();
            DateTime::parse_from_rfc3339(tick).unwrap().with_timezone(&Utc)
        })
        .collect();
    let distinct: BTreeSet<_> = ticks.iter().copied().collect();
    assert_eq!(distinct.len(), jobs.len(), "a tick fired twice: {ticks:?}");
    // Consecutive seconds: none skipped, none doubled.
    let sorted: Vec<_> = distinct.into_iter().collect();
    for w in sorted.windows(2) {
        assert_eq!((w[1] - w[0]).num_seconds(), 1, "{sorted:?}");
    }
    let after = schedule::get(&pool, s.schedule_id).await.unwrap();
    assert_eq!(after.last_run_at, sorted.last().copied());
    assert!(jobs.iter().all(|j| j.kind == "test.count" && j.max_attempts == 3));
}

#[test]
fn daylight_saving_changes_neither_skip_nor_double_a_tick() {
    // Europe/Berlin: 2026-03-29 02:00 -> 03:00 (02:30 does not exist),
    // 2026-10-25 03:00 -> 02:00 (02:30 happens twice).
    let spring = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
    let ticks = schedule::preview("30 2 * * *", "Europe/Berlin", spring, 2).unwrap();
    // The missing 02:30 fires at 03:00 CEST (01:00 UTC) instead of being skipped.
    let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
    assert_eq!(ticks, [utc(29, 1, 0), utc(30, 0, 30)]);
    let autumn = Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0).unwrap();
    let ticks = schedule::preview("30 2 * * *", "Europe/Berlin", autumn, 2).unwrap();
    // The doubled 02:30 fires once (the first, CEST), then 02:30 CET the next day.
    let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 10, d, h, m, 0).unwrap();
    assert_eq!(ticks, [utc(25, 0, 30), utc(26, 1, 30)]);
}
