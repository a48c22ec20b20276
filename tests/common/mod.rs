//! Helpers shared by the integration tests: small networks built directly in the IR.
#![allow(dead_code)]

use certus::attack::Rng;
use certus::deadline::Deadline;
use certus::ir::{Affine, Conv2d, Network, Node, NodeId, Op, ScaleShift};
use certus::spec::Property;
use ndarray::{Array1, Array2, Array4};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared folder: `$CERTUS_SHARED` when set (e.g. for a worktree elsewhere), else
/// `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    std::env::var_os("CERTUS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"))
}

/// The shared VNN-COMP benchmarks (`shared()/benchmarks`), when they exist. When they do not,
/// says that the calling test is *skipped*, on the real stderr (not the captured one, so that
/// `cargo test` shows it even for a passing test), and returns `None`.
pub fn shared_benchmarks() -> Option<PathBuf> {
    let p = shared().join("benchmarks");
    if p.is_dir() {
        return Some(p);
    }
    skipped(&format!("{} not found", p.display()));
    None
}

/// Prints `skipped: TEST: why` on the process's stderr, past the test harness's capture.
pub fn skipped(why: &str) {
    use std::io::Write;
    let t = std::thread::current();
    let test = t.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// A deadline `d` from now.
pub fn within(d: Duration) -> Deadline {
    Deadline::after(d)
}

/// One layer for [`mlp`]: weight rows, bias, and whether a ReLU follows.
pub type Layer = (Vec<Vec<f64>>, Vec<f64>, bool);

/// A chain of layers: each `(W, b, relu)` is an affine layer, followed by a ReLU when `relu`.
pub fn mlp(n_in: usize, layers: &[Layer]) -> Network {
    mlp_with(n_in, layers, Op::Relu)
}

/// [`mlp`] with another activation: each `(W, b, true)` is followed by `act`.
pub fn mlp_with(n_in: usize, layers: &[Layer], act: Op) -> Network {
    let mut nodes = vec![Node {
        name: "x".into(),
        op: Op::Input,
        inputs: vec![],
        shape: vec![n_in],
    }];
    for (k, (w, b, relu)) in layers.iter().enumerate() {
        let rows = w.len();
        let cols = w[0].len();
        let weight = Array2::from_shape_vec((rows, cols), w.concat()).unwrap();
        let bias = Array1::from_vec(b.clone());
        let inputs = vec![NodeId(nodes.len() - 1)];
        nodes.push(Node {
            name: format!("fc{k}"),
            op: Op::Affine(Affine { weight, bias }),
            inputs,
            shape: vec![rows],
        });
        if *relu {
            let inputs = vec![NodeId(nodes.len() - 1)];
            nodes.push(Node {
                name: format!("act{k}"),
                op: act.clone(),
                inputs,
                shape: vec![rows],
            });
        }
    }
    Network::new(nodes).unwrap()
}

/// `y = relu(x0 + x1) + relu(x0 − x1)`: over `[0,1]²` the exact range is `[0, 2]`, interval
/// bounds give `[0, 3]` (hidden bounds `[0,2]` and `[0,1]`).
pub fn vee() -> Network {
    mlp(
        2,
        &[
            (vec![vec![1.0, 1.0], vec![1.0, -1.0]], vec![0.0, 0.0], true),
            (vec![vec![1.0, 1.0]], vec![0.0], false),
        ],
    )
}

/// A small random image network like oval21's: input `[2, 6, 6]`, a 3×3 convolution to 4
/// channels with stride 2 and padding 1 (`[4, 3, 3]`), ReLU, a 2×2 convolution to 3 channels
/// with dilation 1 and one-sided padding (`[3, 3, 3]`), ReLU, flatten, an affine layer of 5,
/// ReLU, and 2 outputs (weights in [−1, 1], biases in [−½, ½]).
#[allow(dead_code)]
pub fn conv_net(rng: &mut Rng) -> Network {
    let mut b = Build(Vec::new());
    b.push("x".into(), Op::Input, &[], vec![2, 6, 6]);
    let mut conv =
        |b: &mut Build, x: usize, co: usize, geo: ([usize; 3], usize, [usize; 4], usize)| {
            let (chw, k, pads, stride) = geo;
            let w = Array4::from_shape_fn((co, chw[0], k, k), |_| rng.uniform() * 2.0 - 1.0);
            let bias = Array1::from_shape_fn(co, |_| rng.uniform() - 0.5);
            let cv = Conv2d::new(w, bias, [stride; 2], pads, [1, 1], chw).expect("the kernel fits");
            let shape = cv.out_chw.to_vec();
            let c = b.push(format!("conv{x}"), Op::Conv(cv), &[x], shape.clone());
            b.push(format!("relu{x}"), Op::Relu, &[c], shape)
        };
    let r1 = conv(&mut b, 0, 4, ([2, 6, 6], 3, [1, 1, 1, 1], 2));
    let r2 = conv(&mut b, r1, 3, ([4, 3, 3], 2, [0, 0, 1, 1], 1));
    let f = b.push("flat".into(), Op::Reshape, &[r2], vec![27]);
    let a = b.affine(rng, "fc".into(), f, 27, 5);
    let r3 = b.push("relu_fc".into(), Op::Relu, &[a], vec![5]);
    b.affine(rng, "out".into(), r3, 5, 2);
    Network::new(b.0).expect("a valid network")
}

/// Nodes under construction, for [`random_net`].
struct Build(Vec<Node>);

impl Build {
    /// Appends a node, returning its id.
    fn push(&mut self, name: String, op: Op, inputs: &[usize], shape: Vec<usize>) -> usize {
        let inputs = inputs.iter().map(|&j| NodeId(j)).collect();
        self.0.push(Node {
            name,
            op,
            inputs,
            shape,
        });
        self.0.len() - 1
    }

    /// An affine layer `cols → rows` on node `x` (weights in [−1, 1], biases in [−½, ½]).
    fn affine(&mut self, rng: &mut Rng, name: String, x: usize, cols: usize, rows: usize) -> usize {
        let weight = Array2::from_shape_fn((rows, cols), |_| rng.uniform() * 2.0 - 1.0);
        let bias = Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5);
        self.push(name, Op::Affine(Affine { weight, bias }), &[x], vec![rows])
    }
}

