//! DLV (discretised layer-by-layer search, Huang et al. CAV 2017): networks built to have an
//! adversarial example on the grid, to be safe, and to hide one between grid points; the
//! `verify` engine and the `certus dlv` command; and (ignored, slow) the mnistfc networks with
//! the shared MNIST images.

mod common;

use certus::bench::Expected;
use certus::dlv::{linf_ball, search, DlvConfig, DlvOutcome};
use certus::import::load_network;
use certus::ir::Network;
use certus::outcome::{confirm, Verdict};
use certus::smt::{solve, SmtOutcome};
use certus::spec::Property;
use certus::verify::{verify, Engine, Options};
use common::{mlp, root, shared_benchmarks, within};
use std::process::Command;
use std::time::{Duration, Instant};

/// The robustness property of `label` over the unclipped L∞ ball of radius `eps` around `x`.
fn ball_prop(x: &[f64], label: usize, eps: f64, n_out: usize) -> Property {
    let (lo, hi) = linf_ball(x, eps, None);
    Property::robustness(lo, hi, label, n_out)
}

/// Two classes over `x ∈ R²`: `y0 = relu(x0 + x1) + 0·relu(x0 − x1)`, `y1 = c`.
fn sum_vs_const(c: f64) -> Network {
    mlp(
        2,
        &[
            (vec![vec![1.0, 1.0], vec![1.0, -1.0]], vec![0.0, 0.0], true),
            (vec![vec![1.0, 0.0], vec![0.0, 0.0]], vec![0.0, c], false),
        ],
    )
}

/// Input step 0.1, `M = 2`: the input grid around (0.4, 0.4) is {0.2, ..., 0.6}².
fn cfg(layers: Option<Vec<usize>>) -> DlvConfig {
    DlvConfig {
        steps: 2,
        tau: Some(0.1),
        layers,
        deadline: within(Duration::from_secs(20)),
        ..DlvConfig::default()
    }
}

#[test]
fn finds_the_adversarial_example_on_the_grid() {
    // Class 1 at the centre (y0 = 0.8 < 1); the grid point (0.6, 0.6) gives y0 = 1.2 > 1.
    let net = sum_vs_const(1.0);
    let centre = [0.4, 0.4];
    let prop = ball_prop(&centre, 1, 0.2, 2);
    let rep = search(&net, &prop, 0, &centre, &cfg(None)).unwrap();
    let DlvOutcome::Adversarial {
        cex,
        layer,
        linf,
        l2,
    } = &rep.outcome
    else {
        panic!("{rep:?}")
    };
    assert_eq!(*layer, 0);
    assert!(confirm(&net, &prop, &cex.input).is_some());
    assert!(*linf <= 0.2 + 1e-7 && *l2 <= 0.2 * 2f64.sqrt() + 1e-7);
    let l0 = &rep.layers[0];
    // Two salient inputs, so two features of one dimension: 5² points, all visited.
    assert_eq!(l0.features.len(), 2);
    assert_eq!((l0.grid_size, l0.visited), (25, 25));
    // y0 >= 1 on the grid where x0 + x1 >= 1: (0.4,0.6), (0.5,0.5), (0.6,0.4), (0.5,0.6),
    // (0.6,0.5), (0.6,0.6).
    assert_eq!(l0.adversarial_points, 6);
}

#[test]
fn realises_a_hidden_manipulation_with_z3() {
    // Searching only the ReLU layer: y0 = h0 with h0 ∈ [0.4, 1.2], step (1.2 − 0.4)/4 = 0.2.
    // The point h0 = 1.2 is adversarial; its cell h0 ∈ [1.1, 1.2] is realised by an input,
    // and every such input has y0 >= 1.1 > 1, so whatever model Z3 picks replays.
    let net = sum_vs_const(1.0);
    let centre = [0.4, 0.4];
    let prop = ball_prop(&centre, 1, 0.2, 2);
    let rep = search(&net, &prop, 0, &centre, &cfg(Some(vec![1]))).unwrap();
    let DlvOutcome::Adversarial { cex, layer, .. } = &rep.outcome else {
        panic!("{rep:?}")
    };
    assert_eq!(*layer, 1);
    assert!(cex.output[0] >= 1.1 - 1e-6, "{cex:?}");
    // h0 is salient; h1 does not reach the output but is a feature too (decomposition).
    assert_eq!(rep.layers[0].features, vec![vec![0], vec![1]]);
    assert!(rep.layers[0].realised >= 1);
}

