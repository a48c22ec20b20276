//! Interval bound propagation (IBP): the loosest and cheapest engine, sound for every core op.
//! Every bound is rounded outward (or exact), as stated at each op.

use super::relax::softmax_interval;
use super::round::mul_interval;
use super::sums::mat_sums;
use super::Bounds;
use crate::ir::{sign, Network, Node, Op, Scalar};
use crate::tolerances::{gamma, ACTIVATION_PAD, UNDERFLOW_PAD};

/// Bounds of every node of `net`: the input box `[lower, upper]`, then `step(i, earlier)` for
/// each node `i` in order over the bounds `earlier` of the nodes before it.
pub(crate) fn forward(
    net: &Network,
    lower: &[f64],
    upper: &[f64],
    step: impl Fn(usize, &[Bounds]) -> Bounds,
) -> Vec<Bounds> {
    let mut out: Vec<Bounds> = Vec::with_capacity(net.nodes().len());
    out.push(Bounds {
        lower: lower.to_vec(),
        upper: upper.to_vec(),
    });
    for i in 1..net.nodes().len() {
        let b = step(i, &out);
        out.push(b);
    }
    out
}

/// Interval propagation over one network, for repeated use (branch and bound calls it on many
/// boxes of the same network).
pub struct Interval<'a> {
    net: &'a Network,
}

impl<'a> Interval<'a> {
    /// Prepares interval propagation for `net`.
    pub fn new(net: &'a Network) -> Self {
        Interval { net }
    }

    /// Bounds of every node's value for inputs in `[lower, upper]`.
    pub fn all(&self, lower: &[f64], upper: &[f64]) -> Vec<Bounds> {
        forward(self.net, lower, upper, |i, earlier| self.step(i, earlier))
    }

    /// Bounds of the network output for inputs in `[lower, upper]`.
    pub fn output(&self, lower: &[f64], upper: &[f64]) -> Bounds {
        self.all(lower, upper).pop().expect("a network has nodes")
    }

    /// Bounds of node `i`'s value from the bounds `earlier` of (at least) every node before it.
    ///
    /// Overflow: values past f64's range make `∞ − ∞` (a centre of `[−∞, ∞]`, a sum of
    /// infinities of both signs), and a NaN bound is no bound at all: `NaN.max(0) = 0` in the
    /// next ReLU once turned it into a false `[0, 0]` (a wrong `unsat`, `tests/soundness.rs`).
    /// Every NaN lower bound becomes `−∞` and every NaN upper bound `+∞` here, where every
    /// engine's bounds start, so no bound anywhere is NaN.
    pub(crate) fn step(&self, i: usize, earlier: &[Bounds]) -> Bounds {
        let mut b = self.step_raw(i, &self.net.nodes()[i], earlier);
        b.lower
            .iter_mut()
            .filter(|v| v.is_nan())
            .for_each(|v| *v = f64::NEG_INFINITY);
        b.upper
            .iter_mut()
            .filter(|v| v.is_nan())
            .for_each(|v| *v = f64::INFINITY);
        b
    }

