//! ingest-expire against a real MySQL-compatible server (`DATABASE_URL` when set, otherwise one
//! container for this test binary through testcontainers, `lambda_harness::mysql`) and moto's S3, each test
//! on a fresh database beside the server's own:
//!
//! - expiry: chunks, the dry run, exactly the grants the job's account has;
//! - archive: objects in S3 before the DELETE, 412 from an object already there, a cut upload,
//!   a run killed mid-way, two runs at once, the restore command;
//! - lambda: the binary as a function behind a Runtime API, its response and metrics line.

mod archive;
mod expiry;
mod lambda;
mod support;
