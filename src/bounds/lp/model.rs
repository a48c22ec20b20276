//! The triangle relaxation as explicit sparse rows, independent of any solver.
//!
//! Invariant: every row holds *exactly* (in real arithmetic) at the values the exact network
//! takes, and every variable's box `[lower, upper]` contains that value. Relaxations are taken
//! over the boxes of the LP's own variables (the input's box, possibly tightened by an alias),
//! which contain the exact values too. The solver gets a copy
//! of these rows; the bound we return is recomputed from these rows alone
//! ([`super::lagrangian`]), so nothing here may be rounded in the unsafe direction.

use super::super::relax::{
    node_curve, relu_phase, softmax_lines, square_lines, square_tangent, Lines, ReluPhase,
};
use super::super::round::{mul_down, mul_up};
use super::super::Bounds;
use crate::ir::{Network, NodeId, Op};

/// How a row compares its left side with its right side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sense {
    Eq,
    Ge,
    Le,
}

/// One constraint `Σ a_v·x_v (sense) rhs`.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub terms: Vec<(usize, f64)>,
    pub sense: Sense,
    pub rhs: f64,
}

/// Where one element of a node's value lives in the LP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    /// An LP variable.
    Var(usize),
    /// The constant 0 (the output of an inactive ReLU, and whatever aliases it).
    Zero,
}

/// Variables with their boxes, rows, and the slot of every element of every encoded node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub rows: Vec<Row>,
    /// `slots[i][e]`: element `e` of node `i`'s value, for the nodes `0..=last` encoded.
    pub slots: Vec<Vec<Slot>>,
}

