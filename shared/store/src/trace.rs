//! `CAIRN_SQL_TRACE=<file>`: every statement the SQLite writer runs, as SQL a `sqlite3` shell
//! can replay.
//!
//! It answers "how much of the time is the database itself?": replaying a run's trace into a
//! database with the same schema runs exactly the SQL Cairn's writer ran, in the same
//! transactions and with the same `synchronous` setting, in C on one thread, with none of
//! Cairn's Rust, threads or driver around it. The README's benchmark section shows how; the
//! replay time is a floor for that workload on that machine, whatever the code around the
//! database does.
//!
//! Values are written as literals the way sqlx binds them on SQLite (UUIDs as 16-byte blobs,
//! times as RFC 3339 text), so the replayed rows are the rows Cairn wrote. Each transaction is
//! `pragma synchronous = …; BEGIN IMMEDIATE; …; COMMIT;` (or `ROLLBACK;`). Not traced: SQL run
//! with `execute_unprepared` inside a transaction (sea-orm does not meter it; no writer uses
//! it) and the pool's reads. A slow diagnostic: the file grows by about 15 KB per Double-11
//! order, and each commit flushes it.

use sea_orm::{
    Statement,
    sea_query::{QueryBuilder, SqliteQueryBuilder, Value, prelude::chrono::SecondsFormat},
};
use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    sync::{Arc, Mutex},
};

/// A trace file shared by the writer connection and its transactions.
#[derive(Clone)]
pub(crate) struct Trace(Arc<Mutex<BufWriter<File>>>);

impl Trace {
    pub(crate) fn create(path: &Path) -> std::io::Result<Trace> {
        Ok(Trace(Arc::new(Mutex::new(BufWriter::new(File::create(path)?)))))
    }

    /// Appends `sql;` on a line of its own.
    pub(crate) fn line(&self, sql: &str) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(w, "{sql};") {
            tracing::warn!(error = %e, "cannot write the SQL trace");
        }
    }

    /// Appends `st` with its values written in.
    pub(crate) fn statement(&self, st: &Statement) {
        self.line(&render(st));
    }

    /// Ends a transaction: `COMMIT` or `ROLLBACK`, then flushes, so a trace cut short by a
    /// crash still ends with whole transactions.
    pub(crate) fn end(&self, committed: bool) {
        self.line(if committed { "COMMIT" } else { "ROLLBACK" });
        if let Err(e) = self.0.lock().unwrap_or_else(|e| e.into_inner()).flush() {
            tracing::warn!(error = %e, "cannot write the SQL trace");
        }
    }
}

/// Writes `ROLLBACK` when a traced transaction is dropped without [`TxTrace::commit`].
pub(crate) struct TxTrace(Option<Trace>);

impl TxTrace {
    pub(crate) fn begin(trace: Option<&Trace>, relaxed: bool) -> TxTrace {
        if let Some(t) = trace {
            t.line(if relaxed { "pragma synchronous = normal" } else { "pragma synchronous = full" });
            t.line("BEGIN IMMEDIATE");
        }
        TxTrace(trace.cloned())
    }

    pub(crate) fn commit(mut self, committed: bool) {
        if let Some(t) = self.0.take() {
            t.end(committed);
        }
    }
}

impl Drop for TxTrace {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.end(false);
        }
    }
}

/// `st` as one SQLite statement with its values as literals.
pub(crate) fn render(st: &Statement) -> String {
    let empty = Vec::new();
    let mut values = st.values.as_ref().map_or(&empty, |v| &v.0).iter();
    let mut out = String::with_capacity(st.sql.len() * 2);
    let mut quoted = false;
    for c in st.sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => match values.next() {
                Some(v) => out.push_str(&literal(v)),
                None => out.push(c),
            },
            _ => out.push(c),
        }
    }
    out
}

/// A value as sqlx binds it on SQLite, written as a literal.
fn literal(v: &Value) -> String {
    let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let blob = |b: &[u8]| format!("X'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    match v {
        Value::Uuid(Some(u)) => blob(u.as_bytes()),
        Value::Bytes(Some(b)) => blob(b),
        Value::String(Some(s)) => text(s),
        Value::Json(Some(j)) => text(&j.to_string()),
        Value::ChronoDateTimeUtc(Some(d)) => text(&d.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
        Value::ChronoDateTimeLocal(Some(d)) => text(&d.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
        Value::ChronoDateTimeWithTimeZone(Some(d)) => text(&d.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
        Value::ChronoDateTime(Some(d)) => text(&d.format("%F %T%.f").to_string()),
        Value::ChronoDate(Some(d)) => text(&d.format("%F").to_string()),
        Value::ChronoTime(Some(t)) => text(&t.format("%T%.f").to_string()),
        Value::Bool(Some(b)) => if *b { "1" } else { "0" }.to_owned(),
        // Numbers and NULLs are written the same by both.
        other => SqliteQueryBuilder.value_to_string(other),
    }
}
