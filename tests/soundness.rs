//! Soundness at the edges of floating point: every engine on networks and boxes where a careless
//! implementation proves something false (overflow to infinity and NaN in bound passes,
//! optimum a hair from the threshold, f32 and f64 disagreeing). None may answer `unsat` where
//! the exact real-arithmetic optimum crosses the threshold, and every `sat` must replay.

mod common;

use certus::bounds::{output_bounds, Method};
use certus::ir::Network;
use certus::outcome::{confirm, Verdict};
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use certus::verify::{verify, Engine, Options};
use common::mlp;
use std::time::Duration;

/// Every `verify` engine that can answer `unsat` or `sat` on a ReLU network and keeps the f32
/// slack in its proofs: branch and bound with each bound method, and SMT. The two searches
/// ([`SEARCHES`]) are tested on their own (`input_split_keeps_the_f32_slack`; the ReLU-split
/// search does not keep it yet, docs/soundness.md).
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

/// The input-split and ReLU-split searches.
const SEARCHES: [Engine; 2] = [Engine::InputSplit, Engine::ReluSplit];

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

/// Every engine on `prop` (`Y_0 >= c`): never `unsat` when `crosses` (the exact optimum reaches
/// `c`, or an f32 evaluation does), never `sat` otherwise, and every `sat` replays. Returns
/// the verdicts' words, engine by engine.
fn no_wrong_answer(
    name: &str,
    net: &Network,
    lo: &[f64],
    hi: &[f64],
    c: f64,
    crosses: bool,
) -> Vec<&'static str> {
    no_wrong_answer_by(&engines(), name, net, lo, hi, c, crosses)
}

/// [`no_wrong_answer`] with the engines `list`, then DLV.
fn no_wrong_answer_by(
    list: &[Engine],
    name: &str,
    net: &Network,
    lo: &[f64],
    hi: &[f64],
    c: f64,
    crosses: bool,
) -> Vec<&'static str> {
    let prop = above(lo.to_vec(), hi.to_vec(), c);
    let mut words = Vec::new();
    for e in list.iter().copied().chain([Engine::Dlv]) {
        let v = run(net, &prop, e);
        match &v {
            Verdict::Unsat => assert!(!crosses, "{name}, c = {c:e}: {e:?} answered unsat"),
            Verdict::Sat(cex) => {
                assert!(
                    crosses,
                    "{name}, c = {c:e}: {e:?} answered sat at {:?}",
                    cex.input
                );
                let again = confirm(net, &prop, &cex.input)
                    .unwrap_or_else(|| panic!("{name}: {e:?}'s counterexample does not replay"));
                assert!(
                    again.output[0] >= c && again.output_f64[0] >= c,
                    "{name}: {again:?}"
                );
            }
            Verdict::Unknown(_) | Verdict::Timeout => {}
        }
        words.push(v.word());
    }
    words
}

/// The thresholds `opt·(1 − δ)`, `opt` and `opt·(1 + δ)` for `δ` = 1e-6 and 1e-9, rounded so
/// that each is on its side of `opt` (the optimum itself counts as reached: `y >= c`).
fn near(opt: f64) -> Vec<(f64, bool)> {
    let mut v = vec![(opt, true)];
    for d in [1e-6, 1e-9] {
        v.push(((opt * (1.0 - d)).next_down(), true));
        v.push(((opt * (1.0 + d)).next_up(), false));
    }
    v
}

