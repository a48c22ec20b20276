//! Attack starts from the linear relaxation: for each row `a·y <= b` of a disjunct, the corner of
//! the region's box where the CROWN relaxation of `a·y` is smallest (`x_i = l_i` where the pass's
//! `λ` at the input is `>= 0`, else `u_i`). Where most of the box is flat (every ReLU of a layer
//! inactive, as on collins_rul_cnn's `if_then` properties: the output is one constant on random
//! samples) PGD from the centre or random points has no gradient to follow, while the corner
//! that drives the relaxation's bound points to where the output does move.
//!
//! These are only start points: whatever PGD finds from them is replayed by `confirm` before
//! anything is reported.

use crate::bounds::dual::{DualNetwork, Slopes};
use crate::deadline::Deadline;
use crate::ir::Op;
use crate::spec::Region;
use ndarray::Array2;

/// Per disjunct of `region`, one start per row (see the module doc); empty past `deadline`.
pub(super) fn relaxation_corners(
    dual: &DualNetwork,
    region: &Region,
    deadline: Deadline,
) -> Vec<Vec<Vec<f64>>> {
    let net = dual.network();
    let (lo, hi) = region.proof_box();
    let bounds = dual.all_bounds(&lo, &hi, Slopes::Adaptive, deadline);
    if deadline.expired() {
        return Vec::new();
    }
    let out = net.nodes().len() - 1;
    let width = net.len_of(crate::ir::NodeId(out));
    region
        .disjuncts
        .iter()
        .map(|d| {
            let m = d.constraints.len();
            let mut c = Array2::zeros((m, width));
            for (r, con) in d.constraints.iter().enumerate() {
                for &(k, a) in &con.coeffs {
                    c[[r, k]] = a;
                }
            }
            // Per-row adaptive slopes, so that the pass keeps `λ` at the input on every network.
            let alphas: Vec<Option<Array2<f64>>> = net
                .nodes()
                .iter()
                .map(|n| {
                    (n.op == Op::Relu).then(|| {
                        let b = &bounds[n.input().0];
                        Array2::from_shape_fn((m, b.len()), |(_, k)| {
                            f64::from(u8::from(b.upper[k] >= -b.lower[k]))
                        })
                    })
                })
                .collect();
            let pass = dual.backward::<f64>(&bounds, out, &c, Slopes::PerRow(&alphas));
            pass.input_lambda
                .rows()
                .into_iter()
                .map(|lam| {
                    lam.iter()
                        .enumerate()
                        .map(|(i, &l)| {
                            if l >= 0.0 {
                                region.lower[i]
                            } else {
                                region.upper[i]
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}
