//! One backward pass through the dual network (the math is in the module doc of [`super`]).

use super::kernels::{
    affine_back, input_affine, input_term, relu_back, split_multipliers, Acc, SplitsAt,
};
use super::nonlinear::{lines_back, mul_back, softmax_back};
use super::{DualNetwork, Pass, Real, RowSplits, Scales, Slopes};
use crate::bounds::interval::mid_rad;
use crate::bounds::relax::{mul_planes, node_curve, softmax_lines, SShape};
use crate::bounds::sums::sums;
use crate::bounds::Bounds;
use crate::ir::{NodeId, Op};
use crate::tolerances::{gamma, gamma_dot, gamma_u, UNDERFLOW_PAD};
use ndarray::{s, Array1, Array2, ArrayView2, Axis, CowArray, Ix2};

/// A node's `λ` while the pass collects it from the node's consumers.
struct Pending<'c, T> {
    lam: CowArray<'c, T, Ix2>,
    /// `λ` is still the objective up to element-wise scaling and moves of columns (its rows may
    /// be one-hot: a hint for `affine_back`).
    objective: bool,
}

/// A pass whose rows times the network's weights exceed this many multiply-adds splits its rows
/// over both cores (each half a whole pass: products, relaxations and bookkeeping).
const SPLIT_WORK: usize = 8_000_000;