impl Model {
    /// Encodes node `last` and its ancestors in `net` (the other nodes get no slots), given
    /// sound bounds of every node (`bounds[i]`).
    ///
    /// With `f32`, the rows hold for every f32 evaluation too (`bounds` must then hold for the
    /// f32 values): each node's f32 value is `ŷ = y + r` with `y` the op's exact value on the
    /// f32 values of its inputs and `|r| <= R` ([`crate::bounds::f32_error::residual`]). A node
    /// with `R > 0` gets its rows over a variable `y` boxed by its bounds widened by `R` (which
    /// hold for `y = ŷ − r`), and a variable `ŷ` boxed by its bounds with `−R <= ŷ − y <= R`
    /// (exact: `±R` are floats); its consumers read `ŷ`. `r = 0` is the exact network.
    pub fn build(net: &Network, bounds: &[Bounds], last: usize, f32: bool) -> Model {
        let mut m = Model::default();
        let anc = net.ancestors(NodeId(last));
        for (i, node) in net.nodes()[..=last].iter().enumerate() {
            if !anc[i] {
                m.slots.push(Vec::new());
                continue;
            }
            let resid = (f32 && i > 0)
                .then(|| crate::bounds::f32_error::residual(net, i, bounds))
                .filter(|r| r.iter().any(|&v| v > 0.0));
            let f32_value = &bounds[i];
            let widened;
            let b = match &resid {
                Some(r) => {
                    widened = Bounds {
                        lower: (f32_value.lower.iter().zip(r))
                            .map(|(l, r)| (l - r).next_down())
                            .collect(),
                        upper: (f32_value.upper.iter().zip(r))
                            .map(|(u, r)| (u + r).next_up())
                            .collect(),
                    };
                    &widened
                }
                None => f32_value,
            };
            let xs: Vec<Vec<Slot>> = node.inputs.iter().map(|j| m.slots[j.0].clone()).collect();
            let x: &[Slot] = xs.first().map_or(&[], |x| x);
            let slots = match &node.op {
                Op::Input => (0..b.len()).map(|e| Slot::Var(m.var(b, e))).collect(),
                // y_o = Σ_i W_oi·x_i + b_o  ⇔  y_o − Σ_i W_oi·x_i = b_o. Exact: W and b are the
                // network's own f64 values and negation is exact.
                Op::Affine(a) => (0..a.weight.nrows())
                    .map(|o| {
                        let y = m.var(b, o);
                        let mut terms = vec![(y, 1.0)];
                        for (&w, &s) in a.weight.row(o).iter().zip(x) {
                            push_term(&mut terms, s, -w);
                        }
                        m.eq(terms, a.bias[o]);
                        Slot::Var(y)
                    })
                    .collect(),
                // The same equality, one row per output, over the kernel taps.
                Op::Conv(cv) => {
                    let hw = cv.out_chw[1] * cv.out_chw[2];
                    let mut rows: Vec<Vec<(usize, f64)>> = (0..cv.out_len())
                        .map(|o| vec![(m.var(b, o), 1.0)])
                        .collect();
                    cv.for_each_tap(|o, inp, w| push_term(&mut rows[o], x[inp], -w));
                    rows.into_iter()
                        .enumerate()
                        .map(|(o, terms)| {
                            let y = terms[0].0;
                            m.eq(terms, cv.bias[o / hw]);
                            Slot::Var(y)
                        })
                        .collect()
                }
                // y_e = s_e·x_e + t_e  ⇔  y_e − s_e·x_e = t_e.
                Op::ScaleShift(s) => (0..b.len())
                    .map(|e| {
                        let y = m.var(b, e);
                        let mut terms = vec![(y, 1.0)];
                        push_term(&mut terms, x[e], -s.scale[e]);
                        m.eq(terms, s.shift[e]);
                        Slot::Var(y)
                    })
                    .collect(),
                // Same values: alias, and intersect the box with this node's (also sound) bounds.
                Op::Reshape => (0..b.len()).map(|e| m.alias(x[e], b, e)).collect(),
                Op::Relu => (0..b.len()).map(|e| m.relu(x[e], b, e)).collect(),
                // `node_curve`: a widened `Sign` takes lines that cover the f32 step.
                Op::Sigmoid | Op::Tanh | Op::Sign => {
                    let f = node_curve(net, i).expect("a curve op");
                    (0..b.len())
                        .map(|e| m.curve(|l, u| f(e, l, u), x[e], b, e))
                        .collect()
                }
                Op::Square => (0..b.len()).map(|e| m.square(x[e], b, e)).collect(),
                Op::Mul => (0..b.len()).map(|e| m.mul(x[e], xs[1][e], b, e)).collect(),
                Op::Softmax(sm) => {
                    let mut slots = vec![Slot::Zero; b.len()];
                    for group in sm.groups(b.len()) {
                        for (e, y) in m.softmax(x, &group, b) {
                            slots[e] = y;
                        }
                    }
                    slots
                }
                // y_e = Σ_p x_p[e]  ⇔  y_e − Σ_p x_p[e] = 0 (exact: coefficients ±1).
                Op::Add => (0..b.len())
                    .map(|e| {
                        let y = m.var(b, e);
                        let mut terms = vec![(y, 1.0)];
                        for xp in &xs {
                            push_term(&mut terms, xp[e], -1.0);
                        }
                        m.eq(terms, 0.0);
                        Slot::Var(y)
                    })
                    .collect(),
                // The inputs' own variables, in order (aliases, boxes tightened).
                Op::Concat => {
                    let all: Vec<Slot> = xs.iter().flatten().copied().collect();
                    all.into_iter()
                        .enumerate()
                        .map(|(e, s)| m.alias(s, b, e))
                        .collect()
                }
                Op::Gather { index } => index
                    .iter()
                    .enumerate()
                    .map(|(e, &src)| m.alias(x[src], b, e))
                    .collect(),
            };
            let slots = match &resid {
                Some(r) => (slots.into_iter().enumerate())
                    .map(|(e, y)| m.perturbed(y, r[e], f32_value, e))
                    .collect(),
                None => slots,
            };
            m.slots.push(slots);
        }
        m
    }

    /// True when every coefficient, right-hand side and variable bound is finite (the solver
    /// and the recomputation are only meaningful then).
    pub fn is_finite(&self) -> bool {
        self.lower.iter().chain(&self.upper).all(|v| v.is_finite())
            && self
                .rows
                .iter()
                .all(|r| r.rhs.is_finite() && r.terms.iter().all(|t| t.1.is_finite()))
    }

    /// The objective `Σ_e c_e·(node value)_e` of node `node` as sparse terms over variables.
    /// A `Zero` slot contributes `c_e·0 = 0` exactly.
    pub fn objective(&self, node: usize, c: &[f64]) -> Vec<(usize, f64)> {
        let slots = &self.slots[node];
        assert_eq!(c.len(), slots.len(), "objective length");
        let mut terms = Vec::new();
        for (&s, &ce) in slots.iter().zip(c) {
            push_term(&mut terms, s, ce);
        }
        terms
    }

    /// A new variable boxed by element `e` of `b`.
    fn var(&mut self, b: &Bounds, e: usize) -> usize {
        self.lower.push(b.lower[e]);
        self.upper.push(b.upper[e]);
        self.lower.len() - 1
    }

    fn eq(&mut self, terms: Vec<(usize, f64)>, rhs: f64) {
        self.rows.push(Row {
            terms,
            sense: Sense::Eq,
            rhs,
        });
    }

