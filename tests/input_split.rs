//! Known answers of the input-split search on hand-made networks, one per ingredient: clipping
//! alone refutes a box, the witness corner finds a counterexample, the verdict does not depend on
//! the thread count; and the limits (deadline, domain budget) answer `timeout`/`unknown`.

mod common;

use certus::attack::Rng;
use certus::deadline::Deadline;
use certus::ir::Op;
use certus::outcome::Verdict;
use certus::search::{search, SearchConfig, SearchStats};
use certus::spec::vnnlib::parse_str;
use common::{mlp, random_net, vee};
use std::path::Path;
use std::time::{Duration, Instant};

/// No attacks and no reordering: what the bounds, clipping and candidates do alone.
fn quiet() -> SearchConfig {
    SearchConfig {
        root_attack: false,
        pgd_every: 0,
        reorder_every: 0,
        ..SearchConfig::default()
    }
}

fn run(net: &certus::ir::Network, prop: &str, cfg: &SearchConfig) -> (Verdict, SearchStats) {
    let prop = parse_str(prop, Path::new("test.vnnlib")).unwrap();
    search(
        net,
        &prop,
        cfg,
        Deadline::after(Duration::from_secs(60)),
        None,
    )
}

/// `y = (relu(x + 1) − 1, 1 − relu(x + 1))`, which is `(x, −x)` on `[−1, 1]`; the bad case
/// `y0 <= −0.1 ∧ y1 <= −0.1` asks for `x <= −0.1` and `x >= 0.1` at once. Neither row's bound
/// refutes the box, but clipping with the first row leaves `[−1, −0.1]`, where the second row's
/// form is `>= 0.2`: refuted without a split. Without clipping it takes a split (3 domains).
#[test]
fn clipping_alone_refutes_the_box() {
    let net = mlp(
        1,
        &[
            (vec![vec![1.0]], vec![1.0], true),
            (vec![vec![1.0], vec![-1.0]], vec![-1.0, 1.0], false),
        ],
    );
    let prop = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
                (assert (>= X_0 -1.0))\n(assert (<= X_0 1.0))\n\
                (assert (<= Y_0 -0.1))\n(assert (<= Y_1 -0.1))\n";
    let cfg = SearchConfig {
        farkas: false,
        ..quiet()
    };
    let (v, s) = run(&net, prop, &cfg);
    assert_eq!(v, Verdict::Unsat);
    assert_eq!((s.domains, s.by_clip, s.by_linear), (1, 1, 0), "{s:?}");
    let (v, s) = run(&net, prop, &SearchConfig { clip: false, ..cfg });
    assert_eq!(v, Verdict::Unsat);
    assert!(s.domains > 1 && s.by_clip == 0, "{s:?}");
}

/// `vee` is `relu(x0 + x1) + relu(x0 − x1)`, `2·x0` for `x1 <= x0`; `y >= 1.9` holds only near
/// `x0 = 1`. The centre gives `y = 1`, but the corner that minimises the linear lower bound of
/// `1.9 − y` has `x0 = 1`: the first batch finds the counterexample. Without the witness it takes
/// splits until a centre lands there.
#[test]
fn witness_corner_finds_the_counterexample() {
    let prop =
        std::fs::read_to_string(common::root().join("properties/vee_above_1.9.vnnlib")).unwrap();
    let (v, s) = run(&vee(), &prop, &quiet());
    let Verdict::Sat(cex) = v else {
        panic!("expected sat, got {v:?}")
    };
    assert!(cex.output_f64[0] >= 1.9 && cex.input[0] > 0.9);
    assert_eq!(s.domains, 1, "{s:?}");
    let (v, s) = run(
        &vee(),
        &prop,
        &SearchConfig {
            witness: false,
            ..quiet()
        },
    );
    assert!(matches!(v, Verdict::Sat(_)), "{v:?}");
    assert!(s.domains > 1, "{s:?}");
}

