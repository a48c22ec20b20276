//! The dual network of Wong & Kolter (ICML 2018): sound linear bounds by one backward pass.
//!
//! To lower-bound `c·x_K` (node `K`'s value) over the input box, walk the network backwards
//! carrying a row vector `λ` (one row per objective) with `c·x_K = λ_j·x_j + κ` on the way:
//! - affine `x_i = W x_j + b`:  `λ_i·x_i = (λ_i W)·x_j + λ_i·b`;
//! - element-wise `x_i = s∘x_j + t`: `λ_j = λ_i∘s`, `κ += λ_i·t`;
//! - ReLU with pre-activation bounds `[l, u]`: active neurons pass `λ` through, inactive ones
//!   zero it; an unstable neuron uses the triangle relaxation (see [`super::relax`]): where
//!   `λ >= 0` the lower line `relu(z) >= α z` gives a lower bound of `λ·relu(z)`, where `λ < 0`
//!   the upper line `relu(z) <= s (z − l)`, adding `−λ s l` to `κ`. Wong–Kolter's dual network
//!   fixes `α = s = u/(u − l)`; any `α ∈ [0, 1]` is a valid dual point ([`Slopes`]);
//! - sigmoid/tanh: the same with the lines of [`super::relax::SShape::lines`];
//! - at the input box `[m − r, m + r]`: `min λ·x = λ·m − |λ|·r`.
//!
//! The result, `κ + λ·m − |λ|·r`, is the dual objective `J(ν)` of the paper at the dual point
//! the pass constructs. Intermediate bounds `[l, u]` of every pre-activation node come from the
//! same pass run from that node with `c = ±e_j`, layer by layer, intersected with interval bounds.
//!
//! Floating point: the identity `c·x_K = λ_j·x_j + κ` only holds exactly in real arithmetic. Each
//! step's rounding error is bounded (Higham's `gamma(n)`, [`crate::tolerances::gamma`]) by
//! `gamma(n) · |λ_i| · (|W|·|x_j|max + |b|)` where `|x_j|max = max(|l_j|, |u_j|)` comes from
//! node `j`'s (sound) bounds; these terms are summed into `err` and subtracted from the final
//! bound, together with the error of summing `κ` itself. So the returned number is a lower bound
//! of the exact real-arithmetic network's `c·x_K`, whatever the rounding of `λ` was.

use super::relax::{relu_phase, ReluPhase, SShape};
use super::{interval::mid_rad, interval::Interval, Bounds};
use crate::ir::{Network, NodeId, Op};
use crate::tolerances::{gamma, UNDERFLOW_PAD};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// How the lower line `relu(z) >= α z` of unstable ReLUs is chosen.
#[derive(Clone, Copy, Debug)]
pub enum Slopes<'a> {
    /// `α = u/(u − l)`, parallel to the upper line (Wong & Kolter's dual network).
    WongKolter,
    /// `α = 1` if `u >= −l` else `0` (the smaller-area choice of CROWN/DeepPoly).
    Adaptive,
    /// Per objective row and neuron: `alphas[node][[row, neuron]]` for every ReLU node.
    PerRow(&'a [Option<Array2<f64>>]),
}

/// What one backward pass returns.
pub struct Pass {
    /// Sound lower bound of each objective row.
    pub lower: Vec<f64>,
    /// For every activation node: the `λ` arriving at it (before relaxation), whose signs
    /// say which line was used (for slope gradients). Kept only with [`Slopes::PerRow`].
    pub act_lambda: Vec<Option<Array2<f64>>>,
    /// `λ` at the input.
    pub input_lambda: Array2<f64>,
}

/// `rows_lower(earlier, i, c)`: sound lower bounds of the rows of `c` applied to node `i`, given
/// the bounds `earlier` of every node before it.
pub type RowsLower<'a> = dyn Fn(&[Bounds], usize, &Array2<f64>) -> Vec<f64> + 'a;

/// The dual network of one [`Network`].
pub struct DualNetwork<'a> {
    net: &'a Network,
    ibp: Interval<'a>,
    /// `feeds_activation[j]`: node `j` is the input of an activation (its bounds matter).
    feeds_activation: Vec<bool>,
    /// `after_nonlinearity[j]`: some activation precedes node `j` (else interval bounds are tight).
    after_nonlinearity: Vec<bool>,
}

