//! How a database error reads in our messages: the server's error number and its own words.
//! ingest-fn's store, migrate and ingest-expire word their errors the same way, so each
//! message names the MySQL error an operator can look up.

/// The MySQL error number the server answered with, if the error is the server's.
pub fn mysql_code(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|db| db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|e| e.number())
}

/// " (MySQL error N)" when the server gave a number.
pub fn number(code: Option<u16>) -> String {
    code.map(|c| format!(" (MySQL error {c})"))
        .unwrap_or_default()
}

/// What the server said (its message, without sqlx's prefix), else the driver's error.
pub fn says(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        e => e.to_string(),
    }
}