/// The search splits its batches into fixed chunks, so one or two worker threads give the same
/// verdict after the same work, on a random network that takes many batches.
#[test]
fn same_verdict_with_one_and_two_threads() {
    let mut rng = Rng::new(11);
    let net = random_net(&mut rng, 3, &[12, 12, 12], 2, &[Op::Relu]);
    let prop = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)\n\
                (declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
                (assert (>= X_0 -1.0))\n(assert (<= X_0 1.0))\n(assert (>= X_1 -1.0))\n\
                (assert (<= X_1 1.0))\n(assert (>= X_2 -1.0))\n(assert (<= X_2 1.0))\n\
                (assert (>= Y_0 Y_1))\n(assert (>= Y_0 2.5))\n";
    let cfg = SearchConfig {
        batch: 64,
        chunk: 8,
        ..quiet()
    };
    let runs: Vec<(Verdict, SearchStats)> = [1, 2]
        .iter()
        .map(|&n| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            pool.install(|| run(&net, prop, &cfg))
        })
        .collect();
    assert!(runs[0].1.batches > 3, "too easy: {:?}", runs[0].1);
    assert!(
        matches!(runs[0].0, Verdict::Unsat | Verdict::Sat(_)),
        "{:?}",
        runs[0].0
    );
    assert_eq!(runs[0].0, runs[1].0);
    assert_eq!(runs[0].1.domains, runs[1].1.domains);
}

/// A property that cannot be decided quickly (`y0 >= t` for `t` between the largest value of
/// many samples and the CROWN bound, on a wider network): the deadline gives `timeout` on time, and a small
/// domain budget gives `unknown` with the reason (either may instead find a larger value: sat).
#[test]
fn deadline_and_domain_limit() {
    let mut rng = Rng::new(5);
    let net = random_net(&mut rng, 4, &[60, 60, 60, 60], 1, &[Op::Relu]);
    let mut best = f64::NEG_INFINITY;
    for _ in 0..2000 {
        let x: Vec<f64> = (0..4).map(|_| rng.uniform() * 2.0 - 1.0).collect();
        best = best.max(net.eval_f64(&x)[0]);
    }
    let mut prop = String::new();
    for i in 0..4 {
        prop += &format!(
            "(declare-const X_{i} Real)\n(assert (>= X_{i} -1.0))\n(assert (<= X_{i} 1.0))\n"
        );
    }
    // Between the samples' best and the CROWN upper bound over the box: above the samples,
    // below the bound, so neither the attack nor one bound decides it.
    let (lo, hi) = ([-1.0; 4], [1.0; 4]);
    let up = certus::bounds::output_bounds(&net, &lo, &hi, certus::bounds::Method::Crown).upper[0];
    let t = best + 0.01 * (up - best);
    prop += &format!("(declare-const Y_0 Real)\n(assert (>= Y_0 {t}))\n");
    let prop = parse_str(&prop, Path::new("t.vnnlib")).unwrap();
    let cfg = SearchConfig {
        max_domains: 40,
        batch: 64,
        ..quiet()
    };
    let (v, _) = search(&net, &prop, &cfg, Deadline::NONE, None);
    match v {
        Verdict::Unknown(why) => assert!(why.contains("domain limit"), "{why}"),
        Verdict::Sat(_) => {}
        other => panic!("expected unknown or sat, got {other:?}"),
    }
    let start = Instant::now();
    let (v, _) = search(
        &net,
        &prop,
        &quiet(),
        Deadline::after(Duration::from_millis(300)),
        None,
    );
    assert!(matches!(v, Verdict::Timeout | Verdict::Sat(_)), "{v:?}");
    assert!(
        start.elapsed() < Duration::from_millis(1300),
        "{:?}",
        start.elapsed()
    );
}

/// The engine through the CLI: verdicts and exit codes on the README's example, progress on
/// stderr only, and an unwritable result file reported before any work.
#[test]
fn cli_engine_progress_and_result_file() {
    let net = "examples/vee.nnet";
    let out = common::certus(&[
        "verify",
        net,
        "properties/vee_above_2.1.vnnlib",
        "--engine",
        "input-split",
        "--progress",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unsat\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("domains done") && err.contains("search:"),
        "{err}"
    );
    let out = common::certus(&[
        "verify",
        net,
        "properties/vee_above_1.9.vnnlib",
        "--engine",
        "input-split",
        "--jobs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sat\n"));
    let out = common::certus(&[
        "verify",
        net,
        "properties/vee_above_2.1.vnnlib",
        "--result-file",
        "/nonexistent-dir/result.txt",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no verdict before the error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/result.txt"));
    let out = common::certus(&[
        "verify",
        net,
        "properties/vee_above_2.1.vnnlib",
        "--engine",
        "input-split",
        "--search-opt",
        "clip=maybe",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clip"));
}
