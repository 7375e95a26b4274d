//! Storage of webhook-inbox on PostgreSQL or SQLite through one diesel connection type: schema,
//! models and their queries, embedded migrations, r2d2 pools. No HTTP and no business rules:
//! decisions are planned by `domain`; this crate reads what a plan needs and executes it
//! atomically.
//!
//! Errors: every fallible function returns [`StoreError`]. Callers decide what it means to their
//! clients (`Unavailable` is a 503 at the receiver and a retry at the processor, never a 4xx).

pub mod connection;
pub mod error;
pub mod lock;
pub mod migrate;
pub mod models;
pub mod pool;
pub mod schema;
pub mod types;

pub use connection::{write_transaction, Backend, DatabaseUrl, DbConnection, SqliteOptions};
pub use error::StoreError;
pub use migrate::run_migrations;
pub use models::collections::{
    create_collection, find_collection, find_collection_by_id, Collection, NewCollection,
};
pub use models::console_sessions::{
    close_session, count_ended_sessions, find_session, open_session, purge_ended_sessions,
    touch_session, ConsoleSession, NewConsoleSession,
};
pub use models::decisions::{
    apply_requests, lock_collections, write_plan, Decide, EventsHeld, Facts, LockedCollection,
    RequestOutcome,
};
pub use models::event_admin::{
    count_purgeable, count_replayable, list_events, purge_batch, replay_event, replay_matching,
    EventFilter, ReplayFilter, Replayed,
};
pub use models::events::{
    claim_events, find_event, is_received, lease_end, lease_events, lock_claimable,
    lock_open_events, mark_claimed_failed, mark_failed, mark_ignored, notify_new_events,
    record_event, schedule_retry, EventStatus, NewWebhookEvent, Recorded, WebhookEvent,
    NEW_EVENTS_CHANNEL,
};
pub use models::intake::{
    add_intake_counts, count_purgeable_intake_counts, intake_counts_since, minute_of,
    purge_intake_counts_batch, IntakeCount, UNKNOWN_PROVIDER,
};
pub use models::notification_admin::{
    count_purgeable_notifications, find_notification, list_notifications, notification_counts,
    purge_notifications_batch, NotificationEntry, NotificationQuery,
};
pub use models::notifications::{
    claim_notifications, held_until, mark_delivered, mark_undelivered, notifications_of,
    oldest_undelivered, release_next, release_orphans, replay_notification, settle_notifications,
    ChangeData, Notification, NotificationStatus, NotificationType, Undelivered,
    COLLECTIONS_CHANNEL,
};
pub use models::pages::{
    list_collections, list_event_summaries, CollectionQuery, Cursor, EventQuery, EventSummary,
};
pub use models::record_batch::{record_events, BatchEvent, Receipt, StoredEvent};
pub use models::stats::{backlog, recent_lags, stats, Stats};
pub use models::transitions::{collection_history, Transition};
pub use pool::{build_pool, ping, run_blocking, DbPool, PoolSettings};
pub use types::now;
