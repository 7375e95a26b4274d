//! `collection_transitions`: the audit trail, one row per decision taken on a collection. Rows of
//! one collection are written while its row is locked, so their ids follow commit order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{CollectionStatus, Outcome};
use serde::Serialize;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::collection_transitions;
use crate::types::{SqlTime, SqlUuid};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = collection_transitions)]
pub struct Transition {
    pub id: i64,
    pub collection_id: Uuid,
    /// The event that asked for the change; `None` for an operator's change.
    pub webhook_event_id: Option<Uuid>,
    #[diesel(deserialize_as = String)]
    pub from_status: CollectionStatus,
    #[diesel(deserialize_as = String)]
    pub to_status: CollectionStatus,
    #[diesel(deserialize_as = String)]
    pub outcome: Outcome,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = collection_transitions)]
pub(crate) struct NewTransition<'a> {
    pub collection_id: SqlUuid,
    pub webhook_event_id: Option<SqlUuid>,
    pub from_status: &'a str,
    pub to_status: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub actor: &'a str,
    pub created_at: SqlTime,
}

/// The decisions taken on one collection, oldest first.
pub fn collection_history(
    conn: &mut DbConnection,
    collection_id: Uuid,
) -> Result<Vec<Transition>, StoreError> {
    Ok(collection_transitions::table
        .filter(collection_transitions::collection_id.eq(SqlUuid(collection_id)))
        .order(collection_transitions::id.asc())
        .select(Transition::as_select())
        .load(conn)?)
}
