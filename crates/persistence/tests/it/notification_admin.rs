//! Operator work on the outbox: notifications newest first in keyset pages, filtered by status
//! and by collection, one by id, each with its collection's request_ref; purging old finished
//! ones in batches.

use chrono::{DateTime, TimeDelta, Utc};
use domain::{Authority, CollectionStatus, Request};
use persistence::{
    count_purgeable_notifications, create_collection, find_notification, list_notifications,
    mark_delivered, mark_undelivered, notifications_of, now, purge_notifications_batch,
    replay_notification, Cursor, NewCollection, NotificationQuery, NotificationStatus,
};
use uuid::Uuid;

use crate::helpers::TestDb;

on_both_backends!(
    notifications_are_paged_newest_first_and_filtered,
    one_notification_is_found_with_its_reference,
    purge_deletes_old_delivered_and_failed_notifications_in_batches,
);

/// An override of `reference` to `status` decided at `at`: one notification written at `at`.
fn override_to(db: &TestDb, reference: &str, status: CollectionStatus, at: DateTime<Utc>) {
    let request = Request::from_operator(
        reference.to_owned(),
        status,
        Authority::Override,
        Some("test".to_owned()),
    );
    crate::helpers::decide_requests(&mut db.conn(), &[request], "test", at, None).unwrap();
}