/// Large and tiny weights that cancel at the optimum: 17 inputs in `[0, 1]`,
/// `y = 2^10·Σ_{i<8} x_i − 2^10·Σ_{i<8} x_{8+i} + 2^-10·x_16` (through ReLUs, stable on the
/// box). The optimum `2^13 + 2^-10` (at the corner `(1,…,1, 0,…,0, 1)`) needs 23 bits: it is
/// exact in f32, and every partial sum there is too, so the f32 evaluation reaches it and a
/// counterexample replays; above it no evaluation goes (rounding to nearest is monotone and
/// the optimum is an f32 number).
#[test]
fn large_and_tiny_weights_a_hair_from_the_threshold() {
    let n = 17;
    let eye: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let mut w = vec![1024.0; 8];
    w.extend([-1024.0; 8]);
    w.push(1.0 / 1024.0);
    let net = mlp(n, &[(eye, vec![0.0; n], true), (vec![w], vec![0.0], false)]);
    let opt = 8192.0 + 1.0 / 1024.0;
    let (lo, hi) = (vec![0.0; n], vec![1.0; n]);
    for (c, crosses) in near(opt) {
        let words = no_wrong_answer("large and tiny", &net, &lo, &hi, c, crosses);
        if crosses {
            assert!(
                words.contains(&"sat"),
                "c = {c:e}: no engine found the corner: {words:?}"
            );
        }
    }
    // A margin far above every rounding error: the complete engines prove it.
    let words = no_wrong_answer("large and tiny", &net, &lo, &hi, opt * (1.0 + 1e-3), false);
    assert!(
        words[2..].iter().filter(|w| **w == "unsat").count() >= 3,
        "{words:?}"
    );
}

/// Many neurons whose sum cancels: `y = Σ_{i<64} 2^10·(relu(x − t_i) − relu(x − t_i − 2^-20))`
/// over `x ∈ [−1, 1]`, `t_i = −1 + i/32`: each pair adds `2^10·min(relu(x − t_i), 2^-20)`, so
/// the optimum is `64·2^-10 = 2^-4`, reached for `x >= t_63 + 2^-20`, while the hidden values
/// reach `2^11`. At `x = 1` every operation is exact in f32 too.
#[test]
fn many_neurons_cancelling_a_hair_from_the_threshold() {
    let eps = 2f64.powi(-20);
    let t: Vec<f64> = (0..64).map(|i| -1.0 + i as f64 / 32.0).collect();
    let rows: Vec<Vec<f64>> = vec![vec![1.0]; 128];
    let bias: Vec<f64> = (t.iter().map(|t| -t))
        .chain(t.iter().map(|t| -t - eps))
        .collect();
    let w: Vec<f64> = (0..128)
        .map(|k| if k < 64 { 1024.0 } else { -1024.0 })
        .collect();
    let net = mlp(1, &[(rows, bias, true), (vec![w], vec![0.0], false)]);
    assert_eq!(net.eval_f64(&[1.0]), vec![0.0625]);
    assert_eq!(net.eval_f32(&[1.0]), vec![0.0625f32]);
    for (c, crosses) in near(0.0625) {
        no_wrong_answer("cancelling", &net, &[-1.0], &[1.0], c, crosses);
    }
}

/// f32 and f64 disagree: `y = 2^20·(relu(x) − relu(x − 2^-30))` over `x ∈ [0, 1]` is exactly
/// `2^20·min(x, 2^-30) <= 2^-10`. In f32, `x − 2^-30` rounds: at `x = 2^-6 + 2^-29` it is a tie
/// that rounds to even, `2^-6`, and the f32 output is `2^-9`, twice the real maximum; at `x = 1`
/// it rounds to 1 and the f32 output is 0. So "is `y >= 2^-10·(1 + 10^-6)` reachable?" is `no`
/// over the reals and `yes` for onnxruntime (VNN-COMP's judge): the only answer right under
/// both readings is `unknown`. certus's proofs keep the f32 evaluation's error bound as slack
/// ([`certus::bounds::f32_error`]), so none says `unsat`; and no `sat` is reported, because a
/// counterexample must hold in f64 too.
#[test]
fn f32_and_f64_disagreeing_is_never_unsat() {
    let eps = 2f64.powi(-30);
    let net = mlp(
        1,
        &[
            (vec![vec![1.0], vec![1.0]], vec![0.0, -eps], true),
            (vec![vec![1048576.0, -1048576.0]], vec![0.0], false),
        ],
    );
    let tie = 2f64.powi(-6) + 2f64.powi(-29);
    assert_eq!(net.eval_f64(&[tie]), vec![2f64.powi(-10)]);
    assert_eq!(net.eval_f32(&[tie]), vec![2f32.powi(-9)]);
    assert_eq!(net.eval_f32(&[1.0]), vec![0.0f32]);
    let c = 2f64.powi(-10) * (1.0 + 1e-6);
    let words = no_wrong_answer("f32 ≠ f64", &net, &[0.0], &[1.0], c, true);
    assert!(!words.contains(&"sat"), "{words:?}");
    // Below the real maximum both readings agree (`x = 2^-20` is exact in f32): `sat`.
    let words = no_wrong_answer(
        "f32 ≠ f64",
        &net,
        &[0.0],
        &[1.0],
        2f64.powi(-10) * 0.5,
        true,
    );
    assert!(words.contains(&"sat"), "{words:?}");
}

