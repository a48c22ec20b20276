//! One attack at one ε over labelled data (`certus attack --data`): for each input, the
//! robustness property of its label over the clipped ε-ball ([`Preprocess::eps_box`]), attacked
//! from the input itself, every counterexample replayed by [`find_counterexamples`]; and the
//! counterexamples of a run, with their true labels, as dataset rows ([`dataset_rows`]).

use super::{argmax, Preprocess, Sample};
use crate::attack::{find_counterexamples, SearchOptions};
use crate::deadline::Deadline;
use crate::ir::Network;
use crate::outcome::Counterexample;
use crate::report::DatasetRow;
use crate::spec::Property;
use rayon::prelude::*;

/// What the attack found around one labelled input.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackedInput {
    pub index: usize,
    pub label: usize,
    /// Arg max of the f64 output on the clean input.
    pub prediction: usize,
    /// False when the deadline had passed before this input's turn.
    pub attacked: bool,
    /// The replayed counterexamples, nearest first for `lbfgs`, else in the order found.
    pub found: Vec<Counterexample>,
    /// The clean input in network space: the attack's start, and where distances are measured
    /// from.
    pub clean: Vec<f64>,
}

/// Attacks every sample at radius `eps` (pixel space) with `opts` (its `start` is set to each
/// input), in parallel on the current rayon pool, calling `progress` after each; stops starting
/// new inputs at `deadline`.
pub fn attack_samples(
    net: &Network,
    samples: &[Sample],
    pre: &Preprocess,
    eps: f64,
    opts: &SearchOptions,
    deadline: Deadline,
    progress: &(dyn Fn() + Sync),
) -> Vec<AttackedInput> {
    samples
        .par_iter()
        .map(|s| {
            let clean = pre.normalise(&s.pixels);
            let prediction = argmax(&net.eval_f64(&clean));
            let (lo, hi) = pre.eps_box(&s.pixels, eps, false);
            let prop = Property::robustness(lo, hi, s.label, net.output_len());
            let attacked = !deadline.expired();
            let found = match attacked {
                true => {
                    let o = SearchOptions {
                        start: Some(clean.clone()),
                        ..opts.clone()
                    };
                    find_counterexamples(net, &prop, &o, deadline)
                }
                false => vec![],
            };
            progress();
            AttackedInput {
                index: s.index,
                label: s.label,
                prediction,
                attacked,
                found,
                clean,
            }
        })
        .collect()
}

/// Dataset rows of counterexamples, each with the true label of the input it was found around.
pub fn dataset_rows<'a>(
    pre: &Preprocess,
    found: impl IntoIterator<Item = (usize, &'a Counterexample)>,
) -> Vec<DatasetRow> {
    found
        .into_iter()
        .map(|(label, c)| DatasetRow {
            label,
            input: c.input.clone(),
            raw: pre.to_raw(&c.input),
        })
        .collect()
}
