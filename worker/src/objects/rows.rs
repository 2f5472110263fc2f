//! A guard's state as named JSON rows in one SQLite table of its Durable Object (the
//! key's record and meter; a grant's record and counters). Read whole once per object
//! lifetime; a row written changes in place.

use serde::{Deserialize, Serialize};
use std::cell::{Cell, OnceCell};
use worker::{Result, SqlStorage, SqlStorageValue};

/// The table `name`, and whether it is known to exist (once per object).
pub(crate) struct NamedRows {
    table: &'static str,
    ready: Cell<bool>,
    upsert: OnceCell<String>,
    /// A row was written since `take_written` last asked.
    written: Cell<bool>,
}

impl NamedRows {
    pub(crate) const fn new(table: &'static str) -> NamedRows {
        NamedRows {
            table,
            ready: Cell::new(false),
            upsert: OnceCell::new(),
            written: Cell::new(false),
        }
    }

    /// Whether a row was written since the last call: a batch that wrote nothing has no
    /// commit to wait for (worker/shim.js).
    pub(crate) fn take_written(&self) -> bool {
        self.written.replace(false)
    }

    /// Every row as (name, JSON text). A guard never written has no table, and reading
    /// creates none: an unknown key or grant writes nothing.
    pub(crate) fn read(&self, sql: &SqlStorage) -> Result<Vec<(String, String)>> {
        #[derive(Deserialize)]
        struct Row {
            name: String,
            value: String,
        }
        let tables: Vec<serde_json::Value> = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                vec![SqlStorageValue::from(self.table)],
            )?
            .to_array()?;
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        self.ready.set(true);
        let rows: Vec<Row> = sql
            .exec(&format!("SELECT name, value FROM {}", self.table), None)?
            .to_array()?;
        Ok(rows.into_iter().map(|r| (r.name, r.value)).collect())
    }

    /// Writes row `name` as `value`'s JSON.
    pub(crate) fn put(&self, sql: &SqlStorage, name: &str, value: &impl Serialize) -> Result<()> {
        self.put_json(sql, name, serde_json::to_string(value)?)
    }

    /// Writes row `name`, JSON text already made: inserted the first time, then changed
    /// in place (an upsert; REPLACE would delete the row and insert it again, index and
    /// all), in one statement made once per object.
    pub(crate) fn put_json(&self, sql: &SqlStorage, name: &str, json: String) -> Result<()> {
        if !self.ready.get() {
            sql.exec(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                    self.table
                ),
                None,
            )?;
            self.ready.set(true);
        }
        let upsert = self.upsert.get_or_init(|| {
            format!(
                "INSERT INTO {} (name, value) VALUES (?, ?) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                self.table
            )
        });
        self.written.set(true);
        sql.exec(
            upsert,
            vec![SqlStorageValue::from(name), SqlStorageValue::from(json)],
        )?;
        Ok(())
    }
}
