//! One table of `(network, property, engine, expected)`, run over every engine `verify` has.
//!
//! Each row is a network and a property whose answer is derived on paper (in the property file's
//! first comment line, or beside the row), with the answer each kind of engine must give:
//! - branch and bound (`interval`, `dual`, `crown`, `alpha`, `lp`) is complete on these small
//!   networks: it gives the true answer;
//! - `smt` is complete on ReLU networks and answers `unknown` for sigmoid/tanh (no exact
//!   encoding);
//! - `dlv` never proves anything: `sat` when its grid (M = 2 steps of a quarter of the box width
//!   around each region's centre at the input, then every ReLU layer) holds a replayed example,
//!   otherwise `unknown`, also on some `sat` rows (an example between the grid points).
//!
//! Every `sat` must come with a counterexample that replays on the property.

mod common;

use certus::bounds::Method;
use certus::import::load_network;
use certus::ir::{Network, Op};
use certus::outcome::{confirm, Verdict};
use certus::spec::vnnlib::parse_file;
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use certus::verify::{verify, Engine, Options};
use common::{mlp, mlp_with, root, vee, within};
use std::time::Duration;

/// An expected answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum A {
    Sat,
    Unsat,
    Unknown,
}
use A::{Sat, Unknown, Unsat};

/// A network: a file under the crate root, or one built here.
enum Net {
    File(&'static str),
    Built(fn() -> Network),
}

/// A property: a file under the crate root, or one built here.
enum Prop {
    File(&'static str),
    Built(fn() -> Property),
}

/// One row: the network, the property, and the answers of branch and bound, `smt` and `dlv`.
struct Row {
    net: Net,
    prop: Prop,
    bab: A,
    smt: A,
    dlv: A,
}

/// The bad case `c·y <= rhs` (one output) over `[lower, upper]`.
fn bad(lower: Vec<f64>, upper: Vec<f64>, c: f64, rhs: f64) -> Property {
    Property {
        n_inputs: lower.len(),
        n_outputs: 1,
        regions: vec![Region {
            lower,
            upper,
            disjuncts: vec![Disjunct {
                constraints: vec![LinearConstraint {
                    coeffs: vec![(0, c)],
                    rhs,
                }],
            }],
        }],
    }
}

/// The bad case `c·y_k <= rhs` on output `k` of `n_out` over `[lower, upper]`.
fn bad_at(lower: Vec<f64>, upper: Vec<f64>, n_out: usize, k: usize, c: f64, rhs: f64) -> Property {
    let mut p = bad(lower, upper, c, rhs);
    p.n_outputs = n_out;
    p.regions[0].disjuncts[0].constraints[0].coeffs = vec![(k, c)];
    p
}

/// For the trap `properties/traps/box_per_branch.vnnlib`: `y0 = relu(x0) + relu(x1)`,
/// `y1 = −0.5`. Its region `[0,1]²` asks `y0 <= y1` (impossible, `y0 >= 0`) or `y1 <= −1`
/// (false); its region `x0 ∈ [2,3], x1 ∈ [−1,0]` asks `y0 >= 3`, reached on the face `x0 = 3`:
/// sat, and only through the second region's own box and constraints.
fn relu_sum() -> Network {
    mlp(
        2,
        &[
            (vec![vec![1.0, 0.0], vec![0.0, 1.0]], vec![0.0, 0.0], true),
            (vec![vec![1.0, 1.0], vec![0.0, 0.0]], vec![0.0, -0.5], false),
        ],
    )
}

/// `y = σ(x)` on `[−1, 1]`: its range is `[σ(−1), σ(1)] = [0.269, 0.731]`.
fn sigmoid() -> Network {
    mlp_with(
        1,
        &[
            (vec![vec![1.0]], vec![0.0], true),
            (vec![vec![1.0]], vec![0.0], false),
        ],
        Op::Sigmoid,
    )
}

/// `y0 = 4·(σ(400(x − 0.52)) − σ(400(x − 0.54)))`, a bump of height 3.86 at 0.53 and below
/// 0.02 at every point of DLV's grid around 0.4 (`{0.2, 0.3, ..., 0.6}`); `y1 = 1`.
fn sigmoid_bump() -> Network {
    mlp_with(
        1,
        &[
            (vec![vec![400.0]; 2], vec![-208.0, -216.0], true),
            (vec![vec![4.0, -4.0], vec![0.0, 0.0]], vec![0.0, 1.0], false),
        ],
        Op::Sigmoid,
    )
}

/// Class 1 robust around 0.4 (radius 0.2)? No: on the bump, `y0 >= 1`.
fn bump_robustness() -> Property {
    Property::robustness(vec![0.2], vec![0.6], 1, 2)
}

/// `y <= −0.1` or `y >= 2.1` on vee: both outside its range `[0, 2]`.
fn vee_outside() -> Property {
    let mut p = bad(vec![0.0; 2], vec![1.0; 2], 1.0, -0.1);
    let above = bad(vec![0.0; 2], vec![1.0; 2], -1.0, -2.1);
    p.regions[0]
        .disjuncts
        .extend(above.regions[0].disjuncts.clone());
    p
}

fn table() -> Vec<Row> {
    let f = Net::File;
    let pf = Prop::File;
    let row = |net, prop, bab, smt, dlv| Row {
        net,
        prop,
        bab,
        smt,
        dlv,
    };
    vec![
        row(
            f("examples/vee.nnet"),
            pf("properties/vee_above_2.1.vnnlib"),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("examples/vee.nnet"),
            pf("properties/vee_above_1.9.vnnlib"),
            Sat,
            Sat,
            Sat,
        ),
        // y >= 2: the maximum, reached on the whole face x0 = 1 (a boundary case).
        row(
            Net::Built(vee),
            Prop::Built(|| bad(vec![0.0; 2], vec![1.0; 2], -1.0, -2.0)),
            Sat,
            Sat,
            Sat,
        ),
        row(
            Net::Built(vee),
            Prop::Built(vee_outside),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/tiny_relu.onnx"),
            pf("properties/tiny_relu_above_3.6.vnnlib"),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/tiny_relu.onnx"),
            pf("properties/tiny_relu_above_3.4.vnnlib"),
            Sat,
            Sat,
            Sat,
        ),
        row(
            f("tests/fixtures/tiny_relu.onnx"),
            pf("properties/tiny_relu_below_-1.1.vnnlib"),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/tiny_relu.onnx"),
            pf("properties/tiny_relu_below_-0.9.vnnlib"),
            Sat,
            Sat,
            Sat,
        ),
        row(
            Net::Built(relu_sum),
            pf("properties/traps/box_per_branch.vnnlib"),
            Sat,
            Sat,
            Sat,
        ),
        // σ(1) = 0.731: y >= 0.8 unreachable, y >= 0.7 reached near x = 1 (on DLV's grid).
        row(
            Net::Built(sigmoid),
            Prop::Built(|| bad(vec![-1.0], vec![1.0], -1.0, -0.8)),
            Unsat,
            Unknown,
            Unknown,
        ),
        row(
            Net::Built(sigmoid),
            Prop::Built(|| bad(vec![-1.0], vec![1.0], -1.0, -0.7)),
            Sat,
            Unknown,
            Sat,
        ),
        // ops_conv_transpose: y0 = 2·(x0 + 0.5) (a transposed convolution, a ReLU, a grouped
        // transposed one), 3 at most on [0, 1]^4.
        row(
            f("tests/fixtures/ops_conv_transpose.onnx"),
            Prop::Built(|| bad_at(vec![0.0; 4], vec![1.0; 4], 18, 0, -1.0, -3.1)),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_conv_transpose.onnx"),
            Prop::Built(|| bad_at(vec![0.0; 4], vec![1.0; 4], 18, 0, -1.0, -2.9)),
            Sat,
            Sat,
            Sat,
        ),
        // ops_sign: y = sign(x0 − x1) + 2·sign(x0 + x1 − 0.5) ∈ {−3, ..., 3} on [0, 1]²: 3 at
        // (1, 0) (a corner, on DLV's grid), never 3.5.
        row(
            f("tests/fixtures/ops_sign.onnx"),
            Prop::Built(|| bad(vec![0.0; 2], vec![1.0; 2], -1.0, -3.5)),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_sign.onnx"),
            Prop::Built(|| bad(vec![0.0; 2], vec![1.0; 2], -1.0, -2.5)),
            Sat,
            Sat,
            Sat,
        ),
        // ops_pow: y = ((x0 + x1)² − (x0 − x1)²)/4 = x0·x1 on [−1, 1]²: at most 1, at (1, 1).
        row(
            f("tests/fixtures/ops_pow.onnx"),
            Prop::Built(|| bad(vec![-1.0; 2], vec![1.0; 2], -1.0, -1.01)),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_pow.onnx"),
            Prop::Built(|| bad(vec![-1.0; 2], vec![1.0; 2], -1.0, -0.99)),
            Sat,
            Sat,
            Sat,
        ),
        // ops_mul: y2 = x0² + x1² + x2² on [−1, 1]³: at most 3. Not a chain: DLV answers
        // unknown.
        row(
            f("tests/fixtures/ops_mul.onnx"),
            Prop::Built(|| bad_at(vec![-1.0; 3], vec![1.0; 3], 5, 2, -1.0, -3.1)),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_mul.onnx"),
            Prop::Built(|| bad_at(vec![-1.0; 3], vec![1.0; 3], 5, 2, -1.0, -2.9)),
            Sat,
            Sat,
            Unknown,
        ),
        // ops_softmax: y = softmax(relu(x)); class 0 wins while relu(x0) > relu(x1), relu(x2):
        // decided on the softmax's input by every engine, SMT included.
        row(
            f("tests/fixtures/ops_softmax.onnx"),
            Prop::Built(|| Property::robustness(vec![0.5, 0.0, 0.0], vec![1.0, 0.4, 0.4], 0, 3)),
            Unsat,
            Unsat,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_softmax.onnx"),
            Prop::Built(|| Property::robustness(vec![0.5, 0.0, 0.0], vec![1.0, 0.6, 0.4], 0, 3)),
            Sat,
            Sat,
            Sat,
        ),
        // y0 = e^{r0}/(e^{r0} + 2) with r0 ∈ [2, 3], r1 = r2 = 0: at most e³/(e³ + 2) = 0.9094, a
        // bound on the softmax itself (no exact encoding for SMT).
        row(
            f("tests/fixtures/ops_softmax.onnx"),
            Prop::Built(|| {
                bad_at(
                    vec![2.0, -1.0, -1.0],
                    vec![3.0, 0.0, 0.0],
                    3,
                    0,
                    -1.0,
                    -0.92,
                )
            }),
            Unsat,
            Unknown,
            Unknown,
        ),
        row(
            f("tests/fixtures/ops_softmax.onnx"),
            Prop::Built(|| bad_at(vec![2.0, -1.0, -1.0], vec![3.0, 0.0, 0.0], 3, 0, -1.0, -0.9)),
            Sat,
            Unknown,
            Sat,
        ),
        // The bump lies between DLV's grid points, and a sigmoid network has no ReLU layer to
        // search: DLV says unknown on a sat property.
        row(
            Net::Built(sigmoid_bump),
            Prop::Built(bump_robustness),
            Sat,
            Unknown,
            Unknown,
        ),
    ]
}

/// Every engine of `verify`, with the column of the table it must match.
fn engines() -> Vec<(&'static str, Engine)> {
    let bab = |m| Engine::Bab(m);
    vec![
        ("interval", bab(Method::Interval)),
        ("dual", bab(Method::Dual)),
        ("crown", bab(Method::Crown)),
        ("alpha", bab(Method::Alpha)),
        ("lp", bab(Method::Lp)),
        ("input-split", Engine::InputSplit),
        ("auto", Engine::Auto),
        ("relusplit", Engine::ReluSplit),
        ("smt", Engine::Smt),
        ("dlv", Engine::Dlv),
    ]
}

fn load(row: &Row) -> (Network, Property, String) {
    let net = match row.net {
        Net::File(p) => load_network(&root().join(p), Default::default()).unwrap(),
        Net::Built(f) => f(),
    };
    let (prop, name) = match row.prop {
        Prop::File(p) => (parse_file(&root().join(p)).unwrap(), p.to_string()),
        Prop::Built(f) => (f(), "(built)".to_string()),
    };
    prop.check_fits(&net).unwrap();
    let name = match row.net {
        Net::File(p) => format!("{p} {name}"),
        Net::Built(_) => format!("(built net) {name}"),
    };
    (net, prop, name)
}

#[test]
fn every_engine_meets_the_known_answers() {
    let mut failures = Vec::new();
    for (k, row) in table().iter().enumerate() {
        let (net, prop, name) = load(row);
        for (engine_name, engine) in engines() {
            let expected = match engine {
                Engine::Bab(_) | Engine::InputSplit | Engine::Auto | Engine::ReluSplit => row.bab,
                Engine::Smt => row.smt,
                Engine::Dlv => row.dlv,
            };
            let opts = Options {
                engine,
                deadline: within(Duration::from_secs(20)),
                ..Options::default()
            };
            let v = verify(&net, &prop, &opts);
            let got = match &v {
                Verdict::Sat(cex) => {
                    assert!(
                        confirm(&net, &prop, &cex.input).is_some(),
                        "row {k} {name} {engine_name}: sat does not replay: {cex:?}"
                    );
                    Sat
                }
                Verdict::Unsat => Unsat,
                Verdict::Unknown(_) | Verdict::Timeout => Unknown,
            };
            if got != expected {
                failures.push(format!(
                    "row {k} {name} {engine_name}: expected {expected:?}, got {v:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
