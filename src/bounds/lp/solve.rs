//! The good_lp glue: hands [`Model`]'s rows to a backend and reads back one multiplier per row.
//! Nothing here is trusted: the multipliers only feed [`super::lagrangian`].

use super::model::{Model, Sense};
use super::Backend;
use good_lp::constraint::ConstraintReference;
use good_lp::solvers::{DualValues, SolutionWithDual};
use good_lp::{variable, Expression, ProblemVariables, Solution, SolverModel, Variable};

/// The multipliers of `min obj·x` over `model`, one per row in good_lp's shadow-price
/// convention; `None` when the solve fails (infeasible, unbounded, numerical trouble).
pub(crate) fn duals(model: &Model, obj: &[(usize, f64)], backend: Backend) -> Option<Vec<f64>> {
    solve(model, obj, backend).map(|(mu, _)| mu)
}

/// [`duals`], and the solver's value of every variable (only a candidate: nothing checks it).
pub(crate) fn solve(
    model: &Model,
    obj: &[(usize, f64)],
    backend: Backend,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut vars = ProblemVariables::new();
    let xs: Vec<Variable> = model
        .lower
        .iter()
        .zip(&model.upper)
        .map(|(&l, &u)| vars.add(variable().min(l).max(u)))
        .collect();
    let mut objective = Expression::with_capacity(obj.len());
    for &(v, c) in obj {
        objective.add_mul(c, xs[v]);
    }
    let problem = vars.minimise(objective);
    match backend {
        Backend::Clarabel => solve_rows(problem.using(good_lp::clarabel), model, &xs),
        #[cfg(feature = "highs")]
        Backend::Highs => solve_rows(problem.using(good_lp::highs), model, &xs),
    }
}

/// Adds the rows, solves, and reads the dual value of every row and the value of every variable.
fn solve_rows<M>(mut pb: M, model: &Model, xs: &[Variable]) -> Option<(Vec<f64>, Vec<f64>)>
where
    M: SolverModel,
    M::Solution: for<'a> SolutionWithDual<'a>,
{
    let refs: Vec<ConstraintReference> = model
        .rows
        .iter()
        .map(|row| {
            let mut e = Expression::with_capacity(row.terms.len());
            for &(v, a) in &row.terms {
                e.add_mul(a, xs[v]);
            }
            pb.add_constraint(match row.sense {
                Sense::Eq => e.eq(row.rhs),
                Sense::Ge => e.geq(row.rhs),
                Sense::Le => e.leq(row.rhs),
            })
        })
        .collect();
    let mut sol = pb.solve().ok()?;
    let values = xs.iter().map(|&x| sol.value(x)).collect();
    let d = sol.compute_dual();
    Some((refs.into_iter().map(|r| d.dual(r)).collect(), values))
}