    fn step_raw(&self, i: usize, node: &Node, earlier: &[Bounds]) -> Bounds {
        let x = || &earlier[node.input().0];
        match &node.op {
            Op::Input => unreachable!("only node 0 is an input"),
            // Centre/radius form: for x ∈ [m − r, m + r], W·x + b ∈ [W·m + b − |W|·r, W·m + b + |W|·r].
            Op::Affine(a) => {
                let (m, r) = mid_rad(x());
                let m_abs: Vec<f64> = m.iter().map(|m| m.abs()).collect();
                // One pass over W: W·m, |W|·r and |W|·|m|.
                let [wm, rad, wm_abs] = mat_sums(&a.weight, &m, &r, Some(&m_abs));
                let c: Vec<f64> = wm.iter().zip(&a.bias).map(|(v, b)| v + b).collect();
                // Magnitude for the rounding pad: |W|·(|m| + r) + |b| ≥ Σ|w||x| of both products
                // (the additions forming it round up by far less than the gamma slack).
                let mag: Vec<f64> = (0..c.len())
                    .map(|k| wm_abs[k] + rad[k] + a.bias[k].abs())
                    .collect();
                padded(
                    c.iter(),
                    rad.iter(),
                    mag.iter(),
                    gamma(a.weight.ncols() + 1),
                )
            }
            Op::Conv(conv) => {
                let (m, r) = mid_rad(x());
                let hw = conv.out_chw[1] * conv.out_chw[2];
                let mut c = conv.linear(&m, false);
                c.iter_mut()
                    .enumerate()
                    .for_each(|(k, v)| *v += conv.bias[k / hw]);
                let rad = conv.linear(&r, true);
                let mag_in: Vec<f64> = m.iter().zip(&r).map(|(m, r)| m.abs() + r).collect();
                let mut mag = conv.linear(&mag_in, true);
                mag.iter_mut()
                    .enumerate()
                    .for_each(|(k, v)| *v += conv.bias[k / hw].abs());
                padded(c.iter(), rad.iter(), mag.iter(), gamma(conv.fan_in() + 1))
            }
            // y = s·x + t: the endpoints s·l + t and s·u + t, swapped when s < 0, padded by
            // gamma(2)·(|s·x| + |t|) for the product and the sum.
            Op::ScaleShift(s) => {
                let x = x();
                let n = x.len();
                let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
                for k in 0..n {
                    let (a, t) = (s.scale[k], s.shift[k]);
                    let (p, q) = (a * x.lower[k] + t, a * x.upper[k] + t);
                    let mag = (a * x.lower[k]).abs().max((a * x.upper[k]).abs()) + t.abs();
                    let pad = gamma(2) * mag + UNDERFLOW_PAD;
                    lo.push(p.min(q) - pad);
                    hi.push(p.max(q) + pad);
                }
                Bounds {
                    lower: lo,
                    upper: hi,
                }
            }
            Op::Reshape => x().clone(),
            // ReLU is monotone and max(0, ·) is exact in floating point.
            Op::Relu => Bounds {
                lower: x().lower.iter().map(|&v| v.max(0.0)).collect(),
                upper: x().upper.iter().map(|&v| v.max(0.0)).collect(),
            },
            // Monotone; libm is not correctly rounded, so pad by ACTIVATION_PAD and clamp to
            // the function's range.
            Op::Sigmoid => monotone(x(), Scalar::sigmoid, 0.0, 1.0),
            Op::Tanh => monotone(x(), Scalar::tanh, -1.0, 1.0),
            // Monotone and exact: [sign(l), sign(u)]; where the network widens the step
            // (`Network::set_sign_widening`, the step of any value within `w` of the input),
            // [sign(l − w), sign(u + w)]: a difference of two floats is 0 only when they are
            // equal and never has the wrong sign, so each `sign` is exact.
            Op::Sign => match self.net.sign_widening(i) {
                None => Bounds {
                    lower: x().lower.iter().map(|&v| sign(v)).collect(),
                    upper: x().upper.iter().map(|&v| sign(v)).collect(),
                },
                Some(w) => Bounds {
                    lower: (x().lower.iter().zip(w))
                        .map(|(&v, &w)| if w.is_nan() { -1.0 } else { sign(v - w) })
                        .collect(),
                    upper: (x().upper.iter().zip(w))
                        .map(|(&v, &w)| if w.is_nan() { 1.0 } else { sign(v + w) })
                        .collect(),
                },
            },
            // x² over [l, u]: the squares of the ends, or [0, max] when the interval holds 0;
            // each product rounded outward.
            Op::Square => {
                let (lo, hi) = x()
                    .lower
                    .iter()
                    .zip(&x().upper)
                    .map(|(&l, &u)| {
                        let (p, q) = mul_interval(l, u, l, u);
                        (
                            if l <= 0.0 && 0.0 <= u {
                                0.0
                            } else {
                                p.max(0.0)
                            },
                            q,
                        )
                    })
                    .unzip();
                Bounds {
                    lower: lo,
                    upper: hi,
                }
            }
            // x·y over a box: the extremes are at its corners, each product rounded outward.
            Op::Mul => {
                let (a, b) = (&earlier[node.inputs[0].0], &earlier[node.inputs[1].0]);
                let (lo, hi) = (0..a.len())
                    .map(|e| mul_interval(a.lower[e], a.upper[e], b.lower[e], b.upper[e]))
                    .unzip();
                Bounds {
                    lower: lo,
                    upper: hi,
                }
            }
            // The exact range of each output over the box, group by group (see
            // `softmax_interval`).
            Op::Softmax(sm) => {
                let x = x();
                let mut b = Bounds {
                    lower: vec![0.0; x.len()],
                    upper: vec![1.0; x.len()],
                };
                for group in sm.groups(x.len()) {
                    let l: Vec<f64> = group.iter().map(|&e| x.lower[e]).collect();
                    let u: Vec<f64> = group.iter().map(|&e| x.upper[e]).collect();
                    let (lo, hi) = softmax_interval(&l, &u);
                    for (k, &e) in group.iter().enumerate() {
                        b.lower[e] = lo[k];
                        b.upper[e] = hi[k];
                    }
                }
                b
            }
            // Σ_p [l_p, u_p], each partial sum rounded outward: `next_down` of a rounded sum is
            // at most the exact sum of its two operands (rounding moves by under one ulp), so by
            // induction the lower sum stays below the exact one (and `next_up` the upper above).
            Op::Add => {
                let mut b = earlier[node.inputs[0].0].clone();
                for &j in &node.inputs[1..] {
                    let y = &earlier[j.0];
                    for e in 0..b.len() {
                        b.lower[e] = (b.lower[e] + y.lower[e]).next_down();
                        b.upper[e] = (b.upper[e] + y.upper[e]).next_up();
                    }
                }
                b
            }
            Op::Concat => Bounds {
                lower: node
                    .inputs
                    .iter()
                    .flat_map(|j| earlier[j.0].lower.iter().copied())
                    .collect(),
                upper: node
                    .inputs
                    .iter()
                    .flat_map(|j| earlier[j.0].upper.iter().copied())
                    .collect(),
            },
            Op::Gather { index } => {
                let x = x();
                Bounds {
                    lower: index.iter().map(|&e| x.lower[e]).collect(),
                    upper: index.iter().map(|&e| x.upper[e]).collect(),
                }
            }
        }
    }
}

