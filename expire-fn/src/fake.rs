//! In-memory stand-ins for the events table and the archive bucket, for the run loop's tests:
//! the table answers as the SQL of [`crate::table`] does, and can be told to fail a statement
//! (a run killed mid-chunk); the bucket keeps objects by key and answers 412 to a second write,
//! and can be told to answer 409, refuse, or cut the connection.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::archive::{ArchivedEvent, Object, decode};
use crate::chunk::{Chunk, Survey};
use crate::error::{ArchiveError, TableError};
use crate::run::{ArchiveStore, EventsTable, PutOutcome};

#[derive(Default)]
pub(crate) struct TableState {
    pub(crate) rows: BTreeMap<u64, ArchivedEvent>,
    /// The DELETE's `received_at < cutoff` guard; off, a DELETE takes the whole chunk, so that
    /// a test sees what the chunk rule alone guarantees.
    pub(crate) guard: bool,
    /// DELETEs to let through before one fails as if the run were killed, and then every
    /// statement of this handle fails.
    pub(crate) deletes_before_kill: Option<usize>,
    pub(crate) killed: bool,
    pub(crate) deleted_chunks: Vec<Chunk>,
    pub(crate) statements: usize,
}

/// A handle on a shared table: two handles are two runs' connections.
#[derive(Clone)]
pub(crate) struct FakeTable {
    pub(crate) state: Arc<Mutex<TableState>>,
    /// What each statement takes, on tokio's (paused) clock.
    pub(crate) latency: Duration,
}

impl FakeTable {
    pub(crate) fn new(rows: impl IntoIterator<Item = ArchivedEvent>) -> FakeTable {
        FakeTable {
            state: Arc::new(Mutex::new(TableState {
                rows: rows.into_iter().map(|r| (r.id, r)).collect(),
                guard: true,
                ..TableState::default()
            })),
            latency: Duration::ZERO,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TableState> {
        self.state.lock().unwrap()
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        self.lock().rows.keys().copied().collect()
    }

    /// One statement: its latency, a yield (so that two runs interleave), then `f`.
    async fn statement<T>(
        &self,
        what: &'static str,
        chunk: Option<Chunk>,
        f: impl FnOnce(&mut TableState) -> T,
    ) -> Result<T, TableError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        tokio::task::yield_now().await;
        let mut state = self.lock();
        state.statements += 1;
        if state.killed {
            return Err(TableError::TimedOut {
                what,
                chunk,
                timeout_ms: 0,
            });
        }
        Ok(f(&mut state))
    }
}

fn in_chunk(chunk: Chunk) -> std::ops::RangeInclusive<u64> {
    chunk.first..=chunk.last
}

impl EventsTable for FakeTable {
    async fn first_id_from(&mut self, from: u64) -> Result<Option<u64>, TableError> {
        self.statement("finding the next id", None, |s| {
            s.rows.range(from..).next().map(|(id, _)| *id)
        })
        .await
    }

    async fn survey(&mut self, chunk: Chunk) -> Result<Survey, TableError> {
        self.statement("surveying", Some(chunk), |s| {
            let rows = s.rows.range(in_chunk(chunk));
            Survey {
                rows: rows.clone().count() as u64,
                newest: rows.map(|(_, r)| r.received_at).max(),
            }
        })
        .await
    }

    async fn expired_rows(
        &mut self,
        chunk: Chunk,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<ArchivedEvent>, TableError> {
        self.statement("reading", Some(chunk), |s| {
            s.rows
                .range(in_chunk(chunk))
                .map(|(_, r)| r.clone())
                .filter(|r| r.received_at < cutoff)
                .collect()
        })
        .await
    }

    async fn delete(&mut self, chunk: Chunk, cutoff: NaiveDateTime) -> Result<u64, TableError> {
        {
            let mut state = self.lock();
            if let Some(n) = state.deletes_before_kill.as_mut() {
                if *n == 0 {
                    state.killed = true;
                } else {
                    *n -= 1;
                }
            }
        }
        self.statement("deleting", Some(chunk), |s| {
            let doomed: Vec<u64> = s
                .rows
                .range(in_chunk(chunk))
                .filter(|(_, r)| !s.guard || r.received_at < cutoff)
                .map(|(id, _)| *id)
                .collect();
            for id in &doomed {
                s.rows.remove(id);
            }
            s.deleted_chunks.push(chunk);
            doomed.len() as u64
        })
        .await
    }

    async fn oldest(&mut self) -> Result<Option<NaiveDateTime>, TableError> {
        self.statement("reading the oldest row", None, |s| {
            s.rows.values().map(|r| r.received_at).min()
        })
        .await
    }
}

/// A scripted answer, used before the bucket's own behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// As the bucket would answer.
    Pass,
    Conflict,
    /// The connection cut before S3 stored anything.
    Cut,
    /// S3 stored the object, then the connection was cut before its answer arrived.
    StoredButCut,
    Refused(u16, &'static str),
}

#[derive(Default)]
pub(crate) struct FakeBucket {
    pub(crate) objects: Mutex<BTreeMap<String, Vec<u8>>>,
    pub(crate) script: Mutex<VecDeque<Answer>>,
    pub(crate) puts: Mutex<usize>,
}

impl FakeBucket {
    pub(crate) fn scripted(answers: impl IntoIterator<Item = Answer>) -> FakeBucket {
        FakeBucket {
            script: Mutex::new(answers.into_iter().collect()),
            ..FakeBucket::default()
        }
    }

    /// Every archived row, over all objects.
    pub(crate) fn archived(&self) -> Vec<ArchivedEvent> {
        self.objects
            .lock()
            .unwrap()
            .values()
            .flat_map(|body| decode(&body[..]).unwrap())
            .collect()
    }

    fn store(&self, object: &Object) -> PutOutcome {
        let mut objects = self.objects.lock().unwrap();
        if objects.contains_key(&object.key) {
            return PutOutcome::AlreadyArchived;
        }
        objects.insert(object.key.clone(), object.body.clone());
        PutOutcome::Created
    }
}

impl ArchiveStore for FakeBucket {
    async fn put_new(&self, object: &Object) -> Result<PutOutcome, ArchiveError> {
        tokio::task::yield_now().await;
        *self.puts.lock().unwrap() += 1;
        let scripted = self.script.lock().unwrap().pop_front();
        let cut = || ArchiveError::Transport {
            key: object.key.clone(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )),
        };
        match scripted {
            None | Some(Answer::Pass) => Ok(self.store(object)),
            Some(Answer::Conflict) => Ok(PutOutcome::Conflict),
            Some(Answer::Cut) => Err(cut()),
            Some(Answer::StoredButCut) => {
                self.store(object);
                Err(cut())
            }
            Some(Answer::Refused(status, code)) => Err(ArchiveError::Refused {
                key: object.key.clone(),
                status,
                code: Some(code.into()),
                message: format!("stand-in {code}"),
            }),
        }
    }
}