    /// The f32 value `ŷ = y + r`, `|r| <= r_max`, of the exact value in slot `y`: a new
    /// variable boxed by `b[e]` with `−r_max <= ŷ − y <= r_max` (see [`Model::build`]).
    fn perturbed(&mut self, y: Slot, r_max: f64, b: &Bounds, e: usize) -> Slot {
        if r_max == 0.0 {
            return self.alias(y, b, e);
        }
        let v = self.var(b, e);
        for (sense, rhs) in [(Sense::Ge, -r_max), (Sense::Le, r_max)] {
            let mut terms = vec![(v, 1.0)];
            push_term(&mut terms, y, -1.0);
            self.rows.push(Row { terms, sense, rhs });
        }
        Slot::Var(v)
    }

    /// `x`'s slot for a node whose value equals `x`'s, its box tightened by `b[e]`.
    fn alias(&mut self, x: Slot, b: &Bounds, e: usize) -> Slot {
        if let Slot::Var(v) = x {
            self.lower[v] = self.lower[v].max(b.lower[e]);
            self.upper[v] = self.upper[v].min(b.upper[e]);
        }
        x
    }

    /// `ŷ = relu(z)` with `z ∈ [l, u]` (`z`'s box, itself sound):
    /// - `l >= 0`: `ŷ = z` (alias); `u <= 0`: `ŷ = 0`;
    /// - `l < 0 < u`, the triangle: `ŷ >= 0` (in `ŷ`'s box), `ŷ − z >= 0`, and
    ///   `ŷ <= s·(z − l)`, i.e. `ŷ − s·z <= s·(−l)`, with `s` [`relu_phase`]'s rounded-up slope.
    ///   The right side `s·(−l) > 0` is rounded up by `next_up`, which only loosens the row.
    fn relu(&mut self, x: Slot, b: &Bounds, e: usize) -> Slot {
        let Slot::Var(z) = x else {
            return Slot::Zero;
        };
        let (l, u) = (self.lower[z], self.upper[z]);
        match relu_phase(l, u) {
            ReluPhase::Active => self.alias(x, b, e),
            ReluPhase::Inactive => Slot::Zero,
            ReluPhase::Unstable { upper_slope: s } => {
                let y = self.var(b, e);
                self.lower[y] = self.lower[y].max(0.0);
                self.rows.push(Row {
                    terms: vec![(y, 1.0), (z, -1.0)],
                    sense: Sense::Ge,
                    rhs: 0.0,
                });
                self.rows.push(Row {
                    terms: vec![(y, 1.0), (z, -s)],
                    sense: Sense::Le,
                    rhs: (s * -l).next_up(),
                });
                Slot::Var(y)
            }
        }
    }

    /// The box `[l, u]` of slot `x` (a `Zero` slot is `[0, 0]`).
    fn range(&self, x: Slot) -> (f64, f64) {
        match x {
            Slot::Var(z) => (self.lower[z], self.upper[z]),
            Slot::Zero => (0.0, 0.0),
        }
    }

    /// Adds `y − a·x (sense) rhs`.
    fn line(&mut self, y: usize, x: Slot, a: f64, sense: Sense, rhs: f64) {
        let mut terms = vec![(y, 1.0)];
        push_term(&mut terms, x, -a);
        self.rows.push(Row { terms, sense, rhs });
    }

    /// `y = f(z)` for an element-wise curve (sigmoid, tanh, sign, square), `z ∈ [l, u]` (`z`'s
    /// box), between the lines `f` gives for `[l, u]` ([`node_curve`]), which hold exactly with their
    /// f64 coefficients: `y − lo_a·z >= lo_b`, `y − up_a·z <= up_b`.
    fn curve(&mut self, f: impl Fn(f64, f64) -> Lines, x: Slot, b: &Bounds, e: usize) -> Slot {
        let (l, u) = self.range(x);
        let ln = f(l, u);
        let y = self.var(b, e);
        self.line(y, x, ln.lo_a, Sense::Ge, ln.lo_b);
        self.line(y, x, ln.up_a, Sense::Le, ln.up_b);
        Slot::Var(y)
    }

    /// `y = z²`, `z ∈ [l, u]`: the chord and midpoint tangent of [`square_lines`], and the
    /// tangents at `l` and `u` (`y − 2t·z >= −t²`, valid for every `z`; [`square_tangent`]).
    fn square(&mut self, x: Slot, b: &Bounds, e: usize) -> Slot {
        let y = self.curve(square_lines, x, b, e);
        let (l, u) = self.range(x);
        if let Slot::Var(v) = y {
            for t in [l, u].into_iter().filter(|t| t.is_finite()) {
                let (a, c) = square_tangent(t);
                self.line(v, x, a, Sense::Ge, c);
            }
        }
        y
    }

