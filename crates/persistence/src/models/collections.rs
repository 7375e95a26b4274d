//! `collections`: the payments host applications read. Created by the host (or an operator);
//! their status changes only through the decision transaction (`decisions`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::CollectionStatus;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::collections;
use crate::types::{SqlJson, SqlTime, SqlUuid};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = collections)]
pub struct Collection {
    pub id: Uuid,
    pub request_ref: String,
    #[diesel(deserialize_as = String)]
    pub status: CollectionStatus,
    pub provider: Option<String>,
    pub provider_ref: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub metadata: Value,
    /// Bumped on every change of status.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A collection to create; its status starts at `status` (normally INITIATED).
#[derive(Debug, Clone)]
pub struct NewCollection<'a> {
    pub request_ref: &'a str,
    pub status: CollectionStatus,
    pub provider: Option<&'a str>,
    pub provider_ref: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub metadata: Option<&'a Value>,
}

impl<'a> NewCollection<'a> {
    pub fn initiated(request_ref: &'a str) -> Self {
        NewCollection {
            request_ref,
            status: CollectionStatus::Initiated,
            provider: None,
            provider_ref: None,
            amount: None,
            currency: None,
            metadata: None,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = collections)]
struct CollectionRow<'a> {
    id: SqlUuid,
    request_ref: &'a str,
    status: &'a str,
    provider: Option<&'a str>,
    provider_ref: Option<&'a str>,
    amount: Option<&'a str>,
    currency: Option<&'a str>,
    metadata: SqlJson,
    version: i64,
    created_at: SqlTime,
    updated_at: SqlTime,
}

/// Creates a collection; `Conflict` when one with this request_ref exists.
pub fn create_collection(
    conn: &mut DbConnection,
    new: &NewCollection<'_>,
    now: DateTime<Utc>,
) -> Result<Collection, StoreError> {
    let empty = Value::Object(Default::default());
    let id = Uuid::new_v4();
    let row = CollectionRow {
        id: SqlUuid(id),
        request_ref: new.request_ref,
        status: new.status.as_str(),
        provider: new.provider,
        provider_ref: new.provider_ref,
        amount: new.amount,
        currency: new.currency,
        metadata: SqlJson(new.metadata.cloned().unwrap_or(empty)),
        version: 1,
        created_at: SqlTime(now),
        updated_at: SqlTime(now),
    };
    let inserted = diesel::insert_into(collections::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "a collection with request_ref {:?} already exists",
                new.request_ref
            )),
            other => other,
        })?;
    debug_assert_eq!(inserted, 1);
    find_collection_by_id(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("collection {id}")))
}

/// Stores the payment's reference at the provider on the collection, unless it has one already
/// (the first one seen stays).
pub(crate) fn keep_first_provider_ref(
    conn: &mut DbConnection,
    id: Uuid,
    reference: &str,
) -> Result<(), StoreError> {
    diesel::update(
        collections::table
            .filter(collections::id.eq(SqlUuid(id)))
            .filter(collections::provider_ref.is_null()),
    )
    .set(collections::provider_ref.eq(reference))
    .execute(conn)?;
    Ok(())
}

/// Stores the provider whose event first changed the collection, unless it has one already.
pub(crate) fn keep_first_provider(
    conn: &mut DbConnection,
    id: Uuid,
    provider: &str,
) -> Result<(), StoreError> {
    diesel::update(
        collections::table
            .filter(collections::id.eq(SqlUuid(id)))
            .filter(collections::provider.is_null()),
    )
    .set(collections::provider.eq(provider))
    .execute(conn)?;
    Ok(())
}

pub fn find_collection(
    conn: &mut DbConnection,
    request_ref: &str,
) -> Result<Option<Collection>, StoreError> {
    Ok(collections::table
        .filter(collections::request_ref.eq(request_ref))
        .select(Collection::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_collection_by_id(
    conn: &mut DbConnection,
    id: Uuid,
) -> Result<Option<Collection>, StoreError> {
    Ok(collections::table
        .filter(collections::id.eq(SqlUuid(id)))
        .select(Collection::as_select())
        .first(conn)
        .optional()?)
}
