//! What a test checks of an account migrate creates: its grants and its login's TLS rule.

use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPool;

/// `SHOW GRANTS` for `user`@'%', read on `pool` (an account that may read `mysql.user`).
pub async fn grants(pool: &MySqlPool, user: &str) -> Vec<String> {
    sqlx::query_scalar(AssertSqlSafe(format!("SHOW GRANTS FOR '{user}'@'%'")))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("SHOW GRANTS FOR {user}: {e}"))
}

/// Asserts that `user` holds exactly `privileges` (as `SHOW GRANTS` spells them, e.g.
/// `"SELECT, DELETE"`) on `database`'s events table besides `USAGE`, and must log in over TLS
/// (`REQUIRE SSL`), as migrate creates every account.
pub async fn assert_holds_only(pool: &MySqlPool, database: &str, user: &str, privileges: &str) {
    let grants = grants(pool, user).await;
    let all = grants.join("\n");
    assert!(
        all.contains(&format!("GRANT {privileges} ON `{database}`.`events`")),
        "{all}"
    );
    assert_eq!(
        grants.len(),
        2,
        "USAGE plus {privileges} on events, nothing more: {all}"
    );
    let create: String =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW CREATE USER '{user}'@'%'")))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|e| panic!("SHOW CREATE USER {user}: {e}"));
    assert!(create.contains("REQUIRE SSL"), "{create}");
}
