//! Optimised lower slopes ("α"): any `α ∈ [0, 1]` for the lower ReLU line `relu(z) >= α z` gives
//! a valid dual point, so each objective row may pick its own slopes to maximise its bound.
//!
//! The bound of row `r` is concave piecewise linear in the slopes; its (super)gradient with respect
//! to `α[r, j]` at a ReLU node is `λ[r, j] · ẑ[r, j]` when `λ[r, j] >= 0` (else 0), where `λ` is the
//! backward pass's row arriving at the ReLU and `ẑ` is the neuron's pre-activation in the relaxed
//! network (every activation replaced by the line the pass chose) evaluated at the input corner
//! that minimises the row (`x_j = l_j` where `λ_input >= 0`, else `u_j`). We ascend with signed
//! steps of decaying size, projected onto [0, 1], and keep each row's best bound: every iterate is a
//! sound bound, so their maximum is too.
//!
//! [`all_bounds`] applies the same optimisation to every intermediate bound, layer by layer (each
//! pre-activation neuron's lower and upper bound is its own objective row with its own slopes),
//! so later layers are relaxed over tighter bounds: the greedy, layer-by-layer form of α-CROWN.

use super::dual::{par_rows_dot, DualNetwork, Pass, Real, RowSplits, Scales, Slopes};
use super::relax::{
    mul_planes, node_curve, relu_phase, softmax_lines, ReluPhase, SShape, Tangents,
};
use super::Bounds;
use crate::deadline::Deadline;
use crate::ir::{NodeId, Op};
use ndarray::{Array2, ArrayView1, Axis};

/// Settings of the slope optimisation.
#[derive(Clone, Debug)]
pub struct AlphaConfig {
    /// Gradient steps.
    pub iterations: usize,
    /// First step size (slopes live in [0, 1]); decays linearly to a tenth of it.
    pub step: f64,
    /// Gradient steps for each intermediate layer's bounds in [`all_bounds`] (0: keep the
    /// adaptive-slope intermediate bounds).
    pub intermediate_iterations: usize,
    /// Optimise the tangent points of sigmoid and tanh lines too ([`crate::bounds::relax::Tangents`]);
    /// off keeps CROWN's points.
    pub tangents: bool,
}

impl Default for AlphaConfig {
    fn default() -> Self {
        AlphaConfig {
            iterations: 30,
            step: 0.3,
            intermediate_iterations: 6,
            tangents: true,
        }
    }
}

/// Every node's bounds with optimised slopes for each intermediate bound (see the module doc);
/// with `cfg.intermediate_iterations == 0`, the adaptive-slope bounds. Past `deadline` the
/// chunk of rows in progress gets its Wong–Kolter and adaptive-slope bounds only (see
/// [`optimise_at`]) and the neurons not yet reached keep their interval bounds (see
/// [`DualNetwork::all_bounds_by`]).
pub fn all_bounds(
    dual: &DualNetwork,
    lower: &[f64],
    upper: &[f64],
    cfg: &AlphaConfig,
    deadline: Deadline,
) -> Vec<Bounds> {
    if cfg.intermediate_iterations == 0 {
        return dual.all_bounds(lower, upper, Slopes::Adaptive, deadline);
    }
    let inner = AlphaConfig {
        iterations: cfg.intermediate_iterations,
        ..cfg.clone()
    };
    dual.all_bounds_by(
        lower,
        upper,
        &|earlier, k, c| optimise_at(dual, earlier, k, c, &inner, deadline),
        deadline,
    )
}

/// Sound lower bounds of the rows of `c` applied to the output, maximised over the slopes.
/// `bounds` are every node's bounds (from [`DualNetwork::all_bounds`] or [`all_bounds`]).
pub fn optimise(
    dual: &DualNetwork,
    bounds: &[Bounds],
    c: &Array2<f64>,
    cfg: &AlphaConfig,
    deadline: Deadline,
) -> Vec<f64> {
    optimise_at(
        dual,
        bounds,
        dual.network().nodes().len() - 1,
        c,
        cfg,
        deadline,
    )
}

/// [`optimise`] for the rows of `c` applied to node `k`; `bounds` holds (at least) the bounds
/// of every node before `k`. The iterations stop at `deadline`: the result is then the best
/// bound so far, at least the Wong–Kolter and the adaptive-slope (first iterate) bounds, which
/// are always computed.
pub fn optimise_at(
    dual: &DualNetwork,
    bounds: &[Bounds],
    k: usize,
    c: &Array2<f64>,
    cfg: &AlphaConfig,
    deadline: Deadline,
) -> Vec<f64> {
    // f64 passes: f32 ones are ~25% faster on mnistfc 256x6 but their error pad costs ~3% of
    // the optimised width (2.11 against 2.05 at equal iterations), more than the time buys.
    optimise_in::<f64>(dual, bounds, k, c, cfg, deadline)
}