fn notifications_are_paged_newest_first_and_filtered(db: TestDb) {
    let t0 = now() - TimeDelta::hours(1);
    for reference in ["REQ-A", "REQ-B", "REQ-LATE"] {
        create_collection(&mut db.conn(), &NewCollection::initiated(reference), t0).unwrap();
    }
    // Eight on A and three on B; the last three share one instant (the id breaks the tie).
    // Each override moves its collection, so each writes one notification.
    let mut moves = [0, 0];
    for n in 0..11 {
        let which = usize::from(n % 3 == 2);
        let at = t0 + TimeDelta::seconds(n.min(8));
        override_to(&db, ["REQ-A", "REQ-B"][which], alternate(moves[which]), at);
        moves[which] += 1;
    }
    let mut read = Vec::new();
    let mut before = None;
    let mut late = 0;
    loop {
        let page = list_notifications(
            &mut db.conn(),
            &NotificationQuery {
                before,
                limit: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(Cursor {
            at: last.notification.created_at,
            id: last.notification.id,
        });
        // One written meanwhile is newer than every page: never in the rest of this read.
        override_to(&db, "REQ-LATE", alternate(late), now());
        late += 1;
        read.extend(
            page.iter()
                .map(|n| (n.notification.created_at, n.notification.id)),
        );
        assert!(read.len() <= 11, "the pages never end");
    }
    let a = find_collection_id(&db, "REQ-A");
    let b = find_collection_id(&db, "REQ-B");
    let mut expected: Vec<(DateTime<Utc>, Uuid)> = [a, b]
        .into_iter()
        .flat_map(|c| notifications_of(&mut db.conn(), c).unwrap())
        .map(|n| (n.created_at, n.id))
        .collect();
    expected.sort_by(|x, y| y.cmp(x));
    assert_eq!(expected.len(), 11);
    assert_eq!(read, expected);

    // By collection, by status, both.
    let of_b = list_notifications(
        &mut db.conn(),
        &NotificationQuery {
            request_ref: Some("REQ-B"),
            limit: 100,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(of_b.len(), 3);
    assert!(of_b.iter().all(|n| n.request_ref == "REQ-B"));
    let newest_of_b = of_b[0].notification.id;
    mark_delivered(&mut db.conn(), &[newest_of_b], now()).unwrap();
    mark_undelivered(
        &mut db.conn(),
        of_b[1].notification.id,
        "HTTP 500: down",
        None,
    )
    .unwrap();
    let status_of = |status, reference| {
        list_notifications(
            &mut db.conn(),
            &NotificationQuery {
                status: Some(status),
                request_ref: reference,
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let failed = status_of(NotificationStatus::Failed, None);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].notification.id, of_b[1].notification.id);
    assert_eq!(
        failed[0].notification.last_error.as_deref(),
        Some("HTTP 500: down")
    );
    assert_eq!(
        status_of(NotificationStatus::Delivered, Some("REQ-B"))[0]
            .notification
            .id,
        newest_of_b
    );
    assert!(status_of(NotificationStatus::Delivered, Some("REQ-A")).is_empty());
    assert_eq!(
        status_of(NotificationStatus::Pending, Some("REQ-B")).len(),
        1
    );
    assert!(status_of(NotificationStatus::Pending, Some("REQ-none")).is_empty());
}

/// PENDING and PROCESSING in turn: a collection's `n`th override, so that each changes it.
fn alternate(n: usize) -> CollectionStatus {
    [CollectionStatus::Pending, CollectionStatus::Processing][n % 2]
}

fn find_collection_id(db: &TestDb, reference: &str) -> Uuid {
    persistence::find_collection(&mut db.conn(), reference)
        .unwrap()
        .unwrap()
        .id
}

fn one_notification_is_found_with_its_reference(db: TestDb) {
    let collection =
        create_collection(&mut db.conn(), &NewCollection::initiated("REQ-1"), now()).unwrap();
    override_to(&db, "REQ-1", CollectionStatus::Success, now());
    let told = notifications_of(&mut db.conn(), collection.id).unwrap();
    let found = find_notification(&mut db.conn(), told[0].id)
        .unwrap()
        .unwrap();
    assert_eq!(found.notification, told[0]);
    assert_eq!(found.request_ref, "REQ-1");
    assert_eq!(found.notification.kind, "collection.succeeded");
    assert!(find_notification(&mut db.conn(), Uuid::new_v4())
        .unwrap()
        .is_none());

    // A replay is seen as it is: PENDING again, attempts from zero, the last error kept.
    mark_undelivered(
        &mut db.conn(),
        found.notification.id,
        "HTTP 410: gone",
        None,
    )
    .unwrap();
    assert!(replay_notification(&mut db.conn(), found.notification.id, now()).unwrap());
    let replayed = find_notification(&mut db.conn(), found.notification.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        replayed.notification.status,
        NotificationStatus::Pending.as_str()
    );
    assert_eq!(replayed.notification.attempts, 0);
    assert_eq!(
        replayed.notification.last_error.as_deref(),
        Some("HTTP 410: gone")
    );
    assert!(
        !replay_notification(&mut db.conn(), found.notification.id, now()).unwrap(),
        "a pending notification is not replayed"
    );

    // As JSON: the stored notification's fields and the reference, side by side.
    let json = serde_json::to_value(&replayed).unwrap();
    assert_eq!(json["request_ref"], "REQ-1");
    assert_eq!(json["type"], "collection.succeeded");
    assert_eq!(json["payload"]["data"]["status"], "SUCCESS");
}

fn purge_deletes_old_delivered_and_failed_notifications_in_batches(db: TestDb) {
    let old = now() - TimeDelta::days(40);
    for reference in ["REQ-OLD", "REQ-OLD-PENDING", "REQ-NEW"] {
        create_collection(&mut db.conn(), &NewCollection::initiated(reference), old).unwrap();
    }
    // 26 old ones, delivered and failed in turn; one of the failed is replayed (PENDING again).
    for n in 0..26 {
        override_to(
            &db,
            "REQ-OLD",
            alternate(n),
            old + TimeDelta::seconds(n as i64),
        );
    }
    let finished = notifications_of(&mut db.conn(), find_collection_id(&db, "REQ-OLD")).unwrap();
    assert_eq!(finished.len(), 26);
    for (n, notification) in finished.iter().enumerate() {
        if n % 2 == 0 {
            mark_delivered(&mut db.conn(), &[notification.id], now()).unwrap();
        } else {
            mark_undelivered(&mut db.conn(), notification.id, "HTTP 500", None).unwrap();
        }
    }
    let replayed = finished[1].id;
    assert!(replay_notification(&mut db.conn(), replayed, now()).unwrap());
    // Old and never delivered; recent and delivered: neither may go.
    override_to(
        &db,
        "REQ-OLD-PENDING",
        CollectionStatus::Success,
        old + TimeDelta::minutes(1),
    );
    override_to(&db, "REQ-NEW", CollectionStatus::Success, now());
    let recent = notifications_of(&mut db.conn(), find_collection_id(&db, "REQ-NEW")).unwrap();
    mark_delivered(&mut db.conn(), &[recent[0].id], now()).unwrap();

    let cutoff = now() - TimeDelta::days(30);
    assert_eq!(
        count_purgeable_notifications(&mut db.conn(), cutoff).unwrap(),
        25
    );
    let mut batches = Vec::new();
    loop {
        let n = purge_notifications_batch(&mut db.conn(), cutoff, 10).unwrap();
        if n == 0 {
            break;
        }
        batches.push(n);
    }
    assert_eq!(batches, vec![10, 10, 5]);
    assert_eq!(
        count_purgeable_notifications(&mut db.conn(), cutoff).unwrap(),
        0
    );

    let left: Vec<(String, String)> = list_notifications(
        &mut db.conn(),
        &NotificationQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|n| (n.request_ref, n.notification.status))
    .collect();
    assert_eq!(
        left,
        [
            ("REQ-NEW".to_owned(), "DELIVERED".to_owned()),
            ("REQ-OLD-PENDING".to_owned(), "PENDING".to_owned()),
            ("REQ-OLD".to_owned(), "PENDING".to_owned()),
        ],
        "the recent one, the old undelivered one and the replayed one stay"
    );
    assert!(find_notification(&mut db.conn(), replayed)
        .unwrap()
        .is_some());
}
