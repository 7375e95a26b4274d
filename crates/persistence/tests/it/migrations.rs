//! The two migration trees: applied once under concurrent start-up, and equivalent.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use persistence::migrate::pending_migrations;
use persistence::run_migrations;

use crate::helpers::{self, TestDb};

#[test]
fn concurrent_start_up_migrates_once_on_postgres() {
    if let Some(db) =
        helpers::postgres_unmigrated("migrations::concurrent_start_up_migrates_once_on_postgres")
    {
        migrate_from_four_replicas(db);
    }
}

#[test]
fn concurrent_start_up_migrates_once_on_sqlite() {
    migrate_from_four_replicas(helpers::sqlite_unmigrated());
}

fn migrate_from_four_replicas(db: TestDb) {
    let pool = db.pool_of(4);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                run_migrations(&mut conn).unwrap()
            })
        })
        .collect();
    let applied: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        applied.iter().filter(|a| !a.is_empty()).count(),
        1,
        "{applied:?}"
    );
    assert!(pending_migrations(&mut db.conn()).unwrap().is_empty());
    assert!(run_migrations(&mut db.conn()).unwrap().is_empty());
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Bool)]
    primary_key: bool,
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Bool)]
    is_partial: bool,
}

const PG_COLUMNS: &str = "
    SELECT c.table_name::text, c.column_name::text,
           CASE WHEN c.data_type IN ('integer', 'bigint') THEN 'INTEGER' ELSE 'TEXT' END AS data_type,
           c.is_nullable = 'YES' AS nullable,
           EXISTS (SELECT 1 FROM information_schema.table_constraints tc
                   JOIN information_schema.key_column_usage k
                     ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
                   WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema
                     AND k.table_name = c.table_name AND k.column_name = c.column_name) AS primary_key
    FROM information_schema.columns c
    WHERE c.table_schema = current_schema() AND c.table_name NOT LIKE '\\_\\_diesel%'";

const SQLITE_COLUMNS: &str = "
    SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
           p.\"notnull\" = 0 AS nullable, p.pk > 0 AS primary_key
    FROM sqlite_master m JOIN pragma_table_info(m.name) p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
      AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\'";

// Indexes other than primary keys.
const PG_INDEXES: &str = "
    SELECT t.relname::text AS table_name, i.relname::text AS index_name,
           (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
              FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum) AS columns,
           ix.indisunique AS is_unique, ix.indpred IS NOT NULL AS is_partial
    FROM pg_index ix
    JOIN pg_class i ON i.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema() AND NOT ix.indisprimary
      AND t.relname NOT LIKE '\\_\\_diesel%'";

const SQLITE_INDEXES: &str = "
    SELECT m.name AS table_name, il.name AS index_name,
           (SELECT group_concat(name, ',') FROM
              (SELECT ii.name FROM pragma_index_info(il.name) ii ORDER BY ii.seqno)) AS columns,
           il.\"unique\" = 1 AS is_unique, il.partial = 1 AS is_partial
    FROM sqlite_master m JOIN pragma_index_list(m.name) il
    WHERE m.type = 'table' AND il.origin <> 'pk'
      AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\'";

/// An index by what it covers: (table, columns, unique, partial).
type IndexShape = (String, String, bool, bool);

fn describe(
    db: &TestDb,
    columns: &str,
    indexes: &str,
) -> (BTreeSet<ColumnRow>, BTreeSet<IndexShape>) {
    let mut conn = db.conn();
    let columns: BTreeSet<ColumnRow> = diesel::sql_query(columns)
        .load::<ColumnRow>(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    // Unique constraints get generated names on SQLite, so indexes compare by what they cover.
    let indexes = diesel::sql_query(indexes)
        .load::<IndexRow>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|i| (i.table_name, i.columns, i.is_unique, i.is_partial))
        .collect();
    (columns, indexes)
}

#[test]
fn both_migration_trees_produce_the_same_schema() {
    let Some(pg) = helpers::postgres("migrations::both_migration_trees_produce_the_same_schema")
    else {
        return;
    };
    let sqlite = helpers::sqlite();
    let (pg_columns, pg_indexes) = describe(&pg, PG_COLUMNS, PG_INDEXES);
    let (sqlite_columns, sqlite_indexes) = describe(&sqlite, SQLITE_COLUMNS, SQLITE_INDEXES);

    let tables: BTreeSet<_> = pg_columns.iter().map(|c| c.table_name.as_str()).collect();
    assert_eq!(
        tables,
        BTreeSet::from([
            "collection_transitions",
            "collections",
            "intake_counts",
            "console_sessions",
            "notifications",
            "webhook_events"
        ])
    );
    assert_eq!(pg_columns.len(), 15 + 11 + 9 + 11 + 4 + 5);
    assert_eq!(pg_columns, sqlite_columns);
    assert!(pg_indexes.contains(&(
        "webhook_events".into(),
        "next_attempt_at".into(),
        false,
        true
    )));
    assert!(pg_indexes.contains(&(
        "webhook_events".into(),
        "provider,dedup_key".into(),
        true,
        false
    )));
    assert_eq!(pg_indexes, sqlite_indexes);
}

#[derive(QueryableByName)]
struct Options {
    #[diesel(sql_type = Text)]
    options: String,
}

/// The claimable index collects a dead entry per processed event until VACUUM: the event table
/// must be vacuumed after a fixed number of changes, not after 20 % of however big it has grown.
#[test]
fn postgres_vacuums_the_event_table_after_a_fixed_number_of_changes() {
    let Some(db) = helpers::postgres("migrations::vacuum_settings") else {
        return;
    };
    let options = diesel::sql_query(
        "SELECT coalesce(array_to_string(reloptions, ' '), '') AS options FROM pg_class \
         WHERE oid = 'webhook_events'::regclass",
    )
    .get_result::<Options>(&mut db.conn())
    .unwrap()
    .options;
    let options: Vec<&str> = options.split(' ').collect();
    assert!(
        options.contains(&"autovacuum_vacuum_scale_factor=0"),
        "{options:?}"
    );
    assert!(
        options.contains(&"autovacuum_vacuum_threshold=20000"),
        "{options:?}"
    );
}
