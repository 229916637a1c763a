//! What the local stack and the capacity tools share beyond the harnesses: N local ingest-fn
//! environments measured under load ([`capacity`]), tables seeded to a size ([`seed`]), and the
//! main job's retention step ([`retention`]).

pub mod capacity;
pub mod plot;
pub mod retention;
pub mod seed;
