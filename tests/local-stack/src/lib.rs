//! What the local stack and the capacity tools share beyond the harnesses: N local ingest-fn
//! environments measured under load ([`capacity`]) and tables seeded to a size ([`seed`]).

pub mod capacity;
pub mod plot;
pub mod seed;
