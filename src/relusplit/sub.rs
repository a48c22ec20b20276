//! One subproblem of the ReLU-split search (a region's disjunct as dense rows) and its root
//! bounds: what the search loop, branching, bounding and the exact leaves all read.

use crate::bounds::f32_error::proof_rhs;
use crate::bounds::Bounds;
use crate::ir::Network;
use crate::spec::Disjunct;
use ndarray::Array2;

/// One subproblem: a disjunct of one region, as dense rows `c_s·y − rhs_s`.
pub(crate) struct Sub {
    /// `rows × n_out`.
    pub c: Array2<f64>,
    pub rhs: Vec<f64>,
    /// The disjunct itself, its right-hand sides as `rhs` (for the exact leaves).
    pub spec: Disjunct,
    /// The root's bound and slopes.
    pub root: RootRows,
}

/// A subproblem's root rows: their bounds and optimised slopes (`rows × unstable`).
#[derive(Clone, Debug, Default)]
pub(crate) struct RootRows {
    pub lb: Vec<f64>,
    pub alpha: Vec<f32>,
}

impl Sub {
    /// The subproblem of disjunct `d`, `out` the root's bounds of the output. Each row's `rhs`
    /// (and the disjunct's, for the exact leaves) covers the file's decimals:
    /// `b + u·(|b| + Σ|a_k|·max|y_k|)` ([`proof_rhs`] with no output error: the passes keep the
    /// f32 evaluation's error themselves, `DualNetwork::keeping_f32`).
    pub fn new(net: &Network, d: &Disjunct, out: &Bounds) -> Self {
        let mut c = Array2::zeros((d.constraints.len(), net.output_len()));
        for (r, con) in d.constraints.iter().enumerate() {
            for &(i, a) in &con.coeffs {
                c[[r, i]] = a;
            }
        }
        let no_err = vec![0.0; net.output_len()];
        let mut spec = d.clone();
        for con in &mut spec.constraints {
            con.rhs = proof_rhs(con, &no_err, out);
        }
        Sub {
            c,
            rhs: spec.constraints.iter().map(|con| con.rhs).collect(),
            spec,
            root: RootRows::default(),
        }
    }

    /// The best root bound among the rows (the subproblem is refuted when it is `> 0`).
    pub fn worst(&self) -> f64 {
        self.root
            .lb
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}
