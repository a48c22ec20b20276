//! Bounds for networks that are not a chain (convolutions, sigmoid/tanh, ...): the dual network
//! of [`crate::bounds::dual`] with CROWN slopes, one domain at a time (chunks still run in
//! parallel). The linear form of a row comes from the pass's `λ` at the input.
//!
//! f32 evaluation: the dual network is [`DualNetwork::keeping_f32`] (built in
//! [`super::Ctx::new`]), so its interval steps and passes keep every node's f32 residual and a
//! bound `> 0` refutes every f32 evaluation too, as the chain kernels' do ([`super::bound`]).

use super::bound::{interval_row, RowBounds, Rows};
use crate::bounds::dual::{DualNetwork, Slopes};
use crate::deadline::Deadline;
use crate::tolerances::{gamma, SUM_SLACK, UNDERFLOW_PAD};
use ndarray::{Array2, ArrayView1, ArrayView2};

/// The rows of each domain: `(domain, first row, end)`.
fn groups(rows: &Rows) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for (r, &d) in rows.dom.iter().enumerate() {
        match out.last_mut() {
            Some(g) if g.0 == d as usize => g.2 = r + 1,
            _ => out.push((d as usize, r, r + 1)),
        }
    }
    out
}

/// Interval bounds of the rows.
pub(super) fn interval_rows(
    dn: &DualNetwork,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
) -> Vec<f64> {
    let mut lb = vec![f64::NEG_INFINITY; rows.dom.len()];
    for (d, a, b) in groups(rows) {
        let mut all = dn.interval_all(&lo.row(d).to_vec(), &hi.row(d).to_vec());
        let out = all.pop().expect("a network has nodes");
        for (r, v) in lb.iter_mut().enumerate().take(b).skip(a) {
            *v = interval_row(
                rows.c.row(r),
                rows.rhs[r],
                ArrayView1::from(&out.lower),
                ArrayView1::from(&out.upper),
            );
        }
    }
    lb
}

/// CROWN bounds of the rows, and their forms: the pass gives `c·y >= λ₀·x + κ` with
/// `lower <= κ + min_box λ₀·x`, so `c·y − rhs >= λ₀·x + (lower − rhs − min_box λ₀·x)`, the
/// minimum taken rounded up (padded by `γ(n + 2)·Σ|λ₀||x|max`) so that the constant stays below.
/// Wide networks keep no input `λ` (see `DualNetwork::wide`): their rows get no form.
pub(super) fn linear_rows(
    dn: &DualNetwork,
    lo: ArrayView2<f64>,
    hi: ArrayView2<f64>,
    rows: &Rows,
    deadline: Deadline,
) -> RowBounds {
    let n0 = lo.ncols();
    let k_out = dn.network().nodes().len() - 1;
    let mut out = RowBounds {
        bounds: None,
        lb: vec![f64::NEG_INFINITY; rows.dom.len()],
        a: Array2::zeros((rows.dom.len(), n0)),
        k: vec![f64::NEG_INFINITY; rows.dom.len()],
    };
    for (d, a, b) in groups(rows) {
        let (l, h) = (lo.row(d).to_vec(), hi.row(d).to_vec());
        let all = dn.all_bounds(&l, &h, Slopes::Adaptive, deadline);
        let c = rows.c.slice(ndarray::s![a..b, ..]).to_owned();
        let pass = dn.backward::<f64>(&all, k_out, &c, Slopes::Adaptive);
        let last = all.last().expect("a network has nodes");
        for (i, r) in (a..b).enumerate() {
            let t = (pass.lower[i] - rows.rhs[r]).next_down();
            let floor = interval_row(
                rows.c.row(r),
                rows.rhs[r],
                ArrayView1::from(&last.lower),
                ArrayView1::from(&last.upper),
            );
            out.lb[r] = t.max(floor);
            if pass.input_lambda.ncols() != n0 || !t.is_finite() {
                continue;
            }
            let lam = pass.input_lambda.row(i);
            let (mut min, mut mag) = (0.0, 0.0);
            for m in 0..n0 {
                min += (lam[m] * l[m]).min(lam[m] * h[m]);
                mag += lam[m].abs() * l[m].abs().max(h[m].abs());
            }
            let min_up = min + (gamma(n0 + 2) * mag + UNDERFLOW_PAD) * SUM_SLACK;
            out.a.row_mut(r).assign(&lam);
            out.k[r] = (t - min_up).next_down();
        }
    }
    out
}
