-- An index on received_at, for the retention job's cutoff (ingest-expire deletes events whose
-- received_at is older than it) and its OldestEventAgeSeconds (MIN(received_at)).
--
-- Online: adding a secondary index is done in place, without rebuilding the table, and
-- permits concurrent DML; LOCK=NONE makes the server refuse the statement rather than fall
-- back to blocking writes, and ALGORITHM=INPLACE rather than copy the table.
-- https://dev.mysql.com/doc/refman/8.4/en/innodb-online-ddl-operations.html
-- Aurora MySQL version 3 runs community MySQL 8.0's online DDL (its own instant and fast DDL
-- cover column changes, not index builds), so the same holds there:
-- https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Managing.FastDDL.html
-- MariaDB 10.11 likewise: https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-inplace-alter-algorithm/
--
-- Online is not lock-free: the ALTER takes the table's metadata lock exclusively for a moment
-- at its start and at its end, and waits for every transaction that has touched the table to
-- finish first. While it waits, every new statement on the table (each of ingest's writes)
-- queues behind it. The server's default wait is a year (lock_wait_timeout 31536000, also on
-- Aurora: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/ams-waits.cond-wait-status.html),
-- so one long transaction would stall ingest for as long as it lasts. 3 s, below ingest-fn's
-- write timeout (DB_WRITE_TIMEOUT_MS, 5 s): the ALTER gives up instead (error 1205), migrate
-- fails naming it, and the next deploy (or a run by hand) tries again.
-- https://dev.mysql.com/doc/refman/8.4/en/server-system-variables.html#sysvar_lock_wait_timeout
--
-- Idempotent, as every migration here must be (migrate applies one again when a killed run
-- left it half-applied, migrate-fn/src/recovery.rs): MySQL has no CREATE INDEX IF NOT EXISTS,
-- so the ALTER runs only when information_schema does not list the index. An ALTER killed
-- midway rolls back and leaves no index behind.
--
-- No `-- no-transaction` line: sqlx 0.9.1 ignores it on MySQL (only its PostgreSQL driver reads
-- it). It runs a migration as BEGIN, its row inserted with success = FALSE, this SQL, the row
-- set to success = TRUE, COMMIT; the ALTER commits implicitly before it starts, which commits
-- that row. So a run killed during the ALTER leaves the row marked failed, which is what
-- migrate's recovery looks for; the line would change nothing but mislead.
SET @events_received_at_wait = @@SESSION.lock_wait_timeout;
SET SESSION lock_wait_timeout = 3;
SET @events_received_at_ddl = IF(
    EXISTS (
        SELECT 1 FROM information_schema.statistics
        WHERE table_schema = DATABASE()
          AND table_name = 'events'
          AND index_name = 'events_received_at'
    ),
    'DO 0',
    'ALTER TABLE events ADD INDEX events_received_at (received_at), ALGORITHM=INPLACE, LOCK=NONE'
);
PREPARE events_received_at_ddl FROM @events_received_at_ddl;
EXECUTE events_received_at_ddl;
DEALLOCATE PREPARE events_received_at_ddl;
SET SESSION lock_wait_timeout = @events_received_at_wait;
