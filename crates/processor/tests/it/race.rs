//! SUCCESS and FAILED for one payment, delivered together and raced through two processors:
//! the first decided wins, the other is skipped as terminal, every time.

use domain::{CollectionStatus, Outcome};
use persistence::{find_collection, EventStatus};

use crate::fixtures::{
    all_events, all_transitions, count_with_status, create_collections, deliver, unique_prefix,
    Delivery,
};
use crate::harness::{build, Knobs};
use crate::helpers::Env;

on_backends!(terminal_statuses_race_through_two_processors);

const ROUNDS: usize = 100;

async fn terminal_statuses_race_through_two_processors(env: Env) {
    // One event per claim and one at a time, so each processor takes one of the pair.
    let knobs = Knobs {
        batch_size: 1,
        concurrency: 1,
        ..Knobs::default()
    };
    let (first, _) = build(&env, &knobs).await;
    let (second, _) = build(&env, &knobs).await;
    let prefix = unique_prefix();
    let mut split = 0;
    for round in 0..ROUNDS {
        let reference = format!("{prefix}-R{round}");
        create_collections(&env.db, std::slice::from_ref(&reference));
        let (a, b) = if round % 2 == 0 {
            (CollectionStatus::Success, CollectionStatus::Failed)
        } else {
            (CollectionStatus::Failed, CollectionStatus::Success)
        };
        deliver(
            &env.db,
            &[
                Delivery::new(&format!("{reference}-a"), &reference, a),
                Delivery::new(&format!("{reference}-b"), &reference, b),
            ],
        );
        let (one, two) = tokio::join!(first.run_until_idle(), second.run_until_idle());
        if (one.unwrap(), two.unwrap()) == (1, 1) {
            split += 1;
        }
        // On a loaded machine an SQLite writer may give up on the lock ("database is locked")
        // and schedule its event for a retry, which run_until_idle does not wait for: finish
        // those, so that the rest checks the decisions, not the machine's load.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while count_with_status(&env.db, EventStatus::Received) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: events left pending"
            );
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            let (one, two) = tokio::join!(first.run_until_idle(), second.run_until_idle());
            one.unwrap();
            two.unwrap();
        }

        let collection = find_collection(&mut env.db.conn(), &reference)
            .unwrap()
            .unwrap();
        let trail: Vec<_> = all_transitions(&env.db)
            .into_iter()
            .filter(|t| t.collection_id == collection.id)
            .collect();
        assert_eq!(trail.len(), 2, "round {round}: {trail:?}");
        let (won, lost) = (&trail[0], &trail[1]);
        assert_eq!(won.outcome, Outcome::Applied, "round {round}");
        assert!(won.to_status.is_terminal());
        assert_eq!(collection.status, won.to_status, "round {round}");
        assert_eq!(lost.outcome, Outcome::SkippedTerminal, "round {round}");
        assert_eq!(lost.from_status, won.to_status, "round {round}");
        assert_ne!(lost.to_status, won.to_status, "round {round}");
        assert_eq!(
            lost.reason,
            format!(
                "Skipping status update: already in terminal status {}",
                won.to_status
            )
        );
    }
    let events = all_events(&env.db);
    assert!(events.iter().all(|e| e.status == EventStatus::Processed));
    assert_eq!(events.len(), 2 * ROUNDS);
    // The rounds where each processor took one event of the pair are the real races; if none
    // were, this test would prove nothing about two processors.
    assert!(split > 0, "no round was split between the processors");
    eprintln!("{split} of {ROUNDS} rounds had one event on each processor");
}