/// [`optimise_at`] with the passes (and the relaxed forward evaluations) in `T`.
fn optimise_in<T: Real>(
    dual: &DualNetwork,
    bounds: &[Bounds],
    k: usize,
    c: &Array2<f64>,
    cfg: &AlphaConfig,
    deadline: Deadline,
) -> Vec<f64> {
    let net = dual.network();
    let scales = Scales::new(net);
    let nodes = &net.nodes()[..=k];
    // Only node k's ancestors take part (the pass never reaches the others).
    let anc = net.ancestors(NodeId(k));
    let m = c.nrows();

    // Start from the adaptive (CROWN) choice (the first iterate), with the Wong–Kolter bound
    // as a floor.
    let mut best = dual
        .backward_with::<T>(bounds, &scales, k, c.view(), Slopes::WongKolter)
        .lower;
    let mut alphas: Vec<Option<Array2<f64>>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let sshape = cfg.tangents && SShape::of(&n.op).is_some();
            ((n.op == Op::Relu || sshape) && anc[i]).then(|| {
                let j = n.input().0;
                let (lo, hi) = (&bounds[j].lower, &bounds[j].upper);
                let row: Vec<f64> = (0..nodes[i].shape.iter().product())
                    .map(|col| match sshape {
                        // The tangent points of `SShape::lines`.
                        true => SShape::default_alpha(lo[col], hi[col]),
                        false if hi[col] >= -lo[col] => 1.0,
                        false => 0.0,
                    })
                    .collect();
                let mut a = Array2::zeros((m, row.len()));
                a.rows_mut()
                    .into_iter()
                    .for_each(|mut r| r.assign(&ArrayView1::from(&row)));
                a
            })
        })
        .collect();
    for it in 0..cfg.iterations {
        let pass: Pass<T> =
            dual.backward_with(bounds, &scales, k, c.view(), Slopes::PerRow(&alphas));
        for (b, v) in best.iter_mut().zip(&pass.lower) {
            *b = b.max(*v);
        }
        // No step after the last pass, nor past the deadline (the first iterate, the adaptive
        // slopes, is always taken).
        if it + 1 == cfg.iterations || deadline.expired() {
            break;
        }
        let z = relaxed_forward(dual, bounds, k, &pass, &alphas, &anc, None);
        let step = cfg.step * (1.0 - 0.9 * it as f64 / cfg.iterations.max(1) as f64);
        for (i, a) in alphas.iter_mut().enumerate() {
            let (Some(a), Some(lam)) = (a.as_mut(), pass.act_lambda[i].as_ref()) else {
                continue;
            };
            let j = nodes[i].input().0;
            let zpre = z[j].as_ref().expect("pre-activation values");
            if let Some(sh) = SShape::of(&nodes[i].op) {
                tangent_steps(sh, &bounds[j], a, lam, zpre, step);
                continue;
            }
            ndarray::Zip::from(a)
                .and(lam)
                .and(zpre)
                .for_each(|a, &l, &zv| {
                    let g = if l >= T::zero() { l * zv } else { T::zero() };
                    if g > T::zero() {
                        *a = (*a + step).min(1.0);
                    } else if g < T::zero() {
                        *a = (*a - step).max(0.0);
                    }
                });
        }
    }
    best
}