#[test]
fn exhausts_the_grid_of_a_safe_network() {
    // y1 = 2 > y0 <= 1.2 on the whole box: every point of every layer keeps class 1.
    let net = sum_vs_const(2.0);
    let centre = [0.4, 0.4];
    let prop = ball_prop(&centre, 1, 0.2, 2);
    let rep = search(&net, &prop, 0, &centre, &cfg(None)).unwrap();
    assert_eq!(rep.outcome, DlvOutcome::SafeOnGrid);
    assert_eq!(rep.layers.len(), 2);
    for l in &rep.layers {
        assert_eq!(l.visited, l.grid_size, "{l:?}");
        assert_eq!(l.adversarial_points + l.unresolved, 0, "{l:?}");
    }
}

/// `y0 = 200·(relu(x − 0.52) − 2·relu(x − 0.53) + relu(x − 0.54))`, a tent of height 2 on
/// [0.52, 0.54]; `y1 = 1`.
fn tent() -> Network {
    mlp(
        1,
        &[
            (vec![vec![1.0]; 3], vec![-0.52, -0.53, -0.54], true),
            (
                vec![vec![200.0, -400.0, 200.0], vec![0.0, 0.0, 0.0]],
                vec![0.0, 1.0],
                false,
            ),
        ],
    )
}

#[test]
fn the_guarantee_is_relative_to_the_discretisation() {
    // The input grid {0.2, 0.3, ..., 0.6} misses the tent: DLV's input layer holds, although
    // x = 0.53 is adversarial, which the exact SMT engine finds.
    let net = tent();
    let prop = ball_prop(&[0.4], 1, 0.2, 2);
    let rep = search(&net, &prop, 0, &[0.4], &cfg(Some(vec![0]))).unwrap();
    assert_eq!(rep.outcome, DlvOutcome::SafeOnGrid, "{rep:?}");
    assert!(matches!(
        solve(&net, &prop, within(Duration::from_secs(10))),
        SmtOutcome::Sat(_)
    ));
    // The ReLU layer's grid reaches it: manipulated activations with h0 > h1 + h2 predict
    // class 0, Z3 realises some of their cells inside the tent, and the input replays.
    let rep = search(&net, &prop, 0, &[0.4], &cfg(None)).unwrap();
    match &rep.outcome {
        DlvOutcome::Adversarial { cex, layer: 1, .. } => {
            assert!(confirm(&net, &prop, &cex.input).is_some());
            assert!((0.52..0.54).contains(&cex.input[0]), "{cex:?}");
        }
        o => panic!("{o:?} {rep:?}"),
    }
    assert_eq!(rep.layers[1].grid_size, 125);
    assert!(rep.layers[1].unrealisable > 0 && rep.layers[1].realised > 0);
}

