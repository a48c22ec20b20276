//! One subproblem of the ReLU-split search (a region's disjunct as dense rows) and its root
//! bounds: what the search loop, branching, bounding and the exact leaves all read.

use crate::ir::Network;
use crate::spec::Disjunct;
use ndarray::Array2;

/// One subproblem: a disjunct of one region, as dense rows `c_s·y − rhs_s`.
pub(crate) struct Sub {
    /// `rows × n_out`.
    pub c: Array2<f64>,
    pub rhs: Vec<f64>,
    /// The disjunct itself (for the exact leaves).
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
    pub fn new(net: &Network, d: &Disjunct) -> Self {
        let mut c = Array2::zeros((d.constraints.len(), net.output_len()));
        for (r, con) in d.constraints.iter().enumerate() {
            for &(i, a) in &con.coeffs {
                c[[r, i]] = a;
            }
        }
        Sub {
            c,
            rhs: d.constraints.iter().map(|con| con.rhs).collect(),
            spec: d.clone(),
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
