//! SQL types that differ between the two backends: native `uuid`, `jsonb` and `timestamptz` on
//! PostgreSQL (so host applications and operators get real types), TEXT on SQLite. The derived
//! multi-backend only knows the common subset, so each type carries conversions per backend, as
//! the `MultiConnection` derive documents.
//!
//! SQLite timestamps are written with a fixed width (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) so that
//! comparing the text compares the instants: claim and purge queries rely on it.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::SqlType;
use diesel::sql_types::{HasSqlType, Text};
use diesel::sqlite::Sqlite;

use crate::connection::MultiBackend;

/// `uuid` on PostgreSQL, TEXT (hyphenated) on SQLite.
#[derive(Debug, Clone, Copy, Default, QueryId, SqlType)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbUuid;

/// `jsonb` on PostgreSQL, TEXT on SQLite.
#[derive(Debug, Clone, Copy, Default, QueryId, SqlType)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbJson;

/// `timestamptz` on PostgreSQL, fixed-width UTC TEXT on SQLite.
#[derive(Debug, Clone, Copy, Default, QueryId, SqlType)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbTimestamp;

/// Both representations order as time does (see the module documentation).
impl diesel::sql_types::SqlOrd for DbTimestamp {}

const SQLITE_TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// The current time at the precision both backends store (microseconds), so a value written and
/// read back compares equal to the one the code holds.
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// Values to bind. Diesel's coherence rules forbid binding foreign types (`Uuid`, `Value`,
/// `DateTime`) as a custom SQL type, so writes and filters wrap them; reads load the plain types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression)]
#[diesel(sql_type = DbUuid)]
pub struct SqlUuid(pub uuid::Uuid);

/// Owns its value: the multi-backend binder keeps bound values beyond the borrow.
#[derive(Debug, Clone, PartialEq, AsExpression)]
#[diesel(sql_type = DbJson)]
pub struct SqlJson(pub serde_json::Value);

#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression)]
#[diesel(sql_type = DbTimestamp)]
pub struct SqlTime(pub DateTime<Utc>);

/// The multi-backend plumbing of one custom SQL type: metadata lookup, reading the plain Rust
/// type, binding its wrapper. The per-backend conversions are written out below.
macro_rules! multi_backend_type {
    ($sql:ident, $rust:ty, $wrapper:ty) => {
        impl HasSqlType<$sql> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql>(lookup)
            }
        }

        impl FromSql<$sql, MultiBackend> for $rust {
            fn from_sql(
                bytes: <MultiBackend as Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<$rust, $sql>()
            }
        }

        impl ToSql<$sql, MultiBackend> for $wrapper {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql, self));
                Ok(IsNull::No)
            }
        }
    };
}

multi_backend_type!(DbUuid, uuid::Uuid, SqlUuid);
multi_backend_type!(DbJson, serde_json::Value, SqlJson);
multi_backend_type!(DbTimestamp, DateTime<Utc>, SqlTime);

// PostgreSQL: the native types, through diesel's own conversions.

impl ToSql<DbUuid, Pg> for SqlUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <uuid::Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbUuid, Pg> for uuid::Uuid {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <uuid::Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes)
    }
}

impl ToSql<DbJson, Pg> for SqlJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<diesel::sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbJson, Pg> for serde_json::Value {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<diesel::sql_types::Jsonb, Pg>>::from_sql(bytes)
    }
}

impl ToSql<DbTimestamp, Pg> for SqlTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbTimestamp, Pg> for DateTime<Utc> {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(bytes)
    }
}

// SQLite: text.

fn sqlite_text(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<String> {
    <String as FromSql<Text, Sqlite>>::from_sql(bytes)
}

impl ToSql<DbUuid, Sqlite> for SqlUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<DbUuid, Sqlite> for uuid::Uuid {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(uuid::Uuid::parse_str(&sqlite_text(bytes)?)?)
    }
}

impl ToSql<DbJson, Sqlite> for SqlJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl FromSql<DbJson, Sqlite> for serde_json::Value {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(serde_json::from_str(&sqlite_text(bytes)?)?)
    }
}

impl ToSql<DbTimestamp, Sqlite> for SqlTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.format(SQLITE_TIMESTAMP_FORMAT).to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<DbTimestamp, Sqlite> for DateTime<Utc> {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = sqlite_text(bytes)?;
        Ok(NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")?.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_sort_as_text_in_time_order() {
        let earlier = DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap();
        let later = DateTime::from_timestamp_micros(1_700_000_000_100_000).unwrap();
        let a = earlier.format(SQLITE_TIMESTAMP_FORMAT).to_string();
        let b = later.format(SQLITE_TIMESTAMP_FORMAT).to_string();
        assert_eq!(a.len(), b.len());
        assert!(a < b, "{a} < {b}");
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
