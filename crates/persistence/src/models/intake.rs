//! `intake_counts`: the receivers' answers per minute, provider and outcome. Receivers add to it
//! in batches with an upsert that sums, so replicas share rows; the console reads the last hour;
//! `inboxctl purge` deletes old minutes. Nothing here decides what an outcome means: the rows
//! hold the receiver's own labels.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::connection::{write_transaction, DbConnection};
use crate::error::StoreError;
use crate::schema::intake_counts;
use crate::types::SqlTime;

/// The provider of every answer to a name that is not configured: names in the path are the
/// client's choice, and the table must not grow with them.
pub const UNKNOWN_PROVIDER: &str = "(unknown)";

/// How many deliveries of one provider got one outcome within one minute.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = intake_counts)]
pub struct IntakeCount {
    /// The start of the minute (UTC).
    pub minute: DateTime<Utc>,
    pub provider: String,
    /// `accepted`, `duplicate`, or the error code the receiver answered.
    pub outcome: String,
    pub count: i64,
}

#[derive(Insertable)]
#[diesel(table_name = intake_counts)]
struct IntakeRow<'a> {
    minute: SqlTime,
    provider: &'a str,
    outcome: &'a str,
    count: i64,
}

/// The upsert of `$values`, one row or many: a new key is inserted, an existing one summed.
macro_rules! upsert {
    ($values:expr) => {
        diesel::insert_into(intake_counts::table)
            .values($values)
            .on_conflict((minute, provider, outcome))
            .do_update()
            .set(count.eq(count + excluded(count)))
    };
}

/// Rows per statement on PostgreSQL: 4,000 bound values, far below both backends' limits (SQLite 32,766,
/// PostgreSQL 65,535), while a flush after a long outage still takes few round trips.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The start of the minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Adds `counts` to the table in one transaction: a new (minute, provider, outcome) is inserted,
/// an existing one gets the count added. Minutes are truncated to their start and repeated keys
/// summed first, since one statement may not update a row twice (PostgreSQL refuses it).
pub fn add_intake_counts(
    conn: &mut DbConnection,
    counts: &[IntakeCount],
) -> Result<(), StoreError> {
    let mut summed: BTreeMap<(DateTime<Utc>, &str, &str), i64> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.count > 0) {
        *summed
            .entry((minute_of(c.minute), &c.provider, &c.outcome))
            .or_default() += c.count;
    }
    if summed.is_empty() {
        return Ok(());
    }
    let rows: Vec<IntakeRow<'_>> = summed
        .into_iter()
        .map(|((minute, provider, outcome), count)| IntakeRow {
            minute: SqlTime(minute),
            provider,
            outcome,
            count,
        })
        .collect();
    // PostgreSQL takes many rows per statement; diesel cannot write a multi-row upsert for
    // SQLite, where a statement per row costs no round trip and is prepared once.
    let chunk = match conn {
        DbConnection::Pg(_) => ROWS_PER_STATEMENT,
        DbConnection::Sqlite(_) => 1,
    };
    write_transaction(conn, |conn| {
        use crate::schema::intake_counts::dsl::{count, minute, outcome, provider};
        for rows in rows.chunks(chunk) {
            match conn {
                DbConnection::Pg(c) => upsert!(rows).execute(c)?,
                DbConnection::Sqlite(c) => upsert!(&rows[0]).execute(c)?,
            };
        }
        Ok(())
    })
}

/// Every count from `since` on (a minute's start), oldest minute first, then by provider and
/// outcome: one range of the primary key.
pub fn intake_counts_since(
    conn: &mut DbConnection,
    since: DateTime<Utc>,
) -> Result<Vec<IntakeCount>, StoreError> {
    use crate::schema::intake_counts::dsl::*;
    Ok(intake_counts
        .filter(minute.ge(SqlTime(since)))
        .order((minute.asc(), provider.asc(), outcome.asc()))
        .select(IntakeCount::as_select())
        .load(conn)?)
}

/// Deletes the counts of the oldest minutes before `cutoff`, about `batch` rows (whole minutes
/// go together, so a few more); returns how many. Call it until it returns 0.
pub fn purge_intake_counts_batch(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<usize, StoreError> {
    use crate::schema::intake_counts::dsl::*;
    Ok(write_transaction(conn, |conn| {
        // The minute of the batch-th oldest row: everything up to it goes. Without one, fewer
        // than a batch are left before the cutoff, and they all go.
        let last: Option<DateTime<Utc>> = intake_counts
            .select(minute)
            .filter(minute.lt(SqlTime(cutoff)))
            .order(minute.asc())
            .offset(batch.max(1) - 1)
            .first(conn)
            .optional()?;
        match last {
            Some(at) => diesel::delete(intake_counts.filter(minute.le(SqlTime(at)))).execute(conn),
            None => diesel::delete(intake_counts.filter(minute.lt(SqlTime(cutoff)))).execute(conn),
        }
    })?)
}

/// How many count rows a purge with this cutoff would delete.
pub fn count_purgeable_intake_counts(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
) -> Result<i64, StoreError> {
    use crate::schema::intake_counts::dsl::*;
    Ok(intake_counts
        .filter(minute.lt(SqlTime(cutoff)))
        .count()
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_starts_at_its_zeroth_second() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:42:59.999999Z")
            .unwrap()
            .to_utc();
        let start = DateTime::parse_from_rfc3339("2026-12-01T10:42:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(minute_of(at), start);
        assert_eq!(minute_of(start), start);
    }
}
