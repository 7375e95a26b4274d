//! The decision transaction: the collection update, its audit row and the event's mark commit
//! together or not at all. The update is conditional on the status the decision was taken from
//! (the fence): a stale decision changes nothing, whatever lock the caller did or did not hold.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{CollectionStatus, Decision};
use uuid::Uuid;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::models::collections::{find_collection_by_id, keep_first_provider_ref, Collection};
use crate::models::events::{settle_received, Settle};
use crate::models::transitions::NewTransition;
use crate::schema::{collection_transitions, collections};
use crate::types::{SqlTime, SqlUuid};

/// A decision to record on one collection.
#[derive(Debug, Clone)]
pub struct ApplyRequest<'a> {
    pub collection_id: Uuid,
    pub decision: Decision,
    /// The event that asked for it, marked PROCESSED in the same transaction; `None` for an
    /// operator's change.
    pub event_id: Option<Uuid>,
    /// The provider's reference, stored on the collection when it has none yet.
    pub provider_ref: Option<&'a str>,
    /// Who decided: `processor`, or the operator's name.
    pub actor: &'a str,
    /// The audit reason; defaults to the decision's own reason.
    pub reason: Option<&'a str>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Everything was written; the collection as it is now.
    Recorded {
        collection: Box<Collection>,
        transition_id: i64,
    },
    /// The collection's status is no longer the one the decision was taken from: nothing was
    /// written. Decide again from `current`.
    StaleStatus { current: CollectionStatus },
    /// The event is no longer RECEIVED (another processor finished it): nothing was written.
    EventAlreadyFinished,
    /// No collection has this id: nothing was written.
    CollectionMissing,
}

/// Records `request.decision`. Nothing is written unless everything is.
pub fn apply_decision(
    conn: &mut DbConnection,
    request: &ApplyRequest<'_>,
) -> Result<Applied, StoreError> {
    let outcome = write_transaction(conn, |conn| -> Result<Applied, Abort> {
        let decision = request.decision;
        let current = match lock_collection_status(conn, request.collection_id)? {
            Some(status) => status,
            None => return Ok(Applied::CollectionMissing),
        };
        if current != decision.from {
            return Ok(Applied::StaleStatus { current });
        }
        if let Some(event) = request.event_id {
            let marked = settle_received(conn, &[event], Settle::Processed(request.now), false)?;
            if marked.is_empty() {
                return Err(Abort::Rollback(Applied::EventAlreadyFinished));
            }
        }
        if decision.outcome.changes_status() {
            let updated = diesel::update(
                collections::table
                    .filter(collections::id.eq(SqlUuid(request.collection_id)))
                    .filter(collections::status.eq(decision.from.as_str())),
            )
            .set((
                collections::status.eq(decision.requested.as_str()),
                collections::version.eq(collections::version + 1),
                collections::updated_at.eq(SqlTime(request.now)),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Err(Abort::Rollback(Applied::StaleStatus { current }));
            }
            if let Some(reference) = request.provider_ref {
                keep_first_provider_ref(conn, request.collection_id, reference)?;
            }
        }
        let default_reason = decision.reason();
        let transition_id = diesel::insert_into(collection_transitions::table)
            .values(&NewTransition {
                collection_id: SqlUuid(request.collection_id),
                webhook_event_id: request.event_id.map(SqlUuid),
                from_status: decision.from.as_str(),
                to_status: decision.requested.as_str(),
                outcome: decision.outcome.as_str(),
                reason: request.reason.unwrap_or(&default_reason),
                actor: request.actor,
                created_at: SqlTime(request.now),
            })
            .returning(collection_transitions::id)
            .get_result(conn)?;
        let collection = find_collection_by_id(conn, request.collection_id)?
            .ok_or_else(|| StoreError::NotFound(format!("collection {}", request.collection_id)))?;
        Ok(Applied::Recorded {
            collection: Box::new(collection),
            transition_id,
        })
    });
    match outcome {
        Ok(applied) | Err(Abort::Rollback(applied)) => Ok(applied),
        Err(Abort::Store(err)) => Err(err),
    }
}

/// Reads the collection's status and holds its row until the transaction ends (PostgreSQL
/// `FOR UPDATE`; on SQLite the immediate transaction already excludes other writers).
fn lock_collection_status(
    conn: &mut DbConnection,
    id: Uuid,
) -> Result<Option<CollectionStatus>, StoreError> {
    let query = collections::table
        .filter(collections::id.eq(SqlUuid(id)))
        .select(collections::status);
    let status: Option<String> = match conn {
        DbConnection::Pg(c) => query.for_update().first(c).optional()?,
        DbConnection::Sqlite(c) => query.first(c).optional()?,
    };
    Ok(status.map(|s| s.parse()).transpose()?)
}

/// Why the transaction closure stopped: a database error, or an outcome that must roll back what
/// the transaction already wrote.
enum Abort {
    Store(StoreError),
    Rollback(Applied),
}

impl From<StoreError> for Abort {
    fn from(err: StoreError) -> Self {
        Abort::Store(err)
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(err: diesel::result::Error) -> Self {
        Abort::Store(err.into())
    }
}
