//! The exact encoding of a network over the reals, one forward loop over the IR.
//!
//! Every weight, bias and bound is written as the exact rational its f64 holds (every finite
//! f64 is `m·2^e`, a dyadic rational), so the formula speaks about the real-arithmetic network
//! whose weights are the imported values. Per ancestor of the encoded node, in order:
//! - affine / convolution / scale-and-shift: `z_j = Σ_i w_ji·x_i + b_j` as a term, simplified
//!   (flattened) by Z3; `Add`: the sum of its inputs' terms, likewise; reshape, `Concat` and
//!   `Gather`: the inputs' terms, appended or picked;
//! - ReLU with sound pre-activation bounds `[l, u]`: `l >= 0` gives `a = z`, `u <= 0` gives
//!   `a = 0` (stable, no branching); otherwise fresh `z'` = `z`, `a` and a phase literal `p` with
//!   `p → (z >= 0 ∧ a = z)`, `¬p → (z <= 0 ∧ a = 0)`, plus the implied (redundant, sound)
//!   cuts `l <= z <= u`, `a >= 0`, `a >= z` and the triangle's upper line
//!   `(u − l)·a <= u·(z − l)`, all with exact `l`, `u`;
//!
//! So every term is a flat linear form over the inputs and the unstable ReLUs' variables:
//! stable layers collapse into their composition. Z3's exact simplex on one variable per
//! neuron (dense rows of long rationals) was measured to time out on ACAS Xu boxes with three
//! unstable ReLUs that this form decides in 25 ms.
//! - sign with bounds `[l, u]`: the constant when they fix its value, else
//!   `ite(z > 0, 1, ite(z < 0, −1, 0))`;
//! - square and product of two computed values: the nonlinear product `x·y` of fresh variables
//!   (Z3's nonlinear real arithmetic, exact; it may answer unknown), with the sound cuts of
//!   their bounds (McCormick's envelopes, a square's chord);
//! - sigmoid/tanh/softmax: not expressible in real arithmetic without the exponential, so an
//!   error naming the node (a softmax at the output is decided on its input instead when the
//!   property allows, see `verify`).

use crate::bounds::Bounds;
use crate::ir::{Network, NodeId, Op};
use crate::spec::{LinearConstraint, Region};
use z3::ast::{Ast, Bool, Real};
use z3::Solver;

/// `v` as an exact rational numeral. Panics on a non-finite value (callers check first).
pub(crate) fn exact(v: f64) -> Real {
    assert!(v.is_finite(), "exact numeral of a non-finite value");
    let (num, den) = dyadic(v);
    Real::from_rational_str(&num, &den).expect("a well-formed numeral")
}

/// `v = num / den` as decimal integer strings, `den` a power of two.
/// `v = ±m·2^e` with `m` the 53-bit significand (52 stored bits plus the implicit one, except
/// for subnormals) and `e = biased exponent − 1075`.
pub(crate) fn dyadic(v: f64) -> (String, String) {
    let bits = v.to_bits();
    let neg = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return ("0".into(), "1".into());
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i64;
    let sign = if neg { "-" } else { "" };
    if e >= 0 {
        (format!("{sign}{}", mul_pow2(m, e as u32)), "1".into())
    } else {
        (format!("{sign}{m}"), mul_pow2(1, (-e) as u32))
    }
}