/// The f32 evaluation-error bound (`bounds::f32_error`) holds where it can be sampled: on
/// random networks of every core op (f64 weights, which the f32 evaluation rounds), certus's
/// own f32 evaluation at f32 points of the box stays within the bound of the f64 one, which is
/// itself within `γ·Σ|w||x|` (far below 1e-9 relative here) of the exact value.
#[test]
fn f32_error_bound_contains_sampled_f32_evaluations() {
    use certus::attack::Rng;
    use certus::bounds::f32_error::f32_errors;
    use certus::bounds::interval::interval_bounds;
    use certus::ir::Op;
    let mut rng = Rng::new(15);
    for case in 0..40 {
        let act = [Op::Relu, Op::Sigmoid, Op::Tanh][case % 3].clone();
        let net = common::random_net(&mut rng, 4, &[24, 24], 3, &[act]);
        let (lo, hi) = (vec![-8.0; 4], vec![8.0; 4]);
        let bounds = interval_bounds(&net, &lo, &hi);
        let err = f32_errors(&net, &bounds).pop().unwrap();
        for _ in 0..50 {
            let x: Vec<f64> = (0..4)
                .map(|_| ((rng.uniform() * 16.0 - 8.0) as f32) as f64)
                .collect();
            let (y64, y32) = (net.eval_f64(&x), net.eval_f32(&x));
            for k in 0..3 {
                let d = (y32[k] as f64 - y64[k]).abs();
                // The f64 value's own error is far below 1e-9 relative here.
                assert!(
                    d <= err[k] + 1e-9 * y64[k].abs(),
                    "case {case}: |{d:e}| > {:e}",
                    err[k]
                );
            }
        }
    }
}

/// `y = relu(x + 1) − 1` over `x ∈ [0, 1.5·2^-24]`: `x` over the reals, at most `1.5·2^-24`, but
/// in f32 `1 + 1.5·2^-24` rounds to `1 + 2^-23`, so the f32 output at the box's corner is
/// `2^-23`. Every engine bounds it exactly (no unstable ReLU).
fn rounding_up_net() -> (Network, f64) {
    let net = mlp(
        1,
        &[
            (vec![vec![1.0]], vec![1.0], true),
            (vec![vec![1.0]], vec![-1.0], false),
        ],
    );
    let top = 1.5 * 2f64.powi(-24);
    assert_eq!(net.eval_f64(&[top]), vec![top]);
    assert_eq!(net.eval_f32(&[top]), vec![2f32.powi(-23)]);
    (net, top)
}

/// f32 rounding lifts the output above the real maximum ([`rounding_up_net`]): "is
/// `y >= 1.5·2^-24·(1 + 10^-6)` reachable?" is `no` over the reals (a margin of `10^-13`, far
/// above f64's rounding, that linear bounds prove at the root) and `yes` for onnxruntime:
/// `unknown` (or `timeout`) is the only answer right under both.
#[test]
fn f32_rounding_above_a_linear_maximum_is_never_unsat() {
    let (net, top) = rounding_up_net();
    let words = no_wrong_answer("x + 1 − 1", &net, &[0.0], &[top], top * (1.0 + 1e-6), true);
    assert!(!words.contains(&"sat"), "{words:?}");
    // With a margin above the f32 error the proofs go through.
    let words = no_wrong_answer("x + 1 − 1", &net, &[0.0], &[top], 1e-3, false);
    assert!(
        words.iter().filter(|w| **w == "unsat").count() >= 5,
        "{words:?}"
    );
}

