//! Z3 on threads of its own, so that a deadline holds whatever Z3 does.
//!
//! Z3 4.8.12 polls its timer and interrupts only between some steps: on long rationals (MNIST
//! realisation queries) one `check` was seen to run for minutes past both. So every query runs
//! on a fresh thread (with its own thread-local Z3 context: nothing Z3 holds crosses threads)
//! and the caller waits at most until the deadline plus [`GRACE`]. A late thread is abandoned:
//! it finishes (or is ended with the process) on its own and its answer is dropped.

use crate::deadline::Deadline;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// How long past a deadline the caller waits for Z3 to notice its timeout or interrupt.
pub const GRACE: Duration = Duration::from_millis(500);

/// How often a wait for Z3 looks at its deadline again: a deadline also expires early, at the
/// memory limit ([`crate::memory`]).
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Waits for one message until `deadline + GRACE` (for ever without a limit); `None` when
/// none came (or the sender is gone).
fn recv_by<T>(rx: &Receiver<T>, deadline: Deadline) -> Option<T> {
    while !deadline.expired() {
        let slice = deadline.remaining().map_or(POLL, |l| l.min(POLL));
        match rx.recv_timeout(slice) {
            Ok(v) => return Some(v),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    rx.recv_timeout(GRACE).ok()
}

/// Why [`bounded`] has no answer.
#[derive(Debug)]
pub(crate) enum Lost {
    /// Not answered by `deadline + GRACE` (or the thread could not start).
    Late,
    /// The thread panicked, with this message: Z3 reports a failed allocation (under
    /// `--memory-limit`, or when the machine runs out) as a null pointer the bindings unwrap.
    Failed(String),
}

/// Runs `f` on a fresh thread and waits for its answer until `deadline + GRACE`.
pub(crate) fn bounded<T: Send + 'static>(
    deadline: Deadline,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Lost> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("certus-z3".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
                (p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            });
            let _ = tx.send(r);
        })
        .map_err(|_| Lost::Late)?;
    match recv_by(&rx, deadline) {
        Some(Ok(v)) => Ok(v),
        Some(Err(msg)) => Err(Lost::Failed(msg)),
        None => Err(Lost::Late),
    }
}

/// A long-lived Z3 thread answering a stream of queries (DLV's realisation queries share one
/// encoding, each query a push/pop). `Q` goes in, `A` comes out.
pub(crate) struct Worker<Q, A> {
    queries: Sender<(Q, Deadline)>,
    answers: Receiver<A>,
}

impl<Q: Send + 'static, A: Send + 'static> Worker<Q, A> {
    /// Starts a thread that runs `setup` (building the encoding), reports whether it succeeded,
    /// then answers every query with `answer(state, query, deadline)`. `None` when setup fails
    /// or is not done by `deadline + GRACE`.
    pub fn start<S: 'static>(
        deadline: Deadline,
        setup: impl FnOnce() -> Option<S> + Send + 'static,
        answer: impl Fn(&S, Q, Deadline) -> A + Send + 'static,
    ) -> Option<Self> {
        let (qtx, qrx) = channel::<(Q, Deadline)>();
        let (atx, arx) = channel::<A>();
        let (ready_tx, ready_rx) = channel::<bool>();
        std::thread::Builder::new()
            .name("certus-z3".into())
            .spawn(move || {
                let Some(state) = setup() else {
                    let _ = ready_tx.send(false);
                    return;
                };
                let _ = ready_tx.send(true);
                for (q, deadline) in qrx {
                    if atx.send(answer(&state, q, deadline)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        match recv_by(&ready_rx, deadline) {
            Some(true) => Some(Worker {
                queries: qtx,
                answers: arx,
            }),
            _ => None,
        }
    }

    /// Asks one query; `None` when the answer is not there by `deadline + GRACE` (the worker is
    /// then stuck: drop it and start another).
    pub fn ask(&self, q: Q, deadline: Deadline) -> Option<A> {
        self.queries.send((q, deadline)).ok()?;
        recv_by(&self.answers, deadline)
    }
}
