//! Z3 on threads of its own, so that a deadline holds whatever Z3 does.
//!
//! Z3 4.8.12 polls its timer and interrupts only between some steps: on long rationals (MNIST
//! realisation queries) one `check` was seen to run for minutes past both. So every query runs
//! on a fresh thread (with its own thread-local Z3 context: nothing Z3 holds crosses threads)
//! and the caller waits at most until the deadline plus [`GRACE`]. A late thread is abandoned:
//! it finishes (or is ended with the process) on its own and its answer is dropped.

use crate::deadline::Deadline;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

/// How long past a deadline the caller waits for Z3 to notice its timeout or interrupt.
pub const GRACE: Duration = Duration::from_millis(500);

/// Waits for one message until `deadline + GRACE` (for ever without a limit); `None` when
/// none came (or the sender is gone).
fn recv_by<T>(rx: &Receiver<T>, deadline: Deadline) -> Option<T> {
    match deadline.remaining() {
        None => rx.recv().ok(),
        Some(left) => rx.recv_timeout(left.saturating_add(GRACE)).ok(),
    }
}

/// Runs `f` on a fresh thread; `None` when it has not answered by `deadline + GRACE` (or
/// panicked).
pub(crate) fn bounded<T: Send + 'static>(
    deadline: Deadline,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("certus-z3".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    recv_by(&rx, deadline)
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
