//! On PostgreSQL a receiver's NOTIFY wakes an idle processor at once; polling is only the
//! fallback. The poll interval here is a minute, so only the notification can explain a
//! prompt pick-up.

use std::time::{Duration, Instant};

use domain::CollectionStatus;
use persistence::EventStatus;

use crate::fixtures::{count_with_status, create_collections, deliver, unique_prefix, Delivery};
use crate::harness::{eventually, Knobs, Running};
use crate::helpers::pg_env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_an_idle_processor() {
    let Some(env) = pg_env("wakeup::a_notification_wakes_an_idle_processor") else {
        return;
    };
    let knobs = Knobs {
        poll_interval_ms: 60_000,
        ..Knobs::default()
    };
    let processor = Running::start(&env, &knobs).await;
    let reference = format!("{}-wake", unique_prefix());
    create_collections(&env.db, std::slice::from_ref(&reference));
    // Several rounds: whatever the first finds, the later ones arrive while it sleeps.
    for (round, status) in [
        CollectionStatus::Pending,
        CollectionStatus::Processing,
        CollectionStatus::Success,
    ]
    .into_iter()
    .enumerate()
    {
        let sent = Instant::now();
        deliver(
            &env.db,
            &[Delivery::new(
                &format!("{reference}-{round}"),
                &reference,
                status,
            )],
        );
        eventually(
            "the notified event to be processed",
            Duration::from_secs(10),
            || count_with_status(&env.db, EventStatus::Processed) == round as i64 + 1,
        )
        .await;
        assert!(sent.elapsed() < Duration::from_secs(10));
    }
    processor.stop().await;
}
