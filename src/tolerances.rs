//! Every tolerance certus uses, in one place, each with the reason for its value.
//!
//! Soundness rule: a number that *proves* something (a lower bound used to refute a disjunct) is
//! only ever moved in the safe direction by these constants; a number that *falsifies* something
//! (a counterexample) must pass the property with no tolerance at all, in both f32 and f64.

/// Unit roundoff of f64 (2^-53): the relative error of one correctly rounded operation.
pub const F64_UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// `gamma(n) = n·u / (1 − n·u)` bounds the relative error of a length-`n` dot product computed
/// in f64 in any order (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1):
/// `|fl(w·x) − w·x| <= gamma(n) · Σ|w_i||x_i|`. Interval and bound propagation pad every
/// affine result outward by this much (times 2, for the second dot product `|W|·r` whose
/// own error is absorbed by the doubling) so that the bounds hold for the exact real network.
pub fn gamma(n: usize) -> f64 {
    gamma_u(n, F64_UNIT_ROUNDOFF)
}

/// Unit roundoff of f32 (2^-24): backward passes over wide layers run their matrix products in
/// f32 (twice the SIMD lanes) and bound their error with [`gamma_u`]`(n, F32_UNIT_ROUNDOFF)`.
pub const F32_UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;

/// Higham's `γ_n = n·u / (1 − n·u)` itself (infinity once `n·u >= 1/2`): the relative error
/// bound of a length-`n` dot product (or of `n` roundings in a row) in an arithmetic with unit
/// roundoff `u`, in any summation order and with or without fused multiply-adds. The backward
/// passes of the dual network use it where exactly that is bounded (one matrix product, whose
/// error-bound sums are themselves computed in f64 and padded separately).
pub fn gamma_dot(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    if nu >= 0.5 {
        return f64::INFINITY;
    }
    nu / (1.0 - nu)
}

/// [`gamma`] for an arithmetic with unit roundoff `u`: `2·(n + 2)·u / (1 − (n + 2)·u)`, or
/// infinity once `(n + 2)·u >= 1/2` (no relative bound is claimed then).
pub fn gamma_u(n: usize, u: f64) -> f64 {
    let nu = (n as f64 + 2.0) * u;
    if nu >= 0.5 {
        return f64::INFINITY;
    }
    2.0 * nu / (1.0 - nu)
}

/// The smallest positive normal f64. Below it products lose their relative accuracy (gradual
/// underflow), so every step of a backward pass in f64 allows each of its operations this much
/// absolute error on top of its relative error bound; it also covers a subnormal flushed to zero.
pub const F64_UNDERFLOW: f64 = f64::MIN_POSITIVE;

/// [`F64_UNDERFLOW`] for passes (or products) run in f32: the smallest positive normal f32.
pub const F32_UNDERFLOW: f64 = f32::MIN_POSITIVE as f64;

/// The smallest positive subnormal f32, `2^-149`: twice the absolute error of one f32 rounding
/// that underflows (onnxruntime keeps subnormals by default, so such a rounding errs by at most
/// half the subnormal spacing; the factor 2 is margin). See `bounds::f32_error::underflow`.
pub const F32_SUBNORMAL: f64 = 1.401298464324817e-45;

/// The smallest positive subnormal f64, `2^-1074`: the absolute error bound of one f64 product
/// that underflows (half of it, doubled), used where each product's error is counted one by one
/// (the LP's Lagrangian recomputation).
pub const F64_SUBNORMAL: f64 = f64::from_bits(1);

/// Relative pad on a backward pass's accumulated error bound `err` before it is subtracted.
/// `err` is itself a sum of non-negative f64 terms (each a product of a `gamma` with a sum of
/// non-negative products), so the computed total is below the exact one by at most
/// `gamma_dot(n, F64_UNIT_ROUNDOFF)` relative, `n` the longest chain of additions and products
/// behind it (a row's width plus the number of steps, plus a few). `1e-9` covers every `n` below
/// about 9 million; the dual network takes the larger of this and `gamma_dot(n)` for its own
/// `n`, so larger networks stay sound too.
pub const ERROR_SUM_PAD: f64 = 1e-9;

/// S-shaped activations (sigmoid, tanh) whose pre-activation interval is narrower than this get
/// constant lines `[min f, max f]` instead of a chord and tangent: the chord's slope
/// `(f(u) − f(l))/(u − l)` divides libm's error (a few ulps, [`ACTIVATION_PAD`] covers it in
/// the intercepts) by `u − l`, so below this width the slope is mostly noise, and the constant
/// lines are both valid (f is monotone) and within `f'·(u − l) <= 1e-9` of the best lines.
pub const SSHAPE_MIN_WIDTH: f64 = 1e-9;

/// An error bound that is itself a sum of non-negative floating-point terms is multiplied by
/// this before use (the input-split kernels, `crate::search`): the same reasoning and margin
/// as [`ERROR_SUM_PAD`], as a factor.
pub const SUM_SLACK: f64 = 1.0 + ERROR_SUM_PAD;