impl DualNetwork<'_> {
    /// One backward pass from node `k` with objective rows `c`, holding `λ` in `T` (see the
    /// module doc). `bounds` must hold sound bounds of every node before `k`.
    pub fn backward<T: Real>(
        &self,
        bounds: &[Bounds],
        k: usize,
        c: &Array2<f64>,
        slopes: Slopes,
    ) -> Pass<T> {
        self.backward_with(bounds, &Scales::new(self.net), k, c.view(), slopes)
    }

    /// [`DualNetwork::backward`] with row `r` bounded over its own domain, the inputs where its
    /// splits in `splits` hold (see the module doc: sound for any `β >= 0` and any slopes).
    /// `bounds` must hold over every row's domain.
    pub fn backward_domains<T: Real>(
        &self,
        bounds: &[Bounds],
        k: usize,
        c: &Array2<f64>,
        slopes: Slopes,
        splits: RowSplits,
    ) -> Pass<T> {
        let scales = Scales::new(self.net);
        self.backward_split(bounds, &scales, k, c.view(), slopes, Some(splits))
    }

    /// [`DualNetwork::backward`] with the per-node numbers `scales` of these `bounds` shared
    /// between calls; many rows split over both cores.
    pub(crate) fn backward_with<T: Real>(
        &self,
        bounds: &[Bounds],
        scales: &Scales,
        k: usize,
        c: ArrayView2<f64>,
        slopes: Slopes,
    ) -> Pass<T> {
        self.backward_split(bounds, scales, k, c, slopes, None)
    }

    /// [`DualNetwork::backward_with`] with row `r` bounded over its own domain
    /// `splits` (see the module doc: any `β >= 0` and any slopes give a sound bound of the row
    /// over the inputs where its splits hold). `bounds` must hold over every row's domain (in
    /// the search: the root's bounds). [`Pass::act_lambda`] is kept.
    pub(crate) fn backward_split<T: Real>(
        &self,
        bounds: &[Bounds],
        scales: &Scales,
        k: usize,
        c: ArrayView2<f64>,
        slopes: Slopes,
        splits: Option<RowSplits>,
    ) -> Pass<T> {
        let m = c.nrows();
        if m < 16 || m * self.weights < SPLIT_WORK {
            return self.rows_pass(bounds, scales, k, (c, 0), slopes, splits);
        }
        let h = m / 2;
        let (a, b) = rayon::join(
            || self.rows_pass(bounds, scales, k, (c.slice(s![..h, ..]), 0), slopes, splits),
            || self.rows_pass(bounds, scales, k, (c.slice(s![h.., ..]), h), slopes, splits),
        );
        let cat = |x: &Array2<T>, y: &Array2<T>| {
            ndarray::concatenate(Axis(0), &[x.view(), y.view()]).expect("same widths")
        };
        Pass {
            lower: a.lower.into_iter().chain(b.lower).collect(),
            act_lambda: a
                .act_lambda
                .iter()
                .zip(&b.act_lambda)
                .map(|(x, y)| Some(cat(x.as_ref()?, y.as_ref()?)))
                .collect(),
            input_lambda: cat(&a.input_lambda, &b.input_lambda),
        }
    }

    /// True when affine node `i` reads the network input and is its only consumer: on wide
    /// networks its step then fuses with the input box (see `kernels::input_affine`). With
    /// other consumers the input's `λ` is a sum, and the step takes the general path.
    fn fuses_input(&self, i: usize) -> bool {
        self.wide()
            && self.net.nodes()[i].inputs == [NodeId(0)]
            && self.net.consumers(NodeId(0)).len() == 1
    }

    /// The pass for rows `c` of `(c, r0)` (rows `r0..` of the whole objective, for per-row
    /// slopes and splits): nodes from `k` down in reverse topological order, each once all its
    /// consumers have added into its `λ` (see the module doc).
    fn rows_pass<T: Real>(
        &self,
        bounds: &[Bounds],
        scales: &Scales,
        k: usize,
        (c, r0): (ArrayView2<f64>, usize),
        slopes: Slopes,
        splits: Option<RowSplits>,
    ) -> Pass<T> {
        let nodes = self.net.nodes();
        let m = c.nrows();
        let mut acc = Acc::new(m);
        // Borrowed from `c` (f64) until the first step that changes it.
        let lam_k: CowArray<T, Ix2> = T::from_f64s(c);
        self.objective_rounding(bounds, k, c, lam_k.view(), &mut acc);
        let keep_lambda = matches!(slopes, Slopes::PerRow(_)) || splits.is_some();
        let at = |node| splits.map(|rows| SplitsAt { rows, node, r0 });
        let mut act_lambda: Vec<Option<Array2<T>>> = vec![None; nodes.len()];
        let mut pending: Vec<Option<Pending<T>>> = (0..=k).map(|_| None).collect();
        pending[k] = Some(Pending {
            lam: lam_k,
            objective: true,
        });
        let mut steps = 0usize;
        // Per row `[value, error, magnitude]` of the fused input step, and its `λ` at the input.
        let mut fused: Option<(Vec<[f64; 3]>, Array2<T>)> = None;
        for cur in (1..=k).rev() {
            let Some(Pending { lam, objective }) = pending[cur].take() else {
                continue; // not on a path to k
            };
            steps += 1;
            let node = &nodes[cur];
            if self.f32 {
                let r = self.resid(scales, bounds, cur);
                if !r.is_empty() {
                    acc.residual(lam.view(), r);
                }
            }
            match &node.op {
                Op::Input => unreachable!("only node 0 is an input"),
                Op::Affine(a) if self.fuses_input(cur) => {
                    let [bwm, wr, wabs, rad] = self.first(scales, bounds, cur, 0);
                    let w = f32::weight(self, cur, &a.weight);
                    let p = affine_back(T::to_f32s(lam.view()).view(), w, objective);
                    let g32 = gamma_dot(a.weight.nrows() + 2, f32::UNIT_ROUNDOFF);
                    // Underflow: up to (n + 2) absolute errors in each element of P, and one
                    // in each element of fl32(λ), which W then carries into |W|·r.
                    let under = f32::UNDERFLOW
                        * ((a.weight.nrows() + 2) as f64 * rad.iter().sum::<f64>()
                            + wr.iter().sum::<f64>());
                    let input = input_affine(lam.view(), &p, bwm, wr, wabs, rad, g32, under);
                    // λ at the input is only read for slope gradients.
                    let lam_in = match keep_lambda {
                        true => T::from_f32s(p),
                        false => Array2::zeros((m, 0)),
                    };
                    fused = Some((input, lam_in));
                }
                Op::Affine(a) => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    let g = gamma_dot(a.weight.nrows() + 2, T::UNIT_ROUNDOFF);
                    let bias = a.bias.as_slice().expect("contiguous");
                    acc.linear(lam.view(), bias, self.lin(scales, bounds, cur, j), g);
                    let w = T::weight(self, cur, &a.weight);
                    let next = affine_back(lam.view(), w, objective);
                    acc.underflow::<T>(a.weight.nrows(), mag);
                    self.accumulate(&mut pending, j, next.into(), false, mag, &mut acc);
                }
                Op::Conv(cv) => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    // Batched (`ConvRows`, in T): every term `w·λ` of an input's sum goes
                    // through at most `out_channels + out_len + 1` roundings (the weight's to T,
                    // the product, the additions of the product and of the scatter; see
                    // `ir::ConvRows`); the per-row loop of a transposed convolution runs in f64
                    // and rounds to T once. `n + 2` roundings cover both, and each input's sum
                    // has at most `out_len <= n` products (underflow).
                    let n = cv.fan_in() + cv.out_chw[0] + cv.out_len();
                    let hw = cv.out_chw[1] * cv.out_chw[2];
                    let bias: Vec<f64> = (0..cv.out_len()).map(|o| cv.bias[o / hw]).collect();
                    let g = gamma_u(n + 2, T::UNIT_ROUNDOFF);
                    acc.linear(lam.view(), &bias, self.lin(scales, bounds, cur, j), g);
                    let next = match self.conv_rows(cur) {
                        Some(cr) => cr.transpose_rows(lam.view()),
                        None => {
                            let mut next = Array2::zeros((m, cv.in_len()));
                            for (r, row) in lam.axis_iter(Axis(0)).enumerate() {
                                let row: Vec<f64> = row.iter().map(|v| v.to_f64()).collect();
                                let t = cv.transpose(&row);
                                next.row_mut(r)
                                    .assign(&Array1::from_iter(t.into_iter().map(T::from_f64)));
                            }
                            next
                        }
                    };
                    acc.underflow::<T>(n, mag);
                    self.accumulate(&mut pending, j, next.into(), false, mag, &mut acc);
                }
                Op::ScaleShift(sc) => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    // λ·fl(s) rounds twice; the f64 sum λ·t is covered by gamma(len).
                    let g = gamma_u(2, T::UNIT_ROUNDOFF).max(gamma(sc.shift.len() + 2));
                    let shift = sc.shift.as_slice().expect("contiguous");
                    acc.linear(lam.view(), shift, self.lin(scales, bounds, cur, j), g);
                    let scale: Array1<T> = sc.scale.mapv(T::from_f64);
                    let mut next = lam.into_owned();
                    for mut row in next.rows_mut() {
                        row.zip_mut_with(&scale, |v, &s| *v = *v * s);
                    }
                    acc.underflow::<T>(1, mag);
                    self.accumulate(&mut pending, j, next.into(), objective, mag, &mut acc);
                }
                Op::Reshape => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    self.accumulate(&mut pending, j, lam, objective, mag, &mut acc);
                }
                Op::Relu => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.to_owned());
                    }
                    let per_row = match slopes {
                        Slopes::PerRow(a) => a[cur].as_ref().map(|a| a.slice(s![r0..r0 + m, ..])),
                        _ => None,
                    };
                    let alpha0 = |l: f64, u: f64, s: f64| match slopes {
                        Slopes::Adaptive if u >= -l => 1.0,
                        Slopes::Adaptive => 0.0,
                        Slopes::WongKolter | Slopes::PerRow(_) => s.min(1.0),
                    };
                    let mut next = lam.into_owned();
                    relu_back(
                        &mut next,
                        &bounds[j],
                        mag,
                        alpha0,
                        per_row,
                        at(cur),
                        &mut acc,
                    );
                    if let Some(sp) = at(cur) {
                        // One more addition to κ when a split point is not 0.
                        steps += usize::from(split_multipliers(&mut next, sp, mag, &mut acc));
                    }
                    acc.underflow::<T>(1, mag);
                    self.accumulate(&mut pending, j, next.into(), objective, mag, &mut acc);
                }
                // One lower and one upper line per element, by the sign of λ (see
                // `nonlinear::lines_back`).
                Op::Sigmoid | Op::Tanh | Op::Sign | Op::Square => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.to_owned());
                    }
                    // `node_curve`: a widened `Sign` takes lines that cover the f32 step.
                    let f = node_curve(self.net, cur).expect("a curve op");
                    let lines: Vec<_> = (bounds[j].lower.iter().zip(&bounds[j].upper))
                        .enumerate()
                        .map(|(k, (&l, &u))| f(k, l, u))
                        .collect();
                    let mut next = lam.into_owned();
                    // Sigmoid and tanh with per-row tangent parameters (`Slopes::PerRow`): each
                    // row's lines touch where its parameters say (sound for any, see
                    // `relax::Tangents`).
                    let xb = &bounds[j];
                    let tangent = match (SShape::of(&node.op), slopes) {
                        (Some(sh), Slopes::PerRow(a)) => a[cur].as_ref().map(|a| {
                            let t: Vec<_> = (xb.lower.iter().zip(&xb.upper))
                                .map(|(&l, &u)| sh.tangents(l, u))
                                .collect();
                            (sh, a.slice(s![r0..r0 + m, ..]), t)
                        }),
                        _ => None,
                    };
                    // A row's split neurons take the lines of their restricted interval (after
                    // its tangent lines: `lines_back` applies a row's patches in order).
                    let patch = |r: usize| -> Vec<(usize, crate::bounds::relax::Lines)> {
                        let mut out = Vec::new();
                        if let Some((sh, a, t)) = &tangent {
                            out.extend((0..xb.len()).map(|col| {
                                let (l, u) = (xb.lower[col], xb.upper[col]);
                                (col, sh.lines_at(l, u, &t[col], a[[r, col]]))
                            }));
                        }
                        let Some(sp) = at(cur) else {
                            return out;
                        };
                        out.extend((sp.rows.at(sp.r0 + r, cur)).map(|(s, _)| {
                            let col = s.neuron as usize;
                            let (l, u) = (sp.rows).restrict(
                                sp.r0 + r,
                                cur,
                                s.neuron,
                                xb.lower[col],
                                xb.upper[col],
                            );
                            let ln = match &tangent {
                                Some((sh, a, _)) => {
                                    sh.lines_at(l, u, &sh.tangents(l, u), a[[r, col]])
                                }
                                None => f(col, l, u),
                            };
                            (col, ln)
                        }));
                        out
                    };
                    let patch: Option<&dyn Fn(usize) -> Vec<_>> =
                        match splits.is_some() || tangent.is_some() {
                            true => Some(&patch),
                            false => None,
                        };
                    lines_back(&mut next, &lines, mag, patch, &mut acc);
                    if let Some(sp) = at(cur) {
                        steps += usize::from(split_multipliers(&mut next, sp, mag, &mut acc));
                    }
                    acc.underflow::<T>(1, mag);
                    self.accumulate(&mut pending, j, next.into(), objective, mag, &mut acc);
                }
                // λ·(a∘b) >= λ·(α∘a + β∘b) + κ by the planes of `relax::mul_planes` (see
                // `nonlinear::mul_back`); each input receives its own coefficients (both, added,
                // when the inputs are one node).
                Op::Mul => {
                    let (ja, jb) = (node.inputs[0].0, node.inputs[1].0);
                    let (ma, mb) = (self.mag(scales, bounds, ja), self.mag(scales, bounds, jb));
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.to_owned());
                    }
                    let (a, b) = (&bounds[ja], &bounds[jb]);
                    let planes: Vec<_> = (0..a.len())
                        .map(|e| mul_planes(a.lower[e], a.upper[e], b.lower[e], b.upper[e]))
                        .collect();
                    let (la, lb) = mul_back(lam.view(), &planes, ma, mb, &mut acc);
                    acc.underflow::<T>(1, ma);
                    acc.underflow::<T>(1, mb);
                    self.accumulate(&mut pending, ja, la.into(), objective, ma, &mut acc);
                    self.accumulate(&mut pending, jb, lb.into(), objective, mb, &mut acc);
                }
                // Per group, λ shifted by a constant, then each output's line (see
                // `nonlinear::softmax_back`).
                Op::Softmax(sm) => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    if keep_lambda {
                        act_lambda[cur] = Some(lam.to_owned());
                    }
                    let b = &bounds[j];
                    let groups: Vec<_> = sm
                        .groups(b.len())
                        .map(|g| {
                            let l: Vec<f64> = g.iter().map(|&e| b.lower[e]).collect();
                            let u: Vec<f64> = g.iter().map(|&e| b.upper[e]).collect();
                            let lines = softmax_lines(&l, &u);
                            (g, lines)
                        })
                        .collect();
                    let next = softmax_back(lam.view(), &groups, mag, &mut acc);
                    acc.underflow::<T>(sm.len, mag);
                    self.accumulate(&mut pending, j, next.into(), false, mag, &mut acc);
                }
                // λ_i·Σ_p x_{j_p} = Σ_p λ_i·x_{j_p}: every input gets λ_i itself (exact); the
                // last one takes it by move.
                Op::Add => {
                    let (last, rest) = node.inputs.split_last().expect("Add has inputs");
                    for &NodeId(j) in rest {
                        let mag = self.mag(scales, bounds, j);
                        self.accumulate(&mut pending, j, lam.clone(), objective, mag, &mut acc);
                    }
                    let mag = self.mag(scales, bounds, last.0);
                    self.accumulate(&mut pending, last.0, lam, objective, mag, &mut acc);
                }
                // λ_i·[x_1; x_2; ...] = Σ_p λ_i[:, block p]·x_p: column blocks, copied exactly.
                Op::Concat => {
                    let mut off = 0;
                    for &NodeId(j) in &node.inputs {
                        let len = self.net.len_of(NodeId(j));
                        let block = lam.slice(s![.., off..off + len]).to_owned();
                        off += len;
                        let mag = self.mag(scales, bounds, j);
                        self.accumulate(&mut pending, j, block.into(), objective, mag, &mut acc);
                    }
                }
                // λ_i·x_i = Σ_e λ_i[:, e]·x_j[index_e] = Σ_c (Σ_{e: index_e = c} λ_i[:, e])·x_j[c].
                // Each column of λ_j is a sum of at most `rep` terms added one by one from 0,
                // `rep − 1` roundings: off by at most γ_{rep−1}·Σ|terms| (Higham; additions
                // whose result is subnormal are exact, so no underflow term), which moves λ_j·x_j
                // by at most γ_{rep−1}·Σ_e |λ_i[:, e]|·|x_j[index_e]|max. A permutation or a
                // selection (rep = 1) is exact.
                Op::Gather { index } => {
                    let j = node.input().0;
                    let mag = self.mag(scales, bounds, j);
                    let rep = self.gather_repeats[cur];
                    let mut next = Array2::<T>::zeros((m, mag.len()));
                    for (mut out, row) in next.rows_mut().into_iter().zip(lam.rows()) {
                        for (&v, &e) in row.iter().zip(index) {
                            out[e] = out[e] + v;
                        }
                    }
                    if rep > 1 {
                        let g = gamma_dot(rep - 1, T::UNIT_ROUNDOFF);
                        let mag_e: Vec<f64> = index.iter().map(|&e| mag[e]).collect();
                        for (r, row) in lam.rows().into_iter().enumerate() {
                            let row: Vec<T> = row.to_vec();
                            let [_, e, _] = sums(&row, &mag_e, &mag_e, None);
                            acc.err[r] += g * e;
                        }
                    }
                    self.accumulate(&mut pending, j, next.into(), objective, mag, &mut acc);
                }
            }
        }
        // Input box: min over [m − r, m + r] of λ·x is λ·m − |λ|·r, summed in f64 (2n terms),
        // plus the fused input step's own per-row terms.
        let (mut input, mut input_lambda) = match fused {
            Some((input, lam)) => (input, lam),
            None => (vec![[0.0; 3]; m], Array2::zeros((m, 0))),
        };
        if let Some(Pending { lam, .. }) = pending[0].take() {
            let (mid, rad) = mid_rad(&bounds[0]);
            let g = gamma(2 * lam.ncols() + 2);
            for (t, (val, in_mag)) in input.iter_mut().zip(input_term(lam.view(), &mid, &rad)) {
                t[0] += val;
                t[1] += g * in_mag;
                t[2] += in_mag;
            }
            input_lambda = lam.into_owned();
        }
        let lower = input
            .into_iter()
            .enumerate()
            .map(|(r, [val, in_err, in_mag])| {
                // κ took at most one addition per step, plus the input term (fused or not:
                // the fused step is taken only when nothing else reaches the input, and the
                // parts start from an exact 0).
                let pad = acc.err[r] * self.err_pad
                    + in_err
                    + gamma(steps + 2) * (acc.kappa_mag[r] + in_mag)
                    + UNDERFLOW_PAD;
                let v = acc.kappa[r] + val - pad;
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
            input_lambda,
        }
    }

    /// Adds a consumer's coefficients `lam` of node `j` (magnitudes `mag`) into `λ_j`. The first
    /// contribution is kept as it is (moved, no copy); a later one is added element-wise in `T`,
    /// one rounding per element: `fl(a + b) = (a + b)(1 + δ)`, `|δ| <= u`, so the new `λ_j` is
    /// off by at most `u/(1 − u)·|fl(a + b)|` (exact when the sum is subnormal), which moves
    /// `λ_j·x_j` by at most `γ_1·Σ|λ_j|·|x_j|max`, added to `err` per row.
    fn accumulate<'c, T: Real>(
        &self,
        pending: &mut [Option<Pending<'c, T>>],
        j: usize,
        lam: CowArray<'c, T, Ix2>,
        objective: bool,
        mag: &[f64],
        acc: &mut Acc,
    ) {
        let Some(prev) = pending[j].take() else {
            pending[j] = Some(Pending { lam, objective });
            return;
        };
        let mut sum = prev.lam.into_owned();
        sum.zip_mut_with(&lam, |a, &b| *a = *a + b);
        let g = gamma_dot(1, T::UNIT_ROUNDOFF);
        for (r, row) in sum.rows().into_iter().enumerate() {
            let [_, e, _] = sums(row.as_slice().expect("row-major λ"), mag, mag, None);
            acc.err[r] += g * e;
        }
        pending[j] = Some(Pending {
            lam: sum.into(),
            // Only a hint for `affine_back` (which checks the rows itself).
            objective: prev.objective || objective,
        });
    }

    /// Rounding the objective `c` to `T` changes it by `c − fl(c)`, which moves `c·x_k` by at
    /// most `|c − fl(c)|·|x_k|max`; added to `err` (over node `k`'s bounds if known, else over
    /// its interval bounds). Nothing to add when every coefficient is exact in `T` (`±1`, the
    /// objectives of intermediate bounds).
    fn objective_rounding<T: Real>(
        &self,
        bounds: &[Bounds],
        k: usize,
        c: ArrayView2<f64>,
        lam: ArrayView2<T>,
        acc: &mut Acc,
    ) {
        let exact = T::EXACT || c.iter().zip(lam).all(|(&a, &b)| a == b.to_f64());
        if exact {
            return;
        }
        let own;
        let xk = match bounds.get(k) {
            Some(b) => b,
            None => {
                own = self.step(k, bounds);
                &own
            }
        };
        for (r, (crow, lrow)) in c.rows().into_iter().zip(lam.rows()).enumerate() {
            let e: f64 = crow
                .iter()
                .zip(lrow)
                .zip(xk.lower.iter().zip(&xk.upper))
                .map(|((&a, &b), (l, u))| (a - b.to_f64()).abs() * l.abs().max(u.abs()))
                .sum();
            // The f64 sum `e` itself is covered by `err_pad` with the rest of `err`.
            acc.err[r] += e;
        }
    }
}