/// Every node's value (one row per objective) in the relaxed network of `pass`, evaluated at
/// each row's minimising input corner, in `T` (these values only steer the slopes, so their
/// rounding does not matter), for the ancestors `anc` of node `k` before it. With `splits`
/// (the pass's own), each row's split neurons are relaxed over their restricted bounds.
pub(crate) fn relaxed_forward<T: Real>(
    dual: &DualNetwork,
    bounds: &[Bounds],
    k: usize,
    pass: &Pass<T>,
    alphas: &[Option<Array2<f64>>],
    anc: &[bool],
    splits: Option<RowSplits>,
) -> Vec<Option<Array2<T>>> {
    let nodes = &dual.network().nodes()[..k];
    let mut vals: Vec<Option<Array2<T>>> = vec![None; nodes.len()];
    let lam_in = pass.input_lambda.as_standard_layout();
    // Boxes widened by one ulp turn 0 into a subnormal, which makes every product with it
    // ~100x slower; these values only steer the gradient, so flush them.
    let flush = |v: f64| T::from_f64(if v.abs() < f64::MIN_POSITIVE { 0.0 } else { v });
    let lo: Vec<T> = bounds[0].lower.iter().map(|&v| flush(v)).collect();
    let hi: Vec<T> = bounds[0].upper.iter().map(|&v| flush(v)).collect();
    let mut x0 = Vec::with_capacity(lam_in.len());
    for row in lam_in.rows() {
        let row = row.as_slice().expect("standard layout");
        x0.extend(
            (row.iter().zip(lo.iter().zip(&hi)))
                .map(|(&l, (&a, &b))| if l >= T::zero() { a } else { b }),
        );
    }
    vals[0] = Some(Array2::from_shape_vec(lam_in.raw_dim(), x0).expect("one value per λ"));
    for (i, node) in nodes.iter().enumerate().skip(1) {
        if !anc[i] {
            continue;
        }
        let val = |j: NodeId| vals[j.0].as_ref().expect("inputs computed first");
        let j = node.inputs[0].0;
        let x = val(node.inputs[0]);
        let y = match &node.op {
            Op::Input => unreachable!("only node 0 is an input"),
            Op::Affine(a) => {
                let w = T::weight(dual, i, &a.weight);
                par_rows_dot(x.view(), w.t()) + &a.bias.mapv(T::from_f64)
            }
            Op::Conv(cv) => match dual.conv_rows(i) {
                Some(cr) => cr.forward_rows(x.view()),
                None => {
                    let mut y = Array2::zeros((x.nrows(), cv.out_len()));
                    // A product may leave `x` column-major (one-column operands); rows must be
                    // slices.
                    for (r, row) in x.as_standard_layout().axis_iter(Axis(0)).enumerate() {
                        let v = cv.forward::<T>(row.as_slice().expect("contiguous"));
                        y.row_mut(r).assign(&ArrayView1::from(&v));
                    }
                    y
                }
            },
            Op::ScaleShift(s) => x * &s.scale.mapv(T::from_f64) + &s.shift.mapv(T::from_f64),
            Op::Reshape => x.clone(),
            Op::Relu => {
                let lam = pass.act_lambda[i].as_ref().expect("λ at every activation");
                let (lo, hi) = (&bounds[j].lower, &bounds[j].upper);
                let mut phases: Vec<(ReluPhase, f64)> = (0..x.ncols())
                    .map(|col| (relu_phase(lo[col], hi[col]), lo[col]))
                    .collect();
                let mut y = x.clone();
                let mut patched = Vec::new();
                for (r, (mut yr, lr)) in y.rows_mut().into_iter().zip(lam.rows()).enumerate() {
                    for sp in splits.iter() {
                        for (s, _) in sp.at(r, i) {
                            let col = s.neuron as usize;
                            let (l, u) = sp.restrict(r, i, s.neuron, lo[col], hi[col]);
                            phases[col] = (relu_phase(l, u), l);
                            patched.push(col);
                        }
                    }
                    let ar = alphas[i].as_ref().map(|a| a.row(r));
                    for (col, (y, &l)) in yr.iter_mut().zip(lr.iter()).enumerate() {
                        let v = y.to_f64();
                        *y = T::from_f64(match phases[col] {
                            (ReluPhase::Active, _) => v,
                            (ReluPhase::Inactive, _) => 0.0,
                            (ReluPhase::Unstable { upper_slope: s }, _) if l >= T::zero() => {
                                ar.map_or(s.min(1.0), |a| a[col].clamp(0.0, 1.0)) * v
                            }
                            (ReluPhase::Unstable { upper_slope: s }, low) => s * (v - low),
                        });
                    }
                    for col in patched.drain(..) {
                        phases[col] = (relu_phase(lo[col], hi[col]), lo[col]);
                    }
                }
                y
            }
            // Each element on the line the pass chose: the lower one where λ >= 0.
            Op::Sigmoid | Op::Tanh | Op::Sign | Op::Square => {
                let f = node_curve(dual.network(), i).expect("a curve op");
                let lam = pass.act_lambda[i].as_ref().expect("λ at every activation");
                let (lo, hi) = (&bounds[j].lower, &bounds[j].upper);
                let lines: Vec<_> = (0..x.ncols()).map(|col| f(col, lo[col], hi[col])).collect();
                // Per-row tangent parameters of sigmoid and tanh (as the pass used them).
                let tangent = SShape::of(&node.op).zip(alphas[i].as_ref()).map(|(sh, a)| {
                    let t: Vec<_> = (0..x.ncols()).map(|c| sh.tangents(lo[c], hi[c])).collect();
                    (sh, a, t)
                });
                let mut row_lines = lines.clone();
                let mut y = x.clone();
                for (r, (mut yr, lr)) in y.rows_mut().into_iter().zip(lam.rows()).enumerate() {
                    let mut patched = Vec::new();
                    if let Some((sh, a, t)) = &tangent {
                        for (col, ln) in row_lines.iter_mut().enumerate() {
                            *ln = sh.lines_at(lo[col], hi[col], &t[col], a[[r, col]]);
                            patched.push(col);
                        }
                    }
                    for sp in splits.iter() {
                        for (s, _) in sp.at(r, i) {
                            let col = s.neuron as usize;
                            let (l, u) = sp.restrict(r, i, s.neuron, lo[col], hi[col]);
                            row_lines[col] = match &tangent {
                                Some((sh, a, _)) => {
                                    sh.lines_at(l, u, &sh.tangents(l, u), a[[r, col]])
                                }
                                None => f(col, l, u),
                            };
                            patched.push(col);
                        }
                    }
                    for ((y, &l), ln) in yr.iter_mut().zip(lr.iter()).zip(&row_lines) {
                        let v = y.to_f64();
                        *y = T::from_f64(if l >= T::zero() {
                            ln.lo_a * v + ln.lo_b
                        } else {
                            ln.up_a * v + ln.up_b
                        });
                    }
                    for col in patched {
                        row_lines[col] = lines[col];
                    }
                }
                y
            }
            // The plane the pass chose: the lower one where λ >= 0.
            Op::Mul => {
                let k = node.inputs[1].0;
                let lam = pass.act_lambda[i].as_ref().expect("λ at every product");
                let planes: Vec<_> = (0..x.ncols())
                    .map(|e| {
                        let (a, b) = (&bounds[j], &bounds[k]);
                        mul_planes(a.lower[e], a.upper[e], b.lower[e], b.upper[e])
                    })
                    .collect();
                let mut y = x.clone();
                ndarray::Zip::indexed(&mut y)
                    .and(lam)
                    .and(val(node.inputs[1]))
                    .for_each(|(_, e), y, &l, &w| {
                        let (p, v, w) = (&planes[e], y.to_f64(), w.to_f64());
                        let c = if l >= T::zero() { p.lo_c } else { p.up_c };
                        *y = T::from_f64(p.a * v + p.b * w + c);
                    });
                y
            }
            // Each output on its line (the pass's shift of λ within a group is not followed:
            // these values only steer the slopes).
            Op::Softmax(sm) => {
                let lam = pass.act_lambda[i].as_ref().expect("λ at every softmax");
                let mut y = x.clone();
                for group in sm.groups(x.ncols()) {
                    let l: Vec<f64> = group.iter().map(|&e| bounds[j].lower[e]).collect();
                    let u: Vec<f64> = group.iter().map(|&e| bounds[j].upper[e]).collect();
                    let ln = softmax_lines(&l, &u);
                    for r in 0..x.nrows() {
                        for (k, &e) in group.iter().enumerate() {
                            let ax: f64 = (group.iter().enumerate())
                                .map(|(kk, &e2)| ln.slope[[k, kk]] * x[[r, e2]].to_f64())
                                .sum();
                            let c = if lam[[r, e]] >= T::zero() {
                                ln.lo_c[k]
                            } else {
                                ln.up_c[k]
                            };
                            y[[r, e]] = T::from_f64(ax + c);
                        }
                    }
                }
                y
            }
            Op::Add => {
                let mut y = x.clone();
                for &p in &node.inputs[1..] {
                    y.zip_mut_with(val(p), |a, &b| *a = *a + b);
                }
                y
            }
            Op::Concat => {
                let parts: Vec<_> = node.inputs.iter().map(|&p| val(p).view()).collect();
                ndarray::concatenate(Axis(1), &parts).expect("one row per objective in each")
            }
            Op::Gather { index } => x.select(Axis(1), index),
        };
        vals[i] = Some(y);
    }
    vals
}

