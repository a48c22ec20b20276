//! Z3 on threads of its own, so that a deadline holds whatever Z3 does.
//!
//! Z3 4.8.12 polls its timer and interrupts only between some steps: on long rationals (MNIST
//! realisation queries) one `check` was seen to run for minutes past both. So every query runs
//! on a fresh thread (with its own thread-local Z3 context: nothing Z3 holds crosses threads)
//! and the caller waits at most until the deadline plus [`GRACE`]. A late thread is abandoned:
//! it finishes (or is ended with the process) on its own and its answer is dropped.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// How long past a deadline the caller waits for Z3 to notice its timeout or interrupt.
pub const GRACE: Duration = Duration::from_millis(500);

/// Runs `f` on a fresh thread; `None` when it has not answered by `deadline + GRACE` (or
/// panicked).
pub(crate) fn bounded<T: Send + 'static>(
    deadline: Instant,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("certus-z3".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout((deadline + GRACE).saturating_duration_since(Instant::now()))
        .ok()
}

/// A long-lived Z3 thread answering a stream of queries (DLV's realisation queries share one
/// encoding, each query a push/pop). `Q` goes in, `A` comes out.
pub(crate) struct Worker<Q, A> {
    queries: Sender<(Q, Instant)>,
    answers: Receiver<A>,
}

impl<Q: Send + 'static, A: Send + 'static> Worker<Q, A> {
    /// Starts a thread that runs `setup` (building the encoding), reports whether it succeeded,
    /// then answers every query with `answer(state, query, deadline)`. `None` when setup fails
    /// or is not done by `deadline + GRACE`.
    pub fn start<S: 'static>(
        deadline: Instant,
        setup: impl FnOnce() -> Option<S> + Send + 'static,
        answer: impl Fn(&S, Q, Instant) -> A + Send + 'static,
    ) -> Option<Self> {
        let (qtx, qrx) = channel::<(Q, Instant)>();
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
        let left = (deadline + GRACE).saturating_duration_since(Instant::now());
        match ready_rx.recv_timeout(left) {
            Ok(true) => Some(Worker {
                queries: qtx,
                answers: arx,
            }),
            _ => None,
        }
    }

    /// Asks one query; `None` when the answer is not there by `deadline + GRACE` (the worker is
    /// then stuck: drop it and start another).
    pub fn ask(&self, q: Q, deadline: Instant) -> Option<A> {
        self.queries.send((q, deadline)).ok()?;
        let left = (deadline + GRACE).saturating_duration_since(Instant::now());
        self.answers.recv_timeout(left).ok()
    }
}