/// f32 rounding crosses a step's jump: `y = sign(((x + 1) − 1) − 7·2^-26)` over
/// `x ∈ [0, 1.5·2^-24]` is `−1` over the reals (the step's input is at most `−2^-26`), but in f32
/// `1 + 1.5·2^-24` rounds to `1 + 2^-23` and the input at the box's corner is `+2^-26`: the f32
/// output is 1. "Is `y >= 0` reachable?" is `no` over the reals and `yes` for onnxruntime: no
/// engine may say `unsat` (the engines bound the step of every value within the f32 error of
/// its input, `bounds::f32_error::proof_network`). Far from the jump they still prove.
#[test]
fn f32_rounding_across_a_sign_jump_is_never_unsat() {
    use certus::ir::Op;
    let c0 = 7.0 * 2f64.powi(-26);
    let net = common::mlp_with(
        1,
        &[
            (vec![vec![1.0]], vec![1.0], false),
            (vec![vec![1.0]], vec![-1.0], false),
            (vec![vec![1.0]], vec![-c0], true),
        ],
        Op::Sign,
    );
    let top = 1.5 * 2f64.powi(-24);
    assert_eq!(net.eval_f64(&[top]), vec![-1.0]);
    assert_eq!(net.eval_f32(&[top]), vec![1.0f32]);
    let all: Vec<Engine> = engines().into_iter().chain(SEARCHES).collect();
    let words = no_wrong_answer_by(&all, "sign jump", &net, &[0.0], &[top], 0.0, true);
    assert!(!words.contains(&"sat"), "{words:?}");
    // The same step far from its jump on `[−1, −0.5]` (its input below `−0.5`, far more than
    // the f32 error): every engine but DLV proves `y >= −0.5` unreachable.
    let words = no_wrong_answer_by(&all, "sign jump", &net, &[-1.0], &[-0.5], -0.5, false);
    assert!(
        words.iter().filter(|w| **w == "unsat").count() >= 8,
        "{words:?}"
    );
}

/// The two searches on the cases where the f32 evaluation refutes a real-arithmetic proof
/// ([`rounding_up_net`] and the tie of `f32_and_f64_disagreeing_is_never_unsat`): neither may
/// answer `unsat` (a wrong answer under the VNN-COMP convention). Their bound passes keep the
/// f32 evaluation's rounding as a perturbation of every layer (`search::bound`'s module doc).
fn searches_keep_the_f32_slack_by(list: &[Engine]) {
    let (net, top) = rounding_up_net();
    no_wrong_answer_by(
        list,
        "x + 1 − 1",
        &net,
        &[0.0],
        &[top],
        top * (1.0 + 1e-6),
        true,
    );
    let eps = 2f64.powi(-30);
    let net = mlp(
        1,
        &[
            (vec![vec![1.0], vec![1.0]], vec![0.0, -eps], true),
            (vec![vec![1048576.0, -1048576.0]], vec![0.0], false),
        ],
    );
    let c = 2f64.powi(-10) * (1.0 + 1e-6);
    no_wrong_answer_by(list, "f32 ≠ f64", &net, &[0.0], &[1.0], c, true);
    // With a margin above the f32 error both still prove.
    let (net, top) = rounding_up_net();
    let words = no_wrong_answer_by(list, "x + 1 − 1", &net, &[0.0], &[top], 1e-3, false);
    assert!(
        words[..list.len()].iter().all(|w| *w == "unsat"),
        "{words:?}"
    );
}

#[test]
fn searches_keep_the_f32_slack() {
    searches_keep_the_f32_slack_by(&SEARCHES);
}