/// A random network `block, act, block, act, ..., Affine` (weights in [−1, 1], biases in
/// [−½, ½]); hidden layer `k` of `hidden[k]` neurons is followed by `acts[k % acts.len()]`.
/// Each block is drawn from the op shapes the engines must handle:
/// - an `Affine` (most often), or an `Affine` then a `ScaleShift`;
/// - a `Reshape` to `[1, 1, w]`, a 1×2 `Conv` with two channels, then an `Affine`;
/// - an `Add` of two `Affine` branches, or of one and the block's input (an identity shortcut
///   when the widths agree);
/// - an `Add` of an `Affine` and the activation of that same `Affine` (a node feeding an
///   activation and another node);
/// - a `Concat` of two `Affine` branches;
/// - an `Affine` then a `Gather` that repeats some neurons and drops others.
pub fn random_net(
    rng: &mut Rng,
    n_in: usize,
    hidden: &[usize],
    n_out: usize,
    acts: &[Op],
) -> Network {
    let mut b = Build(Vec::new());
    b.push("x".into(), Op::Input, &[], vec![n_in]);
    let (mut cur, mut width) = (0, n_in);
    for (k, &rows) in hidden.iter().enumerate() {
        let act = acts[k % acts.len()].clone();
        let pre = match (rng.uniform() * 9.0) as usize {
            0 => {
                let a = b.affine(rng, format!("fc{k}"), cur, width, rows);
                let scale = Array1::from_shape_fn(rows, |_| rng.uniform() * 3.0 - 1.5);
                let shift = Array1::from_shape_fn(rows, |_| rng.uniform() - 0.5);
                let op = Op::ScaleShift(ScaleShift { scale, shift });
                b.push(format!("scale{k}"), op, &[a], vec![rows])
            }
            1 => {
                let r = b.push(format!("view{k}"), Op::Reshape, &[cur], vec![1, 1, width]);
                let kw = width.min(2);
                let weight = Array4::from_shape_fn((2, 1, 1, kw), |_| rng.uniform() * 2.0 - 1.0);
                let bias = Array1::from_shape_fn(2, |_| rng.uniform() - 0.5);
                let conv = Conv2d::new(
                    weight,
                    bias,
                    [1, 1],
                    [0, 0, 0, kw - 1],
                    [1, 1],
                    [1, 1, width],
                )
                .expect("a 1×kw kernel fits");
                let c = b.push(format!("conv{k}"), Op::Conv(conv), &[r], vec![2, 1, width]);
                b.affine(rng, format!("fc{k}"), c, 2 * width, rows)
            }
            2 => {
                let a = b.affine(rng, format!("fc{k}a"), cur, width, rows);
                let other = if width == rows && rng.uniform() < 0.5 {
                    cur
                } else {
                    b.affine(rng, format!("fc{k}b"), cur, width, rows)
                };
                b.push(format!("add{k}"), Op::Add, &[a, other], vec![rows])
            }
            3 => {
                let z = b.affine(rng, format!("fc{k}"), cur, width, rows);
                let r = b.push(format!("inner{k}"), act.clone(), &[z], vec![rows]);
                b.push(format!("add{k}"), Op::Add, &[r, z], vec![rows])
            }
            4 if rows >= 2 => {
                let r1 = rows / 2;
                let a = b.affine(rng, format!("fc{k}a"), cur, width, r1);
                let c = b.affine(rng, format!("fc{k}b"), cur, width, rows - r1);
                b.push(format!("cat{k}"), Op::Concat, &[a, c], vec![rows])
            }
            5 => {
                let a = b.affine(rng, format!("fc{k}"), cur, width, rows);
                let index = (0..rows)
                    .map(|_| ((rng.uniform() * rows as f64) as usize).min(rows - 1))
                    .collect();
                b.push(format!("gather{k}"), Op::Gather { index }, &[a], vec![rows])
            }
            _ => b.affine(rng, format!("fc{k}"), cur, width, rows),
        };
        cur = b.push(format!("act{k}"), act, &[pre], vec![rows]);
        width = rows;
    }
    b.affine(rng, format!("fc{}", hidden.len()), cur, width, n_out);
    Network::new(b.0).unwrap()
}