impl<'a> DualNetwork<'a> {
    /// Prepares the dual network of `net`.
    pub fn new(net: &'a Network) -> Self {
        let nodes = net.nodes();
        let mut feeds_activation = vec![false; nodes.len()];
        let mut after_nonlinearity = vec![false; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            if let Some(NodeId(j)) = n.input {
                if n.op.is_activation() {
                    feeds_activation[j] = true;
                }
                after_nonlinearity[i] = after_nonlinearity[j] || nodes[j].op.is_activation();
            }
        }
        DualNetwork {
            net,
            ibp: Interval::new(net),
            feeds_activation,
            after_nonlinearity,
        }
    }

    /// The network.
    pub fn network(&self) -> &'a Network {
        self.net
    }

    /// The interval propagation the dual network starts from.
    pub fn interval(&self) -> &Interval<'a> {
        &self.ibp
    }

    /// Bounds of every node over the box, pre-activation bounds tightened by the dual network
    /// (with lower slopes `slopes`, which must not be [`Slopes::PerRow`]).
    pub fn all_bounds(&self, lower: &[f64], upper: &[f64], slopes: Slopes) -> Vec<Bounds> {
        self.all_bounds_by(lower, upper, &|earlier, i, c| {
            self.backward(earlier, i, c.clone(), slopes).lower
        })
    }

    /// Bounds of every node, the pre-activation bounds tightened by `rows_lower(earlier, i, c)`:
    /// sound lower bounds of the rows of `c` applied to node `i`, given the bounds `earlier` of
    /// every node before it (so `all_bounds` is this with one fixed-slope backward pass, and
    /// optimised slopes plug in here too).
    pub fn all_bounds_by(
        &self,
        lower: &[f64],
        upper: &[f64],
        rows_lower: &RowsLower,
    ) -> Vec<Bounds> {
        let nodes = self.net.nodes();
        let mut out: Vec<Bounds> = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let mut b = match node.input {
                None => Bounds {
                    lower: lower.to_vec(),
                    upper: upper.to_vec(),
                },
                Some(NodeId(j)) => self.ibp.step(i, &node.op, &out[j]),
            };
            if self.feeds_activation[i] && self.after_nonlinearity[i] {
                self.tighten(i, &mut b, &out, rows_lower);
            }
            out.push(b);
        }
        out
    }

    /// Tightens node `i`'s bounds `b` with the dual network from node `i`, for the neurons
    /// whose bounds matter: unstable ReLU inputs, every sigmoid/tanh input.
    fn tighten(&self, i: usize, b: &mut Bounds, earlier: &[Bounds], rows_lower: &RowsLower) {
        // Only unstable neurons' bounds matter to a ReLU; a sigmoid/tanh uses every bound.
        let only_relu = self
            .net
            .nodes()
            .iter()
            .filter(|n| n.input == Some(NodeId(i)) && n.op.is_activation())
            .all(|n| n.op == Op::Relu);
        let sel: Vec<usize> = (0..b.len())
            .filter(|&j| !only_relu || (b.lower[j] < 0.0 && b.upper[j] > 0.0))
            .collect();
        if sel.is_empty() {
            return;
        }
        let n = b.len();
        let mut c = Array2::zeros((2 * sel.len(), n));
        for (r, &j) in sel.iter().enumerate() {
            c[[r, j]] = 1.0;
            c[[sel.len() + r, j]] = -1.0;
        }
        let lo = rows_lower(earlier, i, &c);
        for (r, &j) in sel.iter().enumerate() {
            b.lower[j] = b.lower[j].max(lo[r]);
            b.upper[j] = b.upper[j].min(-lo[sel.len() + r]);
        }
    }

    /// Sound lower bounds of the rows of `c` applied to the network output, given the bounds
    /// of every node from [`DualNetwork::all_bounds`].
    pub fn output_lower(&self, bounds: &[Bounds], c: Array2<f64>, slopes: Slopes) -> Pass {
        self.backward(bounds, self.net.nodes().len() - 1, c, slopes)
    }

    /// One backward pass from node `k` with objective rows `c` (see the module doc).
    /// `bounds` must hold sound bounds of every node before `k`.
    pub fn backward(&self, bounds: &[Bounds], k: usize, c: Array2<f64>, slopes: Slopes) -> Pass {
        let nodes = self.net.nodes();
        let m = c.nrows();
        let mut lam = c;
        let mut kappa = Array1::<f64>::zeros(m);
        // Σ |terms added to κ|, for the error of summing κ, and the accumulated rounding error.
        let mut kappa_mag = Array1::<f64>::zeros(m);
        let mut err = Array1::<f64>::zeros(m);
        // λ at the activations is only needed for slope gradients.
        let keep_lambda = matches!(slopes, Slopes::PerRow(_));
        let mut act_lambda: Vec<Option<Array2<f64>>> = vec![None; nodes.len()];
        let mut cur = k;
        let mut steps = 0usize;
        while let Some(NodeId(j)) = nodes[cur].input {
            steps += 1;
            let xb = &bounds[j];
            let mag: Array1<f64> = xb
                .lower
                .iter()
                .zip(&xb.upper)
                .map(|(l, u)| l.abs().max(u.abs()))
                .collect();
            match &nodes[cur].op {
                Op::Input => unreachable!("only node 0 is an input"),
                Op::Affine(a) => {
                    let abs_w = self.ibp.abs_weight(cur).expect("cached |W|");
                    let v = abs_w.dot(&mag) + a.bias.mapv(f64::abs);
                    let g = gamma(a.weight.nrows() + 1);
                    accumulate(&lam, &a.bias, &v, g, &mut kappa, &mut kappa_mag, &mut err);
                    lam = backward_affine(&lam, &a.weight);
                }
                Op::Conv(cv) => {
                    let hw = cv.out_chw[1] * cv.out_chw[2];
                    let bias: Array1<f64> = (0..cv.out_len()).map(|o| cv.bias[o / hw]).collect();
                    let g = gamma(cv.fan_in() + cv.out_len());
                    let v = Array1::from(cv.linear(mag.as_slice().expect("contiguous"), true))
                        + bias.mapv(f64::abs);
                    accumulate(&lam, &bias, &v, g, &mut kappa, &mut kappa_mag, &mut err);
                    let mut next = Array2::zeros((m, cv.in_len()));
                    for (r, row) in lam.axis_iter(Axis(0)).enumerate() {
                        let t = cv.transpose(row.as_slice().expect("contiguous"));
                        next.row_mut(r).assign(&ArrayView1::from(&t));
                    }
                    lam = next;
                }
                Op::ScaleShift(s) => {
                    let v = s.scale.mapv(f64::abs) * &mag + s.shift.mapv(f64::abs);
                    let g = gamma(2 + s.scale.len());
                    accumulate(&lam, &s.shift, &v, g, &mut kappa, &mut kappa_mag, &mut err);
                    lam *= &s.scale;
                }
                Op::Reshape => {}
                Op::Relu => {
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.clone());
                    }
                    // Per neuron: 0 = active (λ passes), 1 = inactive (λ zeroed), 2 = unstable
                    // with upper slope s and the default lower slope α.
                    let n = lam.ncols();
                    let (mut kind, mut up, mut alpha0) = (vec![0u8; n], vec![0.0; n], vec![0.0; n]);
                    for col in 0..n {
                        let (l, u) = (xb.lower[col], xb.upper[col]);
                        match relu_phase(l, u) {
                            ReluPhase::Active => {}
                            ReluPhase::Inactive => kind[col] = 1,
                            ReluPhase::Unstable { upper_slope: s } => {
                                kind[col] = 2;
                                up[col] = s;
                                alpha0[col] = match slopes {
                                    Slopes::Adaptive if u >= -l => 1.0,
                                    Slopes::Adaptive => 0.0,
                                    Slopes::WongKolter | Slopes::PerRow(_) => s.min(1.0),
                                };
                            }
                        }
                    }
                    let per_row = match slopes {
                        Slopes::PerRow(a) => a[cur].as_ref(),
                        _ => None,
                    };
                    let mut add = Array1::<f64>::zeros(m);
                    let mut e = Array1::<f64>::zeros(m);
                    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
                        let arow = per_row.map(|a| a.row(r));
                        for (col, v) in row.iter_mut().enumerate() {
                            match kind[col] {
                                0 => {}
                                1 => *v = 0.0,
                                _ => {
                                    let l = xb.lower[col];
                                    e[r] += v.abs() * (mag[col] + (up[col] * l).abs());
                                    if *v >= 0.0 {
                                        let a =
                                            arow.map_or(alpha0[col], |a| a[col].clamp(0.0, 1.0));
                                        *v *= a;
                                    } else {
                                        add[r] -= *v * up[col] * l;
                                        *v *= up[col];
                                    }
                                }
                            }
                        }
                    }
                    err += &(e * gamma(n + 2));
                    kappa_mag += &add.mapv(f64::abs);
                    kappa += &add;
                }
                op @ (Op::Sigmoid | Op::Tanh) => {
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.clone());
                    }
                    let shape = if *op == Op::Sigmoid {
                        SShape::Sigmoid
                    } else {
                        SShape::Tanh
                    };
                    let lines: Vec<_> = (0..lam.ncols())
                        .map(|col| shape.lines(xb.lower[col], xb.upper[col]))
                        .collect();
                    let mut add = Array1::<f64>::zeros(m);
                    let mut e = Array1::<f64>::zeros(m);
                    for (r, mut row) in lam.rows_mut().into_iter().enumerate() {
                        for (col, v) in row.iter_mut().enumerate() {
                            let ln = &lines[col];
                            let (a, b) = if *v >= 0.0 {
                                (ln.lo_a, ln.lo_b)
                            } else {
                                (ln.up_a, ln.up_b)
                            };
                            e[r] += v.abs() * (a.abs() * mag[col] + b.abs());
                            add[r] += *v * b;
                            *v *= a;
                        }
                    }
                    err += &(e * gamma(lam.ncols() + 2));
                    kappa_mag += &add.mapv(f64::abs);
                    kappa += &add;
                }
            }
            cur = j;
        }
        // Input box: min over [m − r, m + r] of λ·x is λ·m − |λ|·r.
        let (mid, rad) = mid_rad(&bounds[0]);
        let (mid, rad) = (Array1::from(mid), Array1::from(rad));
        let abs_lam = lam.mapv(f64::abs);
        let val = &kappa + &lam.dot(&mid) - &abs_lam.dot(&rad);
        let in_mag = abs_lam.dot(&(mid.mapv(f64::abs) + &rad));
        let n_in = lam.ncols();
        let lower = (0..m)
            .map(|r| {
                let pad = err[r] * (1.0 + 1e-9)
                    + gamma(n_in + 2) * in_mag[r]
                    + gamma(steps + 2) * (kappa_mag[r] + in_mag[r])
                    + UNDERFLOW_PAD;
                let v = val[r] - pad;
                if v.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    v
                }
            })
            .collect();
        Pass {
            lower,
            act_lambda,
            input_lambda: lam,
        }
    }
}

