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

use super::dual::{par_rows_dot, DualNetwork, Pass, Slopes};
use super::relax::{relu_phase, ReluPhase, SShape};
use super::Bounds;
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
}

impl Default for AlphaConfig {
    fn default() -> Self {
        AlphaConfig {
            iterations: 15,
            step: 0.3,
            intermediate_iterations: 6,
        }
    }
}

/// Every node's bounds with optimised slopes for each intermediate bound (see the module doc);
/// with `cfg.intermediate_iterations == 0`, the adaptive-slope bounds.
pub fn all_bounds(
    dual: &DualNetwork,
    lower: &[f64],
    upper: &[f64],
    cfg: &AlphaConfig,
) -> Vec<Bounds> {
    if cfg.intermediate_iterations == 0 {
        return dual.all_bounds(lower, upper, Slopes::Adaptive);
    }
    let inner = AlphaConfig {
        iterations: cfg.intermediate_iterations,
        ..cfg.clone()
    };
    dual.all_bounds_by(lower, upper, &|earlier, k, c| {
        optimise_at(dual, earlier, k, c, &inner)
    })
}

/// Sound lower bounds of the rows of `c` applied to the output, maximised over the slopes.
/// `bounds` are every node's bounds (from [`DualNetwork::all_bounds`] or [`all_bounds`]).
pub fn optimise(
    dual: &DualNetwork,
    bounds: &[Bounds],
    c: &Array2<f64>,
    cfg: &AlphaConfig,
) -> Vec<f64> {
    optimise_at(dual, bounds, dual.network().nodes().len() - 1, c, cfg)
}

/// [`optimise`] for the rows of `c` applied to node `k`; `bounds` holds (at least) the bounds
/// of every node before `k`.
pub fn optimise_at(
    dual: &DualNetwork,
    bounds: &[Bounds],
    k: usize,
    c: &Array2<f64>,
    cfg: &AlphaConfig,
) -> Vec<f64> {
    let net = dual.network();
    let nodes = &net.nodes()[..=k];
    let m = c.nrows();

    // Start from the adaptive (CROWN) choice (the first iterate), with the Wong–Kolter bound
    // as a floor.
    let mut best = dual
        .backward(bounds, k, c.clone(), Slopes::WongKolter)
        .lower;
    let mut alphas: Vec<Option<Array2<f64>>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let j = n.input?.0;
            (n.op == Op::Relu).then(|| {
                let row: Vec<f64> = (0..nodes[i].shape.iter().product())
                    .map(|col| {
                        if bounds[j].upper[col] >= -bounds[j].lower[col] {
                            1.0
                        } else {
                            0.0
                        }
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
        let pass = dual.backward(bounds, k, c.clone(), Slopes::PerRow(&alphas));
        for (b, v) in best.iter_mut().zip(&pass.lower) {
            *b = b.max(*v);
        }
        let z = relaxed_forward(dual, bounds, k, &pass, &alphas);
        let step = cfg.step * (1.0 - 0.9 * it as f64 / cfg.iterations.max(1) as f64);
        for (i, a) in alphas.iter_mut().enumerate() {
            let (Some(a), Some(lam)) = (a.as_mut(), pass.act_lambda[i].as_ref()) else {
                continue;
            };
            let zpre = z[nodes[i].input.expect("relu has an input").0]
                .as_ref()
                .expect("pre-activation values");
            ndarray::Zip::from(a)
                .and(lam)
                .and(zpre)
                .for_each(|a, &l, &zv| {
                    let g = if l >= 0.0 { l * zv } else { 0.0 };
                    if g > 0.0 {
                        *a = (*a + step).min(1.0);
                    } else if g < 0.0 {
                        *a = (*a - step).max(0.0);
                    }
                });
        }
    }
    best
}

/// Every node's value (one row per objective) in the relaxed network of `pass`, evaluated at
/// each row's minimising input corner. Only the values feeding activations are kept.
fn relaxed_forward(
    dual: &DualNetwork,
    bounds: &[Bounds],
    k: usize,
    pass: &Pass,
    alphas: &[Option<Array2<f64>>],
) -> Vec<Option<Array2<f64>>> {
    let nodes = &dual.network().nodes()[..k];
    let mut vals: Vec<Option<Array2<f64>>> = vec![None; nodes.len()];
    let lam_in = &pass.input_lambda;
    let mut x0 = Array2::zeros(lam_in.raw_dim());
    ndarray::Zip::indexed(&mut x0)
        .and(lam_in)
        .for_each(|(_, j), x, &l| {
            let v = if l >= 0.0 {
                bounds[0].lower[j]
            } else {
                bounds[0].upper[j]
            };
            // Boxes widened by one ulp turn 0 into a subnormal, which makes every product
            // with it ~100x slower; these values only steer the gradient, so flush them.
            *x = if v.abs() < f64::MIN_POSITIVE { 0.0 } else { v };
        });
    vals[0] = Some(x0);
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let NodeId(j) = node.input.expect("non-input nodes have an input");
        let x = vals[j].as_ref().expect("inputs computed first");
        let y = match &node.op {
            Op::Input => unreachable!("only node 0 is an input"),
            Op::Affine(a) => par_rows_dot(x.view(), a.weight.t()) + &a.bias,
            Op::Conv(cv) => {
                let mut y = Array2::zeros((x.nrows(), cv.out_len()));
                for (r, row) in x.axis_iter(Axis(0)).enumerate() {
                    let v = cv.forward::<f64>(row.as_slice().expect("contiguous"));
                    y.row_mut(r).assign(&ArrayView1::from(&v));
                }
                y
            }
            Op::ScaleShift(s) => x * &s.scale + &s.shift,
            Op::Reshape => x.clone(),
            Op::Relu => {
                let lam = pass.act_lambda[i].as_ref().expect("λ at every activation");
                let phases: Vec<ReluPhase> = (0..x.ncols())
                    .map(|col| relu_phase(bounds[j].lower[col], bounds[j].upper[col]))
                    .collect();
                let mut y = x.clone();
                for (r, (mut yr, lr)) in y.rows_mut().into_iter().zip(lam.rows()).enumerate() {
                    let ar = alphas[i].as_ref().map(|a| a.row(r));
                    for (col, (y, &l)) in yr.iter_mut().zip(lr.iter()).enumerate() {
                        *y = match phases[col] {
                            ReluPhase::Active => *y,
                            ReluPhase::Inactive => 0.0,
                            ReluPhase::Unstable { upper_slope: s } if l >= 0.0 => {
                                ar.map_or(s.min(1.0), |a| a[col]) * *y
                            }
                            ReluPhase::Unstable { upper_slope: s } => {
                                s * (*y - bounds[j].lower[col])
                            }
                        };
                    }
                }
                y
            }
            op @ (Op::Sigmoid | Op::Tanh) => {
                let shape = if *op == Op::Sigmoid {
                    SShape::Sigmoid
                } else {
                    SShape::Tanh
                };
                let lam = pass.act_lambda[i].as_ref().expect("λ at every activation");
                let mut y = x.clone();
                ndarray::Zip::indexed(&mut y)
                    .and(lam)
                    .for_each(|(_, col), y, &l| {
                        let ln = shape.lines(bounds[j].lower[col], bounds[j].upper[col]);
                        *y = if l >= 0.0 {
                            ln.lo_a * *y + ln.lo_b
                        } else {
                            ln.up_a * *y + ln.up_b
                        };
                    });
                y
            }
        };
        vals[i] = Some(y);
    }
    vals
}