/// Runs the `certus` binary from the crate root.
pub fn certus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certus"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run certus")
}

/// Random layers for [`mlp`]: `hidden` ReLU layers then a linear output layer (weights in
/// [−1, 1], biases in [−½, ½], as [`random_net`]).
pub fn random_layers(rng: &mut Rng, n_in: usize, hidden: &[usize], n_out: usize) -> Vec<Layer> {
    let mut width = n_in;
    let widths: Vec<usize> = hidden.iter().copied().chain([n_out]).collect();
    widths
        .iter()
        .enumerate()
        .map(|(k, &rows)| {
            let w = (0..rows)
                .map(|_| (0..width).map(|_| rng.uniform() * 2.0 - 1.0).collect())
                .collect();
            let b = (0..rows).map(|_| rng.uniform() - 0.5).collect();
            width = rows;
            (w, b, k < hidden.len())
        })
        .collect()
}

/// The `.nnet` text of `layers` (ReLU after every layer but the last, as the format says; the
/// normalisation header is the identity).
pub fn nnet_text(n_in: usize, layers: &[Layer]) -> String {
    let sizes: Vec<usize> = std::iter::once(n_in)
        .chain(layers.iter().map(|l| l.1.len()))
        .collect();
    let row = |v: &[f64]| v.iter().map(|x| format!("{x},")).collect::<String>();
    let mut s = String::from("// certus test network\n");
    s += &format!(
        "{},{},{},{},\n",
        layers.len(),
        n_in,
        sizes[sizes.len() - 1],
        sizes.iter().max().unwrap()
    );
    s += &row(&sizes.iter().map(|&v| v as f64).collect::<Vec<_>>());
    s += "\n0,\n";
    s += &format!("{}\n{}\n", row(&vec![-1e9; n_in]), row(&vec![1e9; n_in]));
    s += &format!(
        "{}\n{}\n",
        row(&vec![0.0; n_in + 1]),
        row(&vec![1.0; n_in + 1])
    );
    for (w, b, _) in layers {
        for r in w {
            s += &row(r);
            s += "\n";
        }
        for v in b {
            s += &format!("{v},\n");
        }
    }
    s
}

/// VNN-LIB text for the bad case `Y_0 >= c` over the box `[lower, upper]`.
pub fn vnnlib_above(lower: &[f64], upper: &[f64], c: f64) -> String {
    let mut s = String::new();
    for i in 0..lower.len() {
        s += &format!("(declare-const X_{i} Real)\n");
    }
    s += "(declare-const Y_0 Real)\n";
    for i in 0..lower.len() {
        s += &format!(
            "(assert (>= X_{i} {:?}))\n(assert (<= X_{i} {:?}))\n",
            lower[i], upper[i]
        );
    }
    s += &format!("(assert (>= Y_0 {c:?}))\n");
    s
}

