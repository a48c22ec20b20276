//! Soundness at the edges of floating point: every engine on networks and boxes where a careless
//! implementation proves something false (overflow to infinity and NaN in bound passes,
//! optimum a hair from the threshold, f32 and f64 disagreeing). None may answer `unsat` where
//! the exact real-arithmetic optimum crosses the threshold, and every `sat` must replay.

mod common;

use certus::bounds::{output_bounds, Method};
use certus::ir::Network;
use certus::outcome::Verdict;
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use certus::verify::{verify, Engine, Options};
use common::mlp;
use std::time::Duration;

/// Every `verify` engine that can answer `unsat` or `sat` on a ReLU network.
fn engines() -> Vec<Engine> {
    let mut e: Vec<Engine> = [
        Method::Interval,
        Method::Dual,
        Method::Crown,
        Method::Alpha,
        Method::Lp,
    ]
    .into_iter()
    .map(Engine::Bab)
    .collect();
    e.push(Engine::Smt);
    e
}

/// The property "`Y_0 >= c` is reachable from the box" (the bad case `−y <= −c`).
fn above(lower: Vec<f64>, upper: Vec<f64>, c: f64) -> Property {
    Property {
        n_inputs: lower.len(),
        n_outputs: 1,
        regions: vec![Region {
            lower,
            upper,
            disjuncts: vec![Disjunct {
                constraints: vec![LinearConstraint {
                    coeffs: vec![(0, -1.0)],
                    rhs: -c,
                }],
            }],
        }],
    }
}

fn run(net: &Network, prop: &Property, engine: Engine) -> Verdict {
    let opts = Options {
        engine,
        deadline: common::within(Duration::from_secs(2)),
        ..Options::default()
    };
    verify(net, prop, &opts)
}

/// `y = relu(relu(1e30·x) − relu(1e30·x) + 1)` over `x ∈ [1e290, 1e300]` is exactly 1, but the
/// hidden values overflow f64: interval arithmetic meets `∞ − ∞`. A NaN bound that a ReLU turned
/// into 0 (`NaN.max(0) = 0`) once "proved" `y <= 0`, a wrong `unsat` for `y >= 0.5`. The
/// evaluations overflow too, so no counterexample replays: the right answer is `unknown` (or
/// `timeout`), never `unsat`.
#[test]
fn overflowing_hidden_values_never_prove() {
    let net = mlp(
        1,
        &[
            (vec![vec![1e30], vec![1e30]], vec![0.0, 0.0], true),
            (vec![vec![1.0, -1.0]], vec![1.0], true),
            (vec![vec![1.0]], vec![0.0], false),
        ],
    );
    let (lo, hi) = (vec![1e290], vec![1e300]);
    for m in [
        Method::Interval,
        Method::Dual,
        Method::Crown,
        Method::Alpha,
        Method::Lp,
    ] {
        let b = output_bounds(&net, &lo, &hi, m);
        assert!(
            b.lower[0] <= 1.0 && 1.0 <= b.upper[0],
            "{m:?}: {b:?} misses the exact output 1"
        );
    }
    let prop = above(lo, hi, 0.5);
    for e in engines() {
        let v = run(&net, &prop, e);
        assert!(!matches!(v, Verdict::Unsat), "{e:?} answered unsat");
    }
}
