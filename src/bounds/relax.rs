//! Linear relaxations of the nonlinear ops, shared by every engine that needs them (the dual
//! network, optimised slopes, the LP): the ReLU triangle here, the S-shapes' lines in
//! `sshape.rs`, the step in `sign.rs`, the square and the product in `product.rs`, softmax in `softmax.rs`.

mod product;
mod sign;
mod softmax;
mod sshape;

pub use product::{mul_planes, square_lines, square_tangent, Planes};
pub use sign::{sign_lines, sign_lines_widened};
pub use softmax::{softmax_interval, softmax_lines, SoftmaxLines};
pub use sshape::{SShape, Tangents};

use crate::ir::{Network, Op};

/// A ReLU neuron's phase over its pre-activation bounds `[l, u]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReluPhase {
    /// `l >= 0`: `relu(z) = z`.
    Active,
    /// `u <= 0`: `relu(z) = 0`.
    Inactive,
    /// `l < 0 < u`: the triangle `ẑ >= 0, ẑ >= z, ẑ <= s·(z − l)` with `s = u/(u − l)`.
    /// `upper_slope` is `s` rounded up, so the upper line is valid in exact arithmetic:
    /// a line through `(l, 0)` lies above the ReLU on `[l, u]` iff its slope is `>= u/(u − l)`.
    Unstable { upper_slope: f64 },
}

/// The phase of a ReLU with pre-activation bounds `[l, u]`.
pub fn relu_phase(l: f64, u: f64) -> ReluPhase {
    if l >= 0.0 {
        ReluPhase::Active
    } else if u <= 0.0 {
        ReluPhase::Inactive
    } else {
        // fl(u − l) may round up; next_down makes the divisor <= the exact u − l, and next_up
        // the quotient >= the exact s.
        ReluPhase::Unstable {
            upper_slope: (u / (u - l).next_down()).next_up(),
        }
    }
}

/// Linear bounds `lo_a·z + lo_b <= f(z) <= up_a·z + up_b` for all `z ∈ [l, u]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lines {
    pub lo_a: f64,
    pub lo_b: f64,
    pub up_a: f64,
    pub up_b: f64,
}

/// The lines of node `i`'s element-wise curve op as a function of its element `k` and that
/// element's input bounds `(l, u)`: [`curve`], except that a `Sign` node the network widens
/// ([`Network::set_sign_widening`]) takes [`sign_lines_widened`]. `None` for other ops. Every
/// engine takes its curve lines from here.
pub fn node_curve(net: &Network, i: usize) -> Option<impl Fn(usize, f64, f64) -> Lines + '_> {
    let f = curve(&net.nodes()[i].op)?;
    let w = net.sign_widening(i);
    Some(move |k: usize, l: f64, u: f64| match w {
        Some(w) => sign_lines_widened(l, u, w[k]),
        None => f(l, u),
    })
}

/// The lines of an element-wise curve op (sigmoid, tanh, sign, square) as a function of its
/// input's bounds `(l, u)`; `None` for every other op (ReLU's triangle depends on the caller's
/// lower slope, and the others are not element-wise curves).
pub fn curve(op: &Op) -> Option<fn(f64, f64) -> Lines> {
    match op {
        Op::Sigmoid => Some(|l, u| SShape::Sigmoid.lines(l, u)),
        Op::Tanh => Some(|l, u| SShape::Tanh.lines(l, u)),
        Op::Sign => Some(sign_lines),
        Op::Square => Some(square_lines),
        Op::Input | Op::Affine(_) | Op::Conv(_) | Op::ScaleShift(_) | Op::Reshape | Op::Relu => {
            None
        }
        Op::Add | Op::Concat | Op::Gather { .. } | Op::Mul | Op::Softmax(_) => None,
    }
}