/// An instance no engine decides in seconds: a random ReLU chain of 20 inputs and 6 × 60
/// hidden units (360 ReLUs, most unstable over the box `[−1, 1]^20`), and the bad case
/// `y >= c` with `c` a tenth of the way from the best output gradient ascent reaches to
/// CROWN's upper bound: above what the attacks find (so no quick `sat`), far below what one
/// bound pass proves (so no quick `unsat`). Its answer is `unsat`, which the ReLU-split search
/// of December 2026 proves in about 150 s on a loaded 2-core machine; at a quarter of the way
/// it proved it in under 1 s quiet, so a deadline test could get `unsat` instead of `timeout`.
/// Tests only use it to check deadlines and limits. Returns the layers, the box and `c`.
pub fn hard_instance() -> (Vec<Layer>, Vec<f64>, Vec<f64>, f64) {
    use certus::attack::{pgd_goal, Goal, PgdConfig};
    use certus::bounds::{output_bounds, Method};
    use certus::spec::{Disjunct, LinearConstraint, Region};
    let n = 20;
    let mut rng = Rng::new(2024);
    let layers = random_layers(&mut rng, n, &[60; 6], 1);
    let net = mlp(n, &layers);
    let (lower, upper) = (vec![-1.0; n], vec![1.0; n]);
    // Gradient ascent on y (descent on the margin `−y` of `−y <= 0`; `found` says no to every
    // hit so the runs go on), from the centre and 20 random starts.
    let region = Region {
        lower: lower.clone(),
        upper: upper.clone(),
        disjuncts: vec![Disjunct {
            constraints: vec![LinearConstraint {
                coeffs: vec![(0, -1.0)],
                rhs: 0.0,
            }],
        }],
    };
    let cfg = PgdConfig::default();
    let mut best = f64::NEG_INFINITY;
    for start in 0..=20 {
        let mut goal = Goal::region(&region);
        if start > 0 {
            goal = goal.with_start((0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect());
        }
        let m = pgd_goal(&net, &goal, &cfg, Deadline::NONE, &mut |_| false);
        best = best.max(-m);
    }
    let top = output_bounds(&net, &lower, &upper, Method::Crown).upper[0];
    assert!(top > best, "CROWN {top} below an attained {best}");
    (layers, lower, upper, best + 0.1 * (top - best))
}

/// A fixed pseudo-random ReLU network `n_in → hidden → hidden → 4` (weights in [−1, 1], biases
/// in [−0.1, 0.1]).
pub fn relu_net(seed: u64, n_in: usize, hidden: usize) -> Network {
    let mut rng = Rng::new(seed);
    let mut layer = |rows: usize, cols: usize, relu: bool| -> Layer {
        let w = (0..rows)
            .map(|_| (0..cols).map(|_| 2.0 * rng.uniform() - 1.0).collect())
            .collect();
        let b = (0..rows).map(|_| 0.2 * rng.uniform() - 0.1).collect();
        (w, b, relu)
    };
    let layers = [
        layer(hidden, n_in, true),
        layer(hidden, hidden, true),
        layer(4, hidden, false),
    ];
    mlp(n_in, &layers)
}

/// Radius samples in [0, 1] labelled with the network's own prediction (so every radius is
/// searched).
pub fn self_labelled(net: &Network, count: usize, seed: u64) -> Vec<certus::radius::Sample> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|index| {
            let pixels: Vec<f64> = (0..net.input_len()).map(|_| rng.uniform()).collect();
            let y = net.eval_f64(&pixels);
            let label = (0..y.len()).fold(0, |b, j| if y[j] > y[b] { j } else { b });
            certus::radius::Sample {
                index,
                label,
                pixels,
            }
        })
        .collect()
}

/// A random 3-input network with two layers of 6 ReLUs (`seed`) and the bad case
/// `y0 − y1 <= m − d` over `[−1, 1]^3`, `m` the least value of `y0 − y1` on 20000 samples: the
/// search decides these (unsat when `d` is large enough) in tens to hundreds of domains.
pub fn margin_instance(seed: u64, d: f64) -> (Network, Property) {
    let mut rng = Rng::new(seed);
    let layers = random_layers(&mut rng, 3, &[6, 6], 2);
    let net = mlp(3, &layers);
    let mut m = f64::INFINITY;
    for _ in 0..20000 {
        let x: Vec<f64> = (0..3).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        let y = net.eval_f64(&x);
        m = m.min(y[0] - y[1]);
    }
    let mut prop = Property::robustness(vec![-1.0; 3], vec![1.0; 3], 0, 2);
    prop.regions[0].disjuncts[0].constraints[0].rhs = m - d;
    (net, prop)
}