/// The decimal digits of `m·2^k`, exactly (base-10^9 limbs, little-endian).
fn mul_pow2(m: u64, k: u32) -> String {
    // m < 2^64 and k < 64: the product fits in 128 bits.
    if k < 64 {
        return ((m as u128) << k).to_string();
    }
    let mut limbs: Vec<u64> = vec![m % 1_000_000_000, m / 1_000_000_000 % 1_000_000_000];
    limbs.push(m / 1_000_000_000_000_000_000);
    for _ in 0..k {
        let mut carry = 0;
        for l in limbs.iter_mut() {
            let v = *l * 2 + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && *limbs.last().expect("non-empty") == 0 {
        limbs.pop();
    }
    let mut s = limbs.last().expect("non-empty").to_string();
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

/// The nodes node `k`'s value depends on (its ancestors, node `k` included), in forward order
/// (`[0, ..., k]`); nodes not listed do not affect node `k`. On a chain network
/// ([`Network::is_chain`]) this is the single path from the input to node `k`.
pub fn path_to(net: &Network, k: usize) -> Vec<usize> {
    let anc = net.ancestors(NodeId(k));
    (0..=k).filter(|&i| anc[i]).collect()
}

/// The encoded network: input variables and the value terms of every ancestor of the target.
pub(crate) struct Encoding {
    /// One real variable per (flattened) input.
    pub x: Vec<Real>,
    /// `values[i]`: the terms of node `i`'s value, for nodes on the path (else `None`).
    pub values: Vec<Option<Vec<Real>>>,
}

/// `Σ c_i·t_i + b` as one term (`b` alone when every coefficient is zero).
fn linear(terms: impl Iterator<Item = (f64, Real)>, b: f64) -> Real {
    sum(terms, b).simplify()
}

/// `Σ c_i·t_i + b`, not simplified.
fn sum(terms: impl Iterator<Item = (f64, Real)>, b: f64) -> Real {
    let mut parts: Vec<Real> = terms
        .filter(|(c, _)| *c != 0.0)
        .map(|(c, t)| exact(c) * t)
        .collect();
    if b != 0.0 || parts.is_empty() {
        parts.push(exact(b));
    }
    Real::add(&parts)
}

/// Asserts the input box `[bounds[0].lower, bounds[0].upper]` and the encoding of every node on
/// the path to node `upto` into `solver`. `bounds` must be sound bounds of every node over that
/// box (they fix stable ReLUs). Errors name a node that cannot be encoded exactly.
///
/// With `f32` the encoding holds for every f32 evaluation too (`bounds` must then hold for the
/// f32 values): a node with an f32 residual `|r| <= R > 0` ([`crate::bounds::f32_error::residual`])
/// takes a fresh value `ŷ` with `|ŷ − y| <= R` (exact rationals), `y` the op on its inputs.
pub(crate) fn encode(
    net: &Network,
    bounds: &[Bounds],
    upto: usize,
    solver: &Solver,
    f32: bool,
) -> Result<Encoding, String> {
    let nodes = net.nodes();
    let mut values: Vec<Option<Vec<Real>>> = vec![None; nodes.len()];
    let x: Vec<Real> = (0..net.input_len())
        .map(|i| Real::new_const(format!("x{i}")))
        .collect();
    for (i, v) in x.iter().enumerate() {
        if !(bounds[0].lower[i].is_finite() && bounds[0].upper[i].is_finite()) {
            return Err(format!("input {i} is unbounded"));
        }
        solver.assert(v.ge(exact(bounds[0].lower[i])));
        solver.assert(v.le(exact(bounds[0].upper[i])));
    }
    for &i in &path_to(net, upto) {
        let node = &nodes[i];
        if i == 0 {
            values[i] = Some(x.clone());
            continue;
        }
        let value = |j: NodeId| {
            values[j.0]
                .clone()
                .expect("ancestors are in topological order")
        };
        let j = node.inputs[0].0;
        let inp = value(node.inputs[0]);
        let out = match &node.op {
            Op::Input => unreachable!("only node 0 is an input"),
            Op::Affine(a) => (0..a.weight.nrows())
                .map(|r| {
                    let w = a.weight.row(r);
                    linear(w.iter().copied().zip(inp.iter().cloned()), a.bias[r])
                })
                .collect(),
            Op::Conv(c) => conv_rows(c)
                .into_iter()
                .zip(0..)
                .map(|(taps, o)| {
                    let b = c.bias[o / (c.out_chw[1] * c.out_chw[2])];
                    linear(taps.into_iter().map(|(k, w)| (w, inp[k].clone())), b)
                })
                .collect(),
            // y = s·x + t, element-wise.
            Op::ScaleShift(s) => inp
                .iter()
                .enumerate()
                .map(|(k, t)| linear(std::iter::once((s.scale[k], t.clone())), s.shift[k]))
                .collect(),
            Op::Reshape => inp,
            Op::Relu => {
                let b = &bounds[j];
                inp.iter()
                    .enumerate()
                    .map(|(k, z)| {
                        let (l, u) = (b.lower[k], b.upper[k]);
                        if l >= 0.0 {
                            z.clone()
                        } else if u <= 0.0 {
                            exact(0.0)
                        } else {
                            relu(solver, z, l, u)
                        }
                    })
                    .collect()
            }
            Op::Sigmoid | Op::Tanh | Op::Softmax(_) => return Err(no_exact_encoding(net, i)),
            Op::Sign => {
                let b = &bounds[j];
                let w = net.sign_widening(i);
                inp.iter()
                    .enumerate()
                    .map(|(k, z)| {
                        let w = w.map_or(0.0, |w| w[k]);
                        sign(solver, z, b.lower[k], b.upper[k], w)
                    })
                    .collect()
            }
            Op::Square => {
                let b = &bounds[j];
                inp.iter()
                    .enumerate()
                    .map(|(k, z)| product(solver, z, z, [b.lower[k], b.upper[k]], None))
                    .collect()
            }
            Op::Mul => {
                let (a, b) = (&bounds[j], &bounds[node.inputs[1].0]);
                let other = value(node.inputs[1]);
                inp.iter()
                    .zip(&other)
                    .enumerate()
                    .map(|(k, (x, y))| {
                        let yb = [b.lower[k], b.upper[k]];
                        product(solver, x, y, [a.lower[k], a.upper[k]], Some(yb))
                    })
                    .collect()
            }
            // y = Σ_p x_p, element-wise.
            Op::Add => {
                let parts: Vec<Vec<Real>> = node.inputs.iter().map(|&p| value(p)).collect();
                (0..inp.len())
                    .map(|e| linear(parts.iter().map(|p| (1.0, p[e].clone())), 0.0))
                    .collect()
            }
            Op::Concat => node.inputs.iter().flat_map(|&p| value(p)).collect(),
            Op::Gather { index } => index.iter().map(|&e| inp[e].clone()).collect(),
        };
        let out = match f32 {
            true => perturbed(
                solver,
                i,
                out,
                &crate::bounds::f32_error::residual(net, i, bounds),
            ),
            false => out,
        };
        values[i] = Some(out);
    }
    Ok(Encoding { x, values })
}

/// The f32 values `ŷ_e` of node `i`, `|ŷ_e − y_e| <= r_e` (see [`encode`]); `y_e` itself where
/// `r_e = 0`. An infinite `r_e` leaves `ŷ_e` free.
fn perturbed(solver: &Solver, i: usize, y: Vec<Real>, r: &[f64]) -> Vec<Real> {
    (y.into_iter().zip(r).enumerate())
        .map(|(e, (y, &r))| {
            if r == 0.0 {
                return y;
            }
            let v = Real::new_const(format!("f32_{i}_{e}"));
            if r.is_finite() {
                solver.assert(v.ge(&(&y - exact(r))));
                solver.assert(v.le(&(&y + exact(r))));
            }
            v
        })
        .collect()
}

/// Why node `i` (a sigmoid or tanh) cannot be encoded.
pub(crate) fn no_exact_encoding(net: &Network, i: usize) -> String {
    let n = &net.nodes()[i];
    format!(
        "node {i} `{}` is a {}: it has no exact encoding in linear real arithmetic, and the SMT \
         engine does not approximate",
        n.name,
        n.op.name()
    )
}

/// An unstable ReLU `a = max(0, z)` with `z ∈ [l, u]`, `l < 0 < u` (see the module doc).
fn relu(solver: &Solver, z: &Real, l: f64, u: f64) -> Real {
    // The pre-activation gets its own variable: its (long) expression appears once.
    let zv = Real::fresh_const("z");
    solver.assert(zv.eq(z));
    let z = &zv;
    let a = Real::fresh_const("a");
    let p = Bool::fresh_const("p");
    let zero = exact(0.0);
    solver.assert(p.implies(Bool::and(&[z.ge(&zero), a.eq(z)])));
    solver.assert(p.not().implies(Bool::and(&[z.le(&zero), a.eq(&zero)])));
    if !(l.is_finite() && u.is_finite()) {
        // Bounds that overflowed give no cuts; the phase constraints alone are exact.
        return a;
    }
    let (lo, hi) = (exact(l), exact(u));
    solver.assert(z.ge(&lo));
    solver.assert(z.le(&hi));
    solver.assert(a.ge(&zero));
    solver.assert(a.ge(z));
    // (u − l)·a <= u·(z − l): the chord through (l, 0) and (u, u), exact.
    solver.assert(((&hi - &lo) * &a).le(&hi * (z - &lo)));
    a
}

/// `sign(z)` with `z ∈ [l, u]`: the constant when the bounds fix it, else
/// `ite(z > 0, 1, ite(z < 0, −1, 0))` (exact).
fn sign(solver: &Solver, z: &Real, l: f64, u: f64, w: f64) -> Real {
    // A widened step (`Network::set_sign_widening`): the sign of any `t` with `|t − z| <= w`.
    // `l − w`, `u + w` have the sign of the exact differences (floats subtract to 0 only when
    // equal), so the constant cases stay exact.
    if l - w > 0.0 {
        return exact(1.0);
    }
    if u + w < 0.0 {
        return exact(-1.0);
    }
    if l == 0.0 && u == 0.0 && w == 0.0 {
        return exact(0.0);
    }
    // The input gets its own variable: its (long) expression appears once. Widened, it is a
    // fresh `t` within `w` of the input (unconstrained when `w` is not finite).
    let zv = Real::fresh_const("z");
    if w == 0.0 {
        solver.assert(zv.eq(z));
    } else if w.is_finite() {
        solver.assert(zv.ge(&(z.clone() - exact(w))));
        solver.assert(zv.le(&(z.clone() + exact(w))));
    }
    let zero = exact(0.0);
    zv.gt(&zero)
        .ite(&exact(1.0), &zv.lt(&zero).ite(&exact(-1.0), &zero))
}

/// `x·y` (`y = x` for a square, `yb = None`) as a nonlinear product of two fresh variables
/// equal to the inputs, which Z3 decides exactly (or answers unknown). Sound cuts from the
/// bounds `x ∈ xb`, `y ∈ yb` (when finite) help it: a square is at least 0 and below its chord
/// `(l + u)·x − l·u`; a product lies in McCormick's envelopes. All with exact rationals.
fn product(solver: &Solver, x: &Real, y: &Real, xb: [f64; 2], yb: Option<[f64; 2]>) -> Real {
    let xv = Real::fresh_const("m");
    solver.assert(xv.eq(x));
    let yv = match yb {
        None => xv.clone(),
        Some(_) => {
            let yv = Real::fresh_const("m");
            solver.assert(yv.eq(y));
            yv
        }
    };
    let p = Real::fresh_const("p");
    solver.assert(p.eq(&xv * &yv));
    let finite = |b: [f64; 2]| b.iter().all(|v| v.is_finite());
    match yb {
        None if finite(xb) => {
            let (l, u) = (exact(xb[0]), exact(xb[1]));
            solver.assert(p.ge(exact(0.0)));
            // (x − l)(x − u) <= 0 on [l, u]: x² <= (l + u)·x − l·u.
            solver.assert(p.le(&(&l + &u) * &xv - &l * &u));
        }
        Some(yb) if finite(xb) && finite(yb) => {
            let (xl, xu, yl, yu) = (exact(xb[0]), exact(xb[1]), exact(yb[0]), exact(yb[1]));
            solver.assert(p.ge(&yl * &xv + &xl * &yv - &xl * &yl));
            solver.assert(p.ge(&yu * &xv + &xu * &yv - &xu * &yu));
            solver.assert(p.le(&yu * &xv + &xl * &yv - &xl * &yu));
            solver.assert(p.le(&yl * &xv + &xu * &yv - &xu * &yl));
        }
        _ => {}
    }
    p
}

/// The sparse rows of a convolution: `rows[o]` lists `(input index, weight)` for output `o`,
/// taken from [`crate::ir::Conv2d::for_each_tap`] (zero padding is left out).
fn conv_rows(c: &crate::ir::Conv2d) -> Vec<Vec<(usize, f64)>> {
    let mut rows = vec![Vec::new(); c.out_len()];
    c.for_each_tap(|o, i, w| rows[o].push((i, w)));
    rows
}

/// `a·y <= b − margin` over output terms `y` (exact `a`, `b`, `margin`). A right-hand side of
/// `+∞` (a bad case loosened by an unbounded f32 slack) holds everywhere: `true`.
pub(crate) fn constraint(c: &LinearConstraint, y: &[Real], margin: f64) -> Bool {
    if c.rhs == f64::INFINITY && margin.is_finite() {
        return Bool::from_bool(true);
    }
    let lhs = sum(c.coeffs.iter().map(|&(k, a)| (a, y[k].clone())), 0.0);
    lhs.le(exact(c.rhs) - exact(margin))
}

/// The region's bad case: `∨_d ∧_k a_dk·y <= b_dk − margin`.
pub(crate) fn bad_case(region: &Region, y: &[Real], margin: f64) -> Bool {
    let ds: Vec<Bool> = region
        .disjuncts
        .iter()
        .map(|d| {
            let cs: Vec<Bool> = d
                .constraints
                .iter()
                .map(|c| constraint(c, y, margin))
                .collect();
            Bool::and(&cs)
        })
        .collect();
    Bool::or(&ds)
}

/// A model's value of `t` as the nearest f64 (exact when the rational fits in i64s).
pub(crate) fn model_value(model: &z3::Model, t: &Real) -> Option<f64> {
    let v = model.eval(t, true)?;
    if let Some((n, d)) = v.as_rational() {
        if n.unsigned_abs() < (1 << 53) && d.unsigned_abs() < (1 << 53) {
            return Some(n as f64 / d as f64);
        }
    }
    v.approx(40).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::dyadic;

    #[test]
    fn dyadic_rationals_are_exact() {
        let d = |v: f64| dyadic(v);
        assert_eq!(d(0.0), ("0".into(), "1".into()));
        assert_eq!(d(-2.5), ("-5".into(), "2".into()));
        // fl(0.1) = 3602879701896397 / 2^55.
        assert_eq!(
            d(0.1),
            ("3602879701896397".into(), "36028797018963968".into())
        );
        assert_eq!(
            d(2f64.powi(70)),
            ("1180591620717411303424".into(), "1".into())
        );
        // The smallest subnormal, 2^-1074: a 324-digit power of two.
        let (n, den) = d(f64::from_bits(1));
        assert_eq!(n, "1");
        assert_eq!(den.len(), 324);
        assert!(
            den.starts_with("2024022533") && den.ends_with("4784"),
            "{den}"
        );
        // The largest f64: (2^53 − 1)·2^971, 309 digits.
        let (n, den) = d(f64::MAX);
        assert_eq!((n.len(), den.as_str()), (309, "1"));
        assert!(n.starts_with("17976931348623157"), "{n}");
    }
}
