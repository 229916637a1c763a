//! ingest-load: drives ingest-fn through the Lambda Invoke API or a Function URL and measures
//! what an event costs, cold and warm, and whether every acknowledged event was stored once.

pub mod cost;
pub mod endpoint;
pub mod events;
pub mod flags;
pub mod plot;
pub mod report_line;
pub mod run;
pub mod verify;