/// Issue 11 item 5: the summary must not contradict its counts. "Safe on the grid" claims that
/// every adversarial grid point is realised by no input; a cell realised by an input that keeps
/// the class is undecided (here: M = 1 on the tent's ReLU layer, centre 0.4, where 0.53 is
/// adversarial: the old code said "safe on the grid" with 4 such cells).
#[test]
fn safe_on_the_grid_means_every_adversarial_point_is_unrealisable() {
    let net = tent();
    let mut undecided = 0;
    for centre in [0.3, 0.4, 0.45] {
        for (steps, tau) in [(1, 0.2), (2, 0.1), (4, 0.05)] {
            for features in 1..=3 {
                let prop = ball_prop(&[centre], 1, 0.2, 2);
                let c = DlvConfig {
                    steps,
                    tau: Some(tau),
                    features,
                    ..cfg(Some(vec![1]))
                };
                let rep = search(&net, &prop, 0, &[centre], &c).unwrap();
                let l = &rep.layers[0];
                match &rep.outcome {
                    DlvOutcome::SafeOnGrid => {
                        assert_eq!(l.unrealisable, l.adversarial_points, "{rep:?}");
                        assert_eq!(l.realised + l.unresolved, 0, "{rep:?}");
                    }
                    DlvOutcome::Incomplete(why) => {
                        assert!(
                            l.realised_kept > 0 && why.contains("keep the class"),
                            "{why}"
                        );
                        undecided += 1;
                    }
                    DlvOutcome::Adversarial { cex, .. } => {
                        assert!(confirm(&net, &prop, &cex.input).is_some())
                    }
                    DlvOutcome::Misclassified(_) => panic!("0.3..0.45 are class 1"),
                }
            }
        }
    }
    assert!(undecided > 0, "the issue's case is among these");
}

#[test]
fn verify_engine_dlv_is_unknown_when_the_grid_holds() {
    let opts = Options {
        engine: Engine::Dlv,
        deadline: within(Duration::from_secs(20)),
        ..Options::default()
    };
    let centre = [0.4, 0.4];
    let safe = ball_prop(&centre, 1, 0.2, 2);
    match verify(&sum_vs_const(2.0), &safe, &opts) {
        Verdict::Unknown(why) => assert!(why.contains("relative to the discretisation"), "{why}"),
        v => panic!("{v:?}"),
    }
    match verify(&sum_vs_const(1.0), &safe, &opts) {
        Verdict::Sat(cex) => assert!(confirm(&sum_vs_const(1.0), &safe, &cex.input).is_some()),
        v => panic!("{v:?}"),
    }
}