    /// `z = x·y` with `x ∈ [xl, xu]`, `y ∈ [yl, yu]` (their boxes): McCormick's envelopes,
    /// from `(x − xl)(y − yl) >= 0`, `(xu − x)(yu − y) >= 0`, `(x − xl)(yu − y) >= 0`,
    /// `(xu − x)(y − yl) >= 0`:
    /// `z − yl·x − xl·y >= −xl·yl`, `z − yu·x − xu·y >= −xu·yu`,
    /// `z − yu·x − xl·y <= −xl·yu`, `z − yl·x − xu·y <= −xu·yl`.
    /// The coefficients are the bounds themselves (exact); each right side is rounded in the
    /// row's safe direction (down for `>=`, up for `<=`).
    fn mul(&mut self, x: Slot, y: Slot, b: &Bounds, e: usize) -> Slot {
        let ((xl, xu), (yl, yu)) = (self.range(x), self.range(y));
        let z = self.var(b, e);
        for (xb, yb, sense) in [
            (xl, yl, Sense::Ge),
            (xu, yu, Sense::Ge),
            (xl, yu, Sense::Le),
            (xu, yl, Sense::Le),
        ] {
            let mut terms = vec![(z, 1.0)];
            push_term(&mut terms, x, -yb);
            push_term(&mut terms, y, -xb);
            let rhs = match sense {
                Sense::Ge => -mul_up(xb, yb),
                Sense::Le | Sense::Eq => -mul_down(xb, yb),
            };
            self.rows.push(Row { terms, sense, rhs });
        }
        Slot::Var(z)
    }

    /// One softmax group (`group`: its elements' indices; `x`: the input's slots): per output,
    /// `y_e − A_e·x >= lo_c_e` and `<= up_c_e` by [`softmax_lines`] over the inputs' boxes, and
    /// `Σ_e y_e = 1` (exact for the real softmax). Returns each output's slot.
    fn softmax(&mut self, x: &[Slot], group: &[usize], b: &Bounds) -> Vec<(usize, Slot)> {
        let (l, u): (Vec<f64>, Vec<f64>) = group.iter().map(|&e| self.range(x[e])).unzip();
        let ln = softmax_lines(&l, &u);
        let ys: Vec<usize> = group.iter().map(|&e| self.var(b, e)).collect();
        for (k, &y) in ys.iter().enumerate() {
            for (sense, rhs) in [(Sense::Ge, ln.lo_c[k]), (Sense::Le, ln.up_c[k])] {
                let mut terms = vec![(y, 1.0)];
                for (kk, &e) in group.iter().enumerate() {
                    push_term(&mut terms, x[e], -ln.slope[[k, kk]]);
                }
                self.rows.push(Row { terms, sense, rhs });
            }
        }
        self.eq(ys.iter().map(|&y| (y, 1.0)).collect(), 1.0);
        group
            .iter()
            .zip(ys)
            .map(|(&e, y)| (e, Slot::Var(y)))
            .collect()
    }
}

/// Appends `a·x` to a row; a `Zero` slot or a zero coefficient adds exactly nothing.
fn push_term(terms: &mut Vec<(usize, f64)>, x: Slot, a: f64) {
    if let Slot::Var(v) = x {
        if a != 0.0 {
            terms.push((v, a));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::Conv2d;
    use ndarray::{Array1, Array4};

    /// The conv taps, summed at a point, reproduce `Conv2d::forward`.
    #[test]
    fn conv_rows_match_forward() {
        let w = Array4::from_shape_fn((2, 2, 3, 2), |(a, b, c, d)| {
            (a + 2 * b) as f64 - 0.5 * (c * d) as f64 + 0.25
        });
        let cv = Conv2d::new(
            w,
            Array1::from(vec![0.5, -1.0]),
            [2, 1],
            [1, 0, 1, 1],
            [1, 2],
            [2, 4, 5],
        )
        .unwrap();
        let x: Vec<f64> = (0..cv.in_len())
            .map(|k| ((k * 7) % 11) as f64 - 5.0)
            .collect();
        let want = cv.forward(&x);
        let mut got = vec![0.0; cv.out_len()];
        cv.for_each_tap(|o, i, w| got[o] += w * x[i]);
        let hw = cv.out_chw[1] * cv.out_chw[2];
        for (o, g) in got.iter_mut().enumerate() {
            *g += cv.bias[o / hw];
        }
        assert_eq!(got, want);
    }
}
