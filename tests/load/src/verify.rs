//! `--verify`: every acknowledged event is in the table exactly once.

use sqlx::{MySqlPool, QueryBuilder};

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub checked: usize,
    pub missing: Vec<String>,
    pub doubled: Vec<String>,
}

pub async fn verify(database_url: &str, acked: &[String]) -> Result<Verification, sqlx::Error> {
    let pool = MySqlPool::connect(database_url).await?;
    let mut found = std::collections::HashMap::<String, i64>::new();
    for chunk in acked.chunks(1000) {
        let mut q = QueryBuilder::new("SELECT event_id, COUNT(*) FROM events WHERE event_id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(id);
        }
        q.push(") GROUP BY event_id");
        let rows: Vec<(String, i64)> = q.build_query_as().fetch_all(&pool).await?;
        found.extend(rows);
    }
    pool.close().await;
    let mut v = Verification {
        checked: acked.len(),
        ..Default::default()
    };
    for id in acked {
        match found.get(id) {
            None => v.missing.push(id.clone()),
            Some(n) if *n > 1 => v.doubled.push(id.clone()),
            _ => {}
        }
    }
    Ok(v)
}
