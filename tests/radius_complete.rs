//! `radius --engine complete`: it starts from the alpha pass's radius and only raises it, stays
//! below the attack radius, and closes the gap: just beyond it lies a replayed counterexample.

mod common;

use certus::bounds::Method;
use certus::outcome::confirm;
use certus::radius::{self, Certifier, Preprocess, RadiusOptions};
use certus::report::Layout;
use certus::spec::Property;
use common::{relu_net, self_labelled};
use std::time::Duration;

#[test]
fn complete_radius_lies_between_alpha_and_a_replayed_counterexample() {
    let tol = 1e-3;
    let opts = RadiusOptions {
        engines: vec![Certifier::Bound(Method::Alpha), Certifier::Complete],
        eps_max: 0.5,
        tolerance: tol,
        eps_grid: vec![0.05, 0.1, 0.2],
        time_budget: Some(Duration::from_secs(5)),
        ..RadiusOptions::default()
    };
    let mut raised = 0;
    let mut closed = 0;
    for seed in 0..3 {
        let net = relu_net(seed, 3, 16);
        let pre =
            Preprocess::new(1.0, vec![0.0], vec![1.0], net.input_shape(), Layout::Auto).unwrap();
        let samples = self_labelled(&net, 6, seed + 200);
        let (inputs, summary) = radius::run(&net, &samples, &pre, &opts, &|| {});
        assert_eq!(summary.soundness_violations, 0);
        for (r, s) in inputs.iter().zip(&samples) {
            let (alpha, complete) = (r.radii[0].radius, r.radii[1].radius);
            assert!(complete >= alpha, "input {}: {complete} < {alpha}", r.index);
            let Some(att) = r.attack_radius else {
                continue;
            };
            assert!(complete < att, "input {}: {complete} >= {att}", r.index);
            raised += usize::from(complete > alpha);
            // The counterexample at the attack radius replays on the plain box there.
            let (lo, hi) = pre.eps_box(&s.pixels, att, false);
            let prop = Property::robustness(lo, hi, r.label, net.output_len());
            let cex = r.counterexample.as_ref().expect("a counterexample");
            assert!(
                confirm(&net, &prop, &cex.input).is_some(),
                "input {}",
                r.index
            );
            // Three inputs: the search is exact, so the gap closes to the tolerance.
            assert!(
                att - complete <= tol,
                "input {}: gap {} ({})",
                r.index,
                att - complete,
                r.radii[1].how
            );
            closed += 1;
        }
    }
    assert!(closed >= 10, "only {closed} inputs attacked");
    assert!(raised > 0, "the search never beat the alpha pass");
}