/// The bounds the ReLU-split search works with (`DualNetwork::keeping_f32`: every node's f32
/// residual kept in the interval steps and the passes; the leaves' LP with the residuals as
/// bounded variables) hold for certus's own f32 evaluation at sampled f32 points, node by node,
/// on random networks of every core op: over ordinary boxes, and over thin boxes far from 0
/// (inputs near `±300`, width `10^-4`), where the f32 rounding of the hidden values is as large
/// as the boxes' own spread (the exact network's bounds alone miss the f32 values there).
#[test]
fn f32_keeping_bounds_contain_sampled_f32_evaluations() {
    use certus::attack::Rng;
    use certus::bounds::dual::{DualNetwork, Slopes};
    use certus::bounds::lp::{Backend, TriangleLp};
    use certus::deadline::Deadline;
    use certus::ir::Op;
    let mut rng = Rng::new(1515);
    let mut missed_by_exact = 0;
    for case in 0..40 {
        let act = [Op::Relu, Op::Sigmoid, Op::Tanh, Op::Relu][case % 4].clone();
        let net = common::random_net(&mut rng, 3, &[12, 10], 2, std::slice::from_ref(&act));
        let (lo, hi): (Vec<f64>, Vec<f64>) = if case % 2 == 0 {
            (vec![-2.0; 3], vec![2.0; 3])
        } else {
            let c: Vec<f64> = (0..3)
                .map(|_| ((rng.uniform() * 2.0 - 1.0) * 300.0) as f32 as f64)
                .collect();
            (c.clone(), c.iter().map(|v| v + 1e-4).collect())
        };
        let dn = DualNetwork::keeping_f32(&net);
        let all = dn.all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let exact = DualNetwork::new(&net).all_bounds(&lo, &hi, Slopes::Adaptive, Deadline::NONE);
        let c = ndarray::Array2::from_shape_fn((2, 2), |(r, k)| if r == k { 1.0 } else { -0.5 });
        let rows = dn.output_lower(&all, &c, Slopes::Adaptive);
        let lp = (act == Op::Relu).then(|| TriangleLp::keeping_f32(&net, &all));
        let lp_rows: Vec<f64> = match &lp {
            Some(lp) => (0..2)
                .map(|r| lp.lower_bound(&c.row(r).to_vec(), Backend::default()))
                .collect(),
            None => vec![f64::NEG_INFINITY; 2],
        };
        for _ in 0..40 {
            // The f32 point nearest a random point of the box (the box's corners are f32).
            let x: Vec<f32> = (0..3)
                .map(|m| (lo[m] + rng.uniform() * (hi[m] - lo[m])) as f32)
                .collect();
            if (0..3).any(|m| (x[m] as f64) < lo[m] || (x[m] as f64) > hi[m]) {
                continue;
            }
            let vals = net.eval_all::<f32>(&x);
            for (i, (v, b)) in vals.iter().zip(&all).enumerate() {
                for (e, &v) in v.iter().enumerate() {
                    let v = f64::from(v);
                    assert!(
                        b.lower[e] <= v && v <= b.upper[e],
                        "case {case} node {i}[{e}]: f32 value {v:e} outside [{:e}, {:e}]",
                        b.lower[e],
                        b.upper[e]
                    );
                    let eb = &exact[i];
                    if v < eb.lower[e] || v > eb.upper[e] {
                        missed_by_exact += 1;
                    }
                }
            }
            let y: Vec<f64> = vals.last().unwrap().iter().map(|&v| f64::from(v)).collect();
            for r in 0..2 {
                let cy: f64 = (0..2).map(|k| c[[r, k]] * y[k]).sum();
                let slack = 1e-12 * (1.0 + cy.abs());
                assert!(
                    rows[r] <= cy + slack,
                    "case {case} row {r}: {} > {cy}",
                    rows[r]
                );
                assert!(
                    lp_rows[r] <= cy + slack,
                    "case {case} LP row {r}: {} > {cy}",
                    lp_rows[r]
                );
            }
        }
    }
    assert!(
        missed_by_exact > 0,
        "no f32 value fell outside the exact network's bounds"
    );
}