#[test]
fn dlv_command_reports_grid_features_and_distance() {
    let dir = std::env::temp_dir().join(format!("certus-dlv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("x.txt");
    std::fs::write(&input, "# the tent's input\n0.53\n").unwrap();
    let run = |x: &str, extra: &[&str]| {
        std::fs::write(&input, x).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_certus"))
            .arg("dlv")
            .arg(root().join("tests/fixtures/dlv_tent.nnet"))
            .args(["--input", input.to_str().unwrap()])
            .args(["--label", "1", "--eps", "0.2", "--step", "0.1"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    // Centre 0.4, input layer only: the grid misses the tent; exit 0 and the caveat in words.
    let (code, text) = run("0.4", &["--layers", "0"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("relative to the discretisation"), "{text}");
    assert!(text.contains("grid 5 points, visited 5"), "{text}");
    // Centre 0.33: the grid point 0.53 is the tent's peak; exit 1, distance 0.2.
    let (code, text) = run("0.33", &["--layers", "0"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("adversarial\n"), "{text}");
    assert!(text.contains("L∞ distance 0.2"), "{text}");
    assert!(text.contains("(X_0 "), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The MNIST test image whose pixels (/255) all lie in the region's box, if one of the shared
/// images does.
fn image_in_box(csv: &str, lo: &[f64], hi: &[f64]) -> Option<Vec<f64>> {
    csv.lines().find_map(|line| {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        let px: Vec<f64> = v[1..].iter().map(|p| p / 255.0).collect();
        let inside = px
            .iter()
            .zip(lo.iter().zip(hi))
            .all(|(p, (l, h))| l <= p && p <= h);
        inside.then_some(px)
    })
}

/// The image a box `[max(v − eps, 0), min(v + eps, 1)]` was made from: `lo + eps` where the
/// lower side is not clipped, else `hi − eps` (clipped to the box).
fn image_of_box(lo: &[f64], hi: &[f64], eps: f64) -> Vec<f64> {
    lo.iter()
        .zip(hi)
        .map(|(&l, &h)| if l > 0.0 { l + eps } else { h - eps }.clamp(l, h))
        .collect()
}

/// mnistfc at eps 0.05, a capped run: DLV (input layer and the first ReLU layer, 8 features,
/// `τ = eps`) around each instance's image (the shared MNIST image when it lies in the box,
/// else the image the box was made from). Never an adversarial example on
/// an `unsat` instance; prints how many `sat` ones it finds, with distances.
#[test]
#[ignore = "slow: mnistfc networks, a few seconds per instance"]
fn mnistfc_eps_005() {
    let Some(shared) = shared_benchmarks() else {
        return;
    };
    let dir = shared.join("mnistfc");
    let csv = std::fs::read_to_string(shared.join("../datasets/mnist_test.csv")).unwrap();
    // DLV_SECONDS: budget per instance; DLV_FILTER: only instances whose network path contains
    // it; DLV_MAX: at most this many instances; DLV_FEATURES: features per layer (8);
    // DLV_LAYERS: layers searched (0,1).
    let per = std::env::var("DLV_SECONDS").map_or(10.0, |s| s.parse().unwrap());
    let filter = std::env::var("DLV_FILTER").unwrap_or_default();
    let max = std::env::var("DLV_MAX").map_or(usize::MAX, |s| s.parse().unwrap());
    let features = std::env::var("DLV_FEATURES").map_or(8, |s| s.parse().unwrap());
    let layers: Vec<usize> = std::env::var("DLV_LAYERS").map_or(vec![0, 1], |s| {
        s.split(',').map(|v| v.parse().unwrap()).collect()
    });
    let mut done = 0;
    let mut found = 0;
    let mut sat = 0;
    for inst in certus::bench::read_instances(&dir).unwrap() {
        if !inst.vnnlib.ends_with("_0.05.vnnlib")
            || inst.expected == Some(Expected::Unknown)
            || !inst.onnx.contains(&filter)
            || done == max
        {
            continue;
        }
        done += 1;
        let net = load_network(&dir.join(&inst.onnx), Default::default()).unwrap();
        let prop = certus::spec::vnnlib::parse_file(&dir.join(&inst.vnnlib)).unwrap();
        let r = &prop.regions[0];
        // Most mnistfc images are not among the 100 shared ones: recover those from the box.
        let centre = image_in_box(&csv, &r.lower, &r.upper)
            .unwrap_or_else(|| image_of_box(&r.lower, &r.upper, 0.05f32 as f64));
        // Each disjunct is `y_label − y_j <= 0`.
        let c = &r.disjuncts[0].constraints[0].coeffs;
        let label = c.iter().find(|c| c.1 > 0.0).map_or(0, |c| c.0);
        let cfg = DlvConfig {
            steps: 1,
            tau: Some(0.05),
            features,
            layers: Some(layers.clone()),
            deadline: within(Duration::from_secs_f64(per)),
            query_timeout: Some(Duration::from_millis(500)),
            ..DlvConfig::default()
        };
        let t = Instant::now();
        let rep = search(&net, &prop, 0, &centre, &cfg).unwrap();
        let expected = inst.expected.map_or("?", Expected::word);
        let what = match &rep.outcome {
            DlvOutcome::Adversarial {
                cex,
                layer,
                linf,
                l2,
            } => {
                assert!(confirm(&net, &prop, &cex.input).is_some());
                assert_ne!(
                    expected, "unsat",
                    "adversarial example on an unsat instance"
                );
                found += 1;
                format!("adversarial at layer {layer}, L∞ {linf:.4}, L2 {l2:.3}")
            }
            other => format!("{other:?}"),
        };
        sat += usize::from(expected == "sat");
        let visited: usize = rep.layers.iter().map(|l| l.visited).sum();
        println!(
            "{} {} label {label} expected {expected}: {what} ({visited} points, {:.1} s)",
            inst.onnx,
            inst.vnnlib,
            t.elapsed().as_secs_f64()
        );
    }
    println!("DLV found adversarial examples for {found} of {sat} sat instances");
}