/// `λ·W` for the rows of `λ`, skipping the columns of `λ` that are zero in every row (inactive
/// ReLUs, stable neurons after pruning) and splitting the rows over both cores when there are many.
fn backward_affine(lam: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    let live: Vec<usize> = (0..lam.ncols())
        .filter(|&j| lam.column(j).iter().any(|&v| v != 0.0))
        .collect();
    let (lam_c, w_c);
    let (lam_v, w_v) = if live.len() * 4 < lam.ncols() * 3 {
        lam_c = lam.select(Axis(1), &live);
        w_c = w.select(Axis(0), &live);
        (lam_c.view(), w_c.view())
    } else {
        (lam.view(), w.view())
    };
    par_rows_dot(lam_v, w_v)
}

/// `a·b`, splitting the rows of `a` over both cores when the product is large.
pub(crate) fn par_rows_dot(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let m = a.nrows();
    if m < 64 || m * a.ncols() * b.ncols() < 4_000_000 {
        return a.dot(&b);
    }
    let (top, bottom) = a.split_at(Axis(0), m / 2);
    let (x, y) = rayon::join(|| top.dot(&b), || bottom.dot(&b));
    ndarray::concatenate(Axis(0), &[x.view(), y.view()]).expect("same widths")
}

/// One linear step's bookkeeping: `κ += λ·b`, `κmag += |λ·b|`, `err += g · |λ|·v`, row by row
/// without temporaries.
fn accumulate(
    lam: &Array2<f64>,
    b: &Array1<f64>,
    v: &Array1<f64>,
    g: f64,
    kappa: &mut Array1<f64>,
    kappa_mag: &mut Array1<f64>,
    err: &mut Array1<f64>,
) {
    let lam = lam.as_standard_layout();
    let (b, v) = (
        b.as_slice().expect("contiguous"),
        v.as_slice().expect("contiguous"),
    );
    for (r, row) in lam.rows().into_iter().enumerate() {
        let row = row.as_slice().expect("row-major");
        let (mut add, mut e) = (0.0, 0.0);
        for ((&l, &bb), &vv) in row.iter().zip(b).zip(v) {
            add += l * bb;
            e += l.abs() * vv;
        }
        kappa[r] += add;
        kappa_mag[r] += add.abs();
        err[r] += g * e;
    }
}