/// One signed step on the tangent parameters `a` (rows × neurons) of an S-shape node whose input
/// has `bounds`: the row's bound moves with the touching point `t` of the line it uses by
/// `λ·f''(t)·(ẑ − t)` (the line `f(t) + f'(t)·(z − t)` at `ẑ`, differentiated in `t`), and `t`
/// with the parameter by the range's length `b − a`. Lines that are not tangents do not move.
fn tangent_steps<T: Real>(
    sh: SShape,
    bounds: &Bounds,
    a: &mut Array2<f64>,
    lam: &Array2<T>,
    zpre: &Array2<T>,
    step: f64,
) {
    let t: Vec<_> = (bounds.lower.iter().zip(&bounds.upper))
        .map(|(&l, &u)| sh.tangents(l, u))
        .collect();
    ndarray::Zip::indexed(a)
        .and(lam)
        .and(zpre)
        .for_each(|(_, col), a, &l, &zv| {
            let l = l.to_f64();
            let Some(range) = t[col].used(l >= 0.0) else {
                return;
            };
            let p = Tangents::point(range, *a);
            let g = l * sh.d2f(p) * (zv.to_f64() - p) * (range.1 - range.0);
            if g > 0.0 {
                *a = (*a + step).min(1.0);
            } else if g < 0.0 {
                *a = (*a - step).max(0.0);
            }
        });
}