/// Absolute padding added to every padded bound, so that underflow (subnormal products lose
/// their relative accuracy) can never make a bound too tight. Far below any meaningful margin.
pub const UNDERFLOW_PAD: f64 = 1e-300;

/// Sigmoid and tanh are evaluated with libm's `exp`/`tanh`, which are accurate to a few ulps
/// but not correctly rounded; their interval images are padded outward by this absolute amount
/// (their values lie in [−1, 1], so 2^-40 is thousands of ulps and comfortably covers libm).
pub const ACTIVATION_PAD: f64 = 1.0 / (1u64 << 40) as f64;

/// libm's `exp` is accurate to a few ulps (relative `~1e-16`) but not correctly rounded; the
/// softmax bounds multiply each exponential by `1 ± EXP_REL_PAD` (2^-40, thousands of ulps), so
/// they hold whatever libm's last bits are (see `bounds::round::exp_up`).
pub const EXP_REL_PAD: f64 = 1.0 / (1u64 << 40) as f64;

/// What an f32 sigmoid or tanh may differ from the exact function at the same f32 argument,
/// in the evaluator VNN-COMP judges by (onnxruntime's MLAS uses polynomial and rational
/// approximations, accurate to a few f32 ulps of values in [−1, 1]): 2^-20 is 16 ulps of 1.
/// An assumption about that evaluator, not a proven bound; see `docs/soundness.md`.
pub const F32_ACTIVATION_ERROR: f64 = 1.0 / (1u64 << 20) as f64;

/// Relative tolerance when `certus eval` output is compared against onnxruntime's reference
/// outputs in the tests (f32 arithmetic with another summation order differs by ~1e-7).
pub const REFERENCE_REL_TOL: f64 = 1e-5;

/// When a Z3 model does not replay (it sits on a constraint's boundary and f32 rounding pushes
/// it out), the SMT engine asks again for a model that beats every output constraint of a
/// disjunct by this margin, relative to `1 + max|y|` at the first model, one margin after the
/// other. A margin only ever costs `sat` answers (the stronger query may be unsat), never
/// soundness: the answer of a margin query is used only to produce candidates for replay.
pub const SMT_REPAIR_MARGINS: [f64; 3] = [1e-7, 1e-5, 1e-3];

/// The margin queries above also keep this share of each input's width away from the box
/// faces, so that rounding the model to f32 stays inside the box.
pub const SMT_REPAIR_INTERIOR: f64 = 1e-6;

/// A Z3 model that does not replay is first moved this share of the way towards the box centre
/// (one candidate each, smallest first): a vertex on a constraint's boundary is often broken only
/// by rounding, and the smallest pull that survives it changes the point least. Only candidates
/// for replay, never a proof.
pub const SMT_REPAIR_CENTRE_PULLS: [f64; 4] = [1e-9, 1e-7, 1e-5, 1e-3];

/// Then signed-gradient steps on the margin, each moving every input this share of its box
/// width ([`SMT_REPAIR_STEPS`] steps per size, smallest size first). Candidates only.
pub const SMT_REPAIR_STEP_FRACS: [f64; 3] = [1e-7, 1e-5, 1e-3];

/// Signed-gradient steps per size in [`SMT_REPAIR_STEP_FRACS`]: 20 steps of `1e-3` reach 2% of
/// the box width, past which the point is no longer a repair of Z3's model.
pub const SMT_REPAIR_STEPS: usize = 20;

/// Adam's `ε` in the Carlini–Wagner attack: keeps the step finite where the second moment is
/// zero (an input the margin does not depend on); far below any squared gradient that matters.
pub const ADAM_EPSILON: f64 = 1e-12;

/// L-BFGS's sufficient-decrease constant (Armijo): a projected step is taken when it lowers
/// the objective by at least this share of what the gradient predicts (Nocedal & Wright's usual
/// `1e-4`: almost any decrease counts, so steps are rarely cut short on a piecewise-linear
/// margin). Only steers an attack; every point it finds is replayed.
pub const LBFGS_ARMIJO: f64 = 1e-4;

/// L-BFGS keeps a pair `(s, y)` only when `s·y > LBFGS_CURVATURE · s·s`: the inverse-Hessian
/// estimate must stay positive definite, and across a ReLU kink `y` can turn against `s`. The
/// distance term alone gives `s·y >= 2c·s·s`, so only a margin kink that outweighs it is dropped.
pub const LBFGS_CURVATURE: f64 = 1e-10;

/// L-BFGS stops when no free coordinate's gradient exceeds this (in box-reach units): the
/// projected gradient vanishes at a box-constrained minimum.
pub const LBFGS_GRADIENT_TOL: f64 = 1e-10;

/// L-BFGS stops when a step lowers the objective by less than this share of its size: the
/// minimiser is then as good as found (the distance it changes is far below what replay in f32
/// can tell apart).
pub const LBFGS_DECREASE_TOL: f64 = 1e-9;