/// Interval bounds of every node (convenience wrapper around [`Interval`]).
pub fn interval_bounds(net: &Network, lower: &[f64], upper: &[f64]) -> Vec<Bounds> {
    Interval::new(net).all(lower, upper)
}

/// Centre and radius with `[m − r, m + r] ⊇ [l, u]` exactly: `r` is rounded up (`next_up`) after
/// taking the larger of the two rounded half-widths.
pub(crate) fn mid_rad(x: &Bounds) -> (Vec<f64>, Vec<f64>) {
    let m: Vec<f64> = x
        .lower
        .iter()
        .zip(&x.upper)
        .map(|(&l, &u)| if l == u { l } else { 0.5 * l + 0.5 * u })
        .collect();
    let r = x
        .lower
        .iter()
        .zip(&x.upper)
        .zip(&m)
        .map(|((&l, &u), &m)| {
            if l == u {
                0.0
            } else {
                (u - m).max(m - l).next_up()
            }
        })
        .collect();
    (m, r)
}

/// `[c − r − pad, c + r + pad]` with `pad = g · mag + UNDERFLOW_PAD`: `g = gamma(n)` bounds the
/// rounding error of the dot products that produced `c`, `r` and the final subtraction.
fn padded<'x>(
    c: impl Iterator<Item = &'x f64>,
    r: impl Iterator<Item = &'x f64>,
    mag: impl Iterator<Item = &'x f64>,
    g: f64,
) -> Bounds {
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    for ((&c, &r), &mag) in c.zip(r).zip(mag) {
        let pad = g * mag + UNDERFLOW_PAD;
        lo.push(c - r - pad);
        hi.push(c + r + pad);
    }
    Bounds {
        lower: lo,
        upper: hi,
    }
}

fn monotone(x: &Bounds, f: impl Fn(f64) -> f64, min: f64, max: f64) -> Bounds {
    Bounds {
        lower: x
            .lower
            .iter()
            .map(|&v| (f(v) - ACTIVATION_PAD).max(min))
            .collect(),
        upper: x
            .upper
            .iter()
            .map(|&v| (f(v) + ACTIVATION_PAD).min(max))
            .collect(),
    }
}
