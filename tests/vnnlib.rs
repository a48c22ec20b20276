//! The VNN-LIB front end: one test per known trap, with hand-checked normal forms, one per
//! error (line, column and message), and every real benchmark file.

mod common;

use certus::spec::vnnlib::{parse_file, parse_str};
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use certus::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn parse(text: &str) -> Property {
    parse_str(text, Path::new("inline.vnnlib")).unwrap_or_else(|e| panic!("{e}"))
}

/// `(line, col, msg)` of the error `text` must produce.
fn parse_err(text: &str) -> (usize, usize, String) {
    match parse_str(text, Path::new("inline.vnnlib")) {
        Err(Error::Spec { line, col, msg, .. }) => (line, col, msg),
        other => panic!("expected a spec error, got {other:?}"),
    }
}

fn assert_err(text: &str, line: usize, col: usize, fragment: &str) {
    let (l, c, msg) = parse_err(text);
    assert_eq!((l, c), (line, col), "wrong position for: {msg}");
    assert!(msg.contains(fragment), "`{msg}` lacks `{fragment}`");
    assert!(!msg.contains('\n'), "not one line: {msg}");
}

fn lc(coeffs: &[(usize, f64)], rhs: f64) -> LinearConstraint {
    LinearConstraint {
        coeffs: coeffs.to_vec(),
        rhs,
    }
}

fn dis(constraints: &[LinearConstraint]) -> Disjunct {
    Disjunct {
        constraints: constraints.to_vec(),
    }
}

fn region(bounds: &[(f64, f64)], disjuncts: &[Disjunct]) -> Region {
    Region {
        lower: bounds.iter().map(|b| b.0).collect(),
        upper: bounds.iter().map(|b| b.1).collect(),
        disjuncts: disjuncts.to_vec(),
    }
}

/// Declarations of `X_0..X_{nx-1}` and `Y_0..Y_{ny-1}`.
fn decls(nx: usize, ny: usize) -> String {
    let x = (0..nx).map(|k| format!("(declare-const X_{k} Real)\n"));
    let y = (0..ny).map(|k| format!("(declare-const Y_{k} Real)\n"));
    x.chain(y).collect()
}

/// Declarations plus `X_k` in `[0, 1]` for every input.
fn unit_box(nx: usize, ny: usize) -> String {
    let bounds = (0..nx).map(|k| format!("(assert (>= X_{k} 0))\n(assert (<= X_{k} 1))\n"));
    decls(nx, ny) + &bounds.collect::<String>()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("properties/traps")
        .join(name)
}

#[test]
fn or_of_input_boxes_gives_two_regions() {
    let p = parse(&format!(
        "{}(assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1))
                       (and (>= X_0 2) (<= X_0 3) (>= X_1 -1) (<= X_1 0))))
           (assert (>= Y_0 5))",
        decls(2, 1)
    ));
    let d = dis(&[lc(&[(0, -1.0)], -5.0)]);
    assert_eq!(
        p,
        Property {
            n_inputs: 2,
            n_outputs: 1,
            regions: vec![
                region(&[(0.0, 1.0), (0.0, 1.0)], std::slice::from_ref(&d)),
                region(&[(2.0, 3.0), (-1.0, 0.0)], &[d]),
            ],
        }
    );
}

/// Regression for the bug other tools had: a box leaking across `or` branches, or the output
/// constraints of one branch applied to another's box. Bounds in another order still make the
/// same (bitwise-equal) box, so branches 1 and 3 share a region.
#[test]
fn mixed_disjuncts_keep_their_own_box() {
    let p = parse_file(&fixture("box_per_branch.vnnlib")).unwrap();
    let expected = vec![
        region(
            &[(0.0, 1.0), (0.0, 1.0)],
            &[
                dis(&[lc(&[(0, 1.0), (1, -1.0)], 0.0)]),
                dis(&[lc(&[(1, 1.0)], -1.0)]),
            ],
        ),
        region(
            &[(2.0, 3.0), (-1.0, 0.0)],
            &[dis(&[lc(&[(0, -1.0)], -3.0)])],
        ),
    ];
    assert_eq!((p.n_inputs, p.n_outputs), (2, 2));
    assert_eq!(p.regions, expected);
}

#[test]
fn several_top_level_ors_are_multiplied_out() {
    let p = parse(&format!(
        "{}(assert (or (<= Y_0 0) (<= Y_1 0)))
           (assert (or (>= Y_2 1) (>= Y_0 1)))",
        unit_box(1, 3)
    ));
    let (y0, y1) = (lc(&[(0, 1.0)], 0.0), lc(&[(1, 1.0)], 0.0));
    let (y2_ge, y0_ge) = (lc(&[(2, -1.0)], -1.0), lc(&[(0, -1.0)], -1.0));
    let expected = [
        dis(&[y0.clone(), y2_ge.clone()]),
        dis(&[y0, y0_ge.clone()]),
        dis(&[y1.clone(), y2_ge]),
        dis(&[y1, y0_ge]),
    ];
    assert_eq!(p.regions, vec![region(&[(0.0, 1.0)], &expected)]);

    // An `or` over boxes times an `or` over outputs (ACAS Xu property 6's shape): each box
    // gets every output disjunct.
    let p = parse(&format!(
        "{}(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))
           (assert (or (<= Y_1 Y_0) (<= Y_0 -2)))",
        decls(1, 2)
    ));
    let outs = [
        dis(&[lc(&[(0, -1.0), (1, 1.0)], 0.0)]),
        dis(&[lc(&[(0, 1.0)], -2.0)]),
    ];
    let expected = vec![region(&[(0.0, 1.0)], &outs), region(&[(2.0, 3.0)], &outs)];
    assert_eq!(p.regions, expected);
}

#[test]
fn comparison_between_two_outputs() {
    let p = parse(&format!("{}(assert (<= Y_0 Y_1))", unit_box(1, 2)));
    let expected = dis(&[lc(&[(0, 1.0), (1, -1.0)], 0.0)]);
    assert_eq!(p.regions[0].disjuncts, vec![expected]);
    // Coefficients are sorted by output index whatever the order in the file.
    let p = parse(&format!("{}(assert (<= Y_1 Y_0))", unit_box(1, 2)));
    let expected = dis(&[lc(&[(0, -1.0), (1, 1.0)], 0.0)]);
    assert_eq!(p.regions[0].disjuncts, vec![expected]);
}

#[test]
fn greater_or_equal_flips_the_sign() {
    let p = parse(&format!(
        "{}(assert (>= Y_0 Y_1)) (assert (>= Y_2 3.5)) (assert (>= X_0 0.25)) (assert (<= X_0 2))",
        decls(1, 3)
    ));
    let expected = dis(&[lc(&[(0, -1.0), (1, 1.0)], 0.0), lc(&[(2, -1.0)], -3.5)]);
    assert_eq!(p.regions, vec![region(&[(0.25, 2.0)], &[expected])]);
}

#[test]
fn numbers_in_every_form() {
    let p = parse(&format!(
        "{}(assert (>= X_0 -1))     (assert (<= X_0 1))
           (assert (>= X_1 .5))     (assert (<= X_1 1.5E+3))
           (assert (>= X_2 -0.0))   (assert (<= X_2 1e-5))
           (assert (>= X_3 (- 0.5))) (assert (<= X_3 0.5))
           (assert (>= X_4 +2))     (assert (<= X_4 5.))
           (assert (<= Y_0 2.5e2))",
        decls(5, 1)
    ));
    let r = &p.regions[0];
    assert_eq!(r.lower, [-1.0, 0.5, 0.0, -0.5, 2.0]);
    assert_eq!(r.upper, [1.0, 1500.0, 1e-5, 0.5, 5.0]);
    // −0.0 is stored as +0.0, so that equal boxes are bitwise equal.
    assert_eq!(r.lower[2].to_bits(), 0.0f64.to_bits());
    assert_eq!(r.disjuncts, vec![dis(&[lc(&[(0, 1.0)], 250.0)])]);
    // The nearest f64 to the decimal, as Rust (correctly rounded) reads it.
    let p = parse(&format!(
        "{}(assert (<= Y_0 0.029999999329447746))",
        unit_box(1, 1)
    ));
    let rhs = p.regions[0].disjuncts[0].constraints[0].rhs;
    assert_eq!(rhs, "0.029999999329447746".parse::<f64>().unwrap());
}

#[test]
fn comments_are_ignored() {
    let p = parse(
        "; a comment with ( and ) and (assert (<= X_0 -7))\n\
         (declare-const X_0 Real) ; trailing ((\n\
         (declare-const Y_0 Real)\n\
         (assert ; inside a list\n\
           (<= X_0 1)) (assert (>= X_0 0))\n\
         (assert (<= Y_0 0)) ; no newline at the end",
    );
    let expected = region(&[(0.0, 1.0)], &[dis(&[lc(&[(0, 1.0)], 0.0)])]);
    assert_eq!(p.regions, vec![expected]);
}

#[test]
fn no_whitespace_between_lists_tabs_and_crlf() {
    let expected = vec![region(
        &[(-1.0, 1.0)],
        &[
            dis(&[lc(&[(0, 1.0), (1, -1.0)], 0.0)]),
            dis(&[lc(&[(1, -1.0)], -0.5)]),
        ],
    )];
    let p = parse_file(&fixture("crlf_tabs.vnnlib")).unwrap();
    assert_eq!(p.regions, expected);
    let inline = "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const\tY_1\tReal)\r\n\
                  (assert(<=\tX_0\t1))(assert(>= X_0 -1))\r\n(assert(or(<= Y_0 Y_1)(>= Y_1 0.5)))";
    assert_eq!(parse(inline).regions, expected);
}

/// `<` and `>` are read as `<=` and `>=` (documented in the module).
#[test]
fn strict_inequalities_read_as_non_strict() {
    let strict = parse(&format!(
        "{}(assert (> X_0 0)) (assert (< X_0 1)) (assert (< Y_0 Y_1))",
        decls(1, 2)
    ));
    let loose = parse(&format!(
        "{}(assert (>= X_0 0)) (assert (<= X_0 1)) (assert (<= Y_0 Y_1))",
        decls(1, 2)
    ));
    assert_eq!(strict, loose);
}

#[test]
fn constant_on_the_left() {
    let p = parse(&format!(
        "{}(assert (<= 0.5 X_0)) (assert (>= 2 X_0)) (assert (<= 1 Y_0))",
        decls(1, 1)
    ));
    let expected = region(&[(0.5, 2.0)], &[dis(&[lc(&[(0, -1.0)], -1.0)])]);
    assert_eq!(p.regions, vec![expected]);
}

#[test]
fn always_false_disjuncts_are_dropped() {
    // A false comparison drops its conjunction, a true one is dropped itself.
    let p = parse(&format!(
        "{}(assert (or (and (<= 1 0) (<= Y_0 0)) (and (<= 0 0) (<= Y_1 0))))",
        unit_box(1, 2)
    ));
    assert_eq!(
        p.regions,
        vec![region(&[(0.0, 1.0)], &[dis(&[lc(&[(1, 1.0)], 0.0)])])]
    );
    // A false branch takes its box with it.
    let p = parse(&format!(
        "{}(assert (or (and (>= X_0 0) (<= X_0 1) (> 1 2)) (and (>= X_0 5) (<= X_0 6))))",
        decls(1, 1)
    ));
    assert_eq!(p.regions, vec![region(&[(5.0, 6.0)], &[dis(&[])])]);
    // Nothing reachable: no region, the property holds.
    let p = parse(&format!("{}(assert (<= 1 (- 2 2)))", unit_box(1, 1)));
    assert_eq!((p.n_inputs, p.n_outputs, p.regions.len()), (1, 1, 0));
}

#[test]
fn equality_gives_two_constraints() {
    let p = parse(&format!(
        "{}(assert (= X_0 0.25)) (assert (= Y_0 Y_1))",
        decls(1, 2)
    ));
    let expected = dis(&[
        lc(&[(0, 1.0), (1, -1.0)], 0.0),
        lc(&[(0, -1.0), (1, 1.0)], 0.0),
    ]);
    assert_eq!(p.regions, vec![region(&[(0.25, 0.25)], &[expected])]);
}

#[test]
fn linear_terms() {
    // The constant 1 on the left moves to the right: rhs 2 − 1 = 1. `(- Y_0 Y_0)` cancels to
    // the true constant comparison 0 <= 1. 2·X_0 <= 1 is X_0 <= 0.5; −2·X_0 >= −4 is
    // X_0 <= 2, looser, so dropped.
    let p = parse(&format!(
        "{}(assert (<= (+ (* 2 Y_0) (- Y_1) (/ Y_2 4) (* Y_3 0.5) 1) (- 3 1)))
           (assert (>= (- Y_0 Y_1 Y_2) 0))
           (assert (<= (- Y_0 Y_0) 1))
           (assert (<= (* 2 X_0) 1)) (assert (>= (* -2 X_0) -4)) (assert (>= X_0 0))",
        decls(1, 4)
    ));
    let expected = dis(&[
        lc(&[(0, 2.0), (1, -1.0), (2, 0.25), (3, 0.5)], 1.0),
        lc(&[(0, -1.0), (1, 1.0), (2, 1.0)], 0.0),
    ]);
    assert_eq!(p.regions, vec![region(&[(0.0, 0.5)], &[expected])]);
    // A negative coefficient turns `<=` into a lower bound: −2·X_0 <= −1 is X_0 >= 0.5.
    let p = parse(&format!(
        "{}(assert (<= (* -2 X_0) -1)) (assert (<= X_0 1))",
        decls(1, 1)
    ));
    assert_eq!(p.regions, vec![region(&[(0.5, 1.0)], &[dis(&[])])]);
}

#[test]
fn tightest_bounds_win_and_unconstrained_outputs_are_always_bad() {
    let p = parse(&format!(
        "{}(assert (<= X_0 3)) (assert (<= X_0 1)) (assert (<= X_0 2))
           (assert (>= X_0 -3)) (assert (>= X_0 0)) (assert (>= X_0 -1))",
        decls(1, 1)
    ));
    assert_eq!(p.regions, vec![region(&[(0.0, 1.0)], &[dis(&[])])]);
}

#[test]
fn error_unbalanced_parentheses() {
    let d = decls(1, 1);
    assert_err(
        &format!("{d}(assert (<= X_0 1)\n(assert (>= X_0 0))"),
        3,
        1,
        "never closed",
    );
    assert_err(&format!("{d}(assert (<= X_0 1)))"), 3, 20, "unexpected `)`");
}

#[test]
fn error_unexpected_token() {
    let d = decls(1, 1);
    assert_err(&format!("{d}(assert (foo X_0 1))"), 3, 10, "found `foo`");
    assert_err(
        &format!("{d}(assert (<= X_0 bar))"),
        3,
        17,
        "unknown symbol `bar`",
    );
    assert_err(&format!("{d}assert"), 3, 1, "expected a command");
    assert_err(&format!("{d}(check-model)"), 3, 2, "found `check-model`");
    assert_err(
        &format!("{d}(assert (<= X_0 1) (>= X_0 0))"),
        3,
        1,
        "exactly one formula",
    );
    assert_err(&format!("{d}(assert (<= X_0))"), 3, 9, "two terms");
    assert_err(
        &format!("{d}(assert (<= (* Y_0 Y_0) 1))"),
        3,
        20,
        "nonlinear",
    );
    assert_err(
        &format!("{d}(assert (<= (/ Y_0 0) 1))"),
        3,
        20,
        "division by zero",
    );
    assert_err("(declare-const X_0 Int)", 1, 20, "`Real`");
    assert_err("(declare-const Z_0 Real)", 1, 16, "`X_<k>`");
}

#[test]
fn error_unbounded_input() {
    // A lower bound only: the error points at it.
    let path = fixture("unbounded_input.vnnlib");
    match parse_file(&path) {
        Err(Error::Spec { line, col, msg, .. }) => {
            assert_eq!((line, col), (7, 9));
            assert!(msg.contains("X_1 has no upper bound"), "{msg}");
        }
        other => panic!("expected a spec error, got {other:?}"),
    }
    // No bound at all: the error points at the declaration.
    let text = format!("{}(declare-const X_1 Real)", unit_box(1, 1));
    assert_err(&text, 5, 16, "X_1 has no bounds");
    // Unbounded in one `or` branch only: the error points into that branch.
    let text = format!(
        "{}(assert (or (and (>= X_0 0) (<= X_0 1))\n  (and (>= X_0 2))))",
        decls(1, 1)
    );
    assert_err(&text, 4, 8, "X_0 has no upper bound");
}

#[test]
fn error_empty_box() {
    let text = format!("{}(assert (>= X_0 2))\n(assert (<= X_0 1))", decls(1, 1));
    assert_err(&text, 4, 9, "empty input box: X_0 >= 2 and X_0 <= 1");
}

#[test]
fn error_undeclared_variable() {
    assert_err(
        &format!("{}(assert (<= Y_3 0))", unit_box(1, 2)),
        6,
        13,
        "`Y_3`",
    );
    // Declared after its use.
    let text = "(declare-const Y_0 Real)\n(assert (<= X_0 0))\n(declare-const X_0 Real)";
    assert_err(text, 2, 13, "undeclared variable `X_0`");
    // A gap in the declarations names the missing one.
    assert_err(
        "(declare-const X_0 Real)\n(declare-const X_2 Real)",
        2,
        16,
        "X_1 is not",
    );
}

#[test]
fn error_general_linear_input_constraint() {
    let d = decls(2, 1);
    let msg = "general linear input constraints are not supported";
    assert_err(&format!("{d}(assert (<= X_0 Y_0))"), 4, 9, msg);
    assert_err(
        &format!("{d}(assert (or (<= 0 1) (>= (+ X_0 X_1) 1)))"),
        4,
        22,
        msg,
    );
}

#[test]
fn error_bad_number() {
    let d = decls(1, 1);
    for (number, fragment) in [
        ("1.2.3", "bad number `1.2.3`"),
        ("1e", "bad number `1e`"),
        ("0x10", "bad number `0x10`"),
        ("-.", "bad number `-.`"),
        ("1e999", "too large"),
    ] {
        assert_err(&format!("{d}(assert (<= Y_0 {number}))"), 3, 17, fragment);
    }
    assert_err(
        &format!("{d}(assert (<= Y_0 NaN))"),
        3,
        17,
        "unknown symbol `NaN`",
    );
    assert_err(
        &format!("{d}(assert (<= Y_0 (* 1e300 1e300)))"),
        3,
        9,
        "overflow",
    );
}

#[test]
fn error_too_many_disjuncts() {
    // 2^17 = 131072 conjunctions: over the cap at the 17th `or`.
    let ors = "(assert (or (<= Y_0 0) (<= Y_0 1)))\n".repeat(17);
    assert_err(&format!("{}{ors}", unit_box(1, 1)), 21, 9, "too large");
}

#[test]
fn hostile_inputs_give_errors_not_panics() {
    for text in [
        "(".repeat(100_000),
        ")".to_string(),
        String::new(),
        "(declare-const X_99999999999999999999999 Real)".to_string(),
        "(declare-const X_18446744073709551615 Real)(declare-const Y_0 Real)".to_string(),
        "(declare-const X_01 Real)".to_string(),
        "(assert)".to_string(),
        "(()".to_string(),
        "(declare-const X_0 Real)(declare-const X_0 Real)".to_string(),
        "\u{feff}(déclaré ✓)".to_string(),
    ] {
        assert!(parse_str(&text, Path::new("x")).is_err(), "{text:.40}");
    }
    // Deep but legal nesting still parses (no recursion limit is hit below 256 levels).
    let deep_and = format!(
        "(assert {}(<= Y_0 0){})",
        "(and ".repeat(200),
        ")".repeat(200)
    );
    let deep_term = format!(
        "(assert (<= {}Y_0{} 0))",
        "(- ".repeat(200),
        ")".repeat(200)
    );
    let p = parse(&format!("{}{deep_and}{deep_term}", unit_box(1, 1)));
    let expected = dis(&[lc(&[(0, 1.0)], 0.0), lc(&[(0, 1.0)], 0.0)]);
    assert_eq!(p.regions, vec![region(&[(0.0, 1.0)], &[expected])]);
    // A zero factor makes the product constant, however many variables follow.
    let p = parse(&format!("{}(assert (<= (* 0 Y_0 Y_0) 1))", unit_box(1, 1)));
    assert_eq!(p.regions, vec![region(&[(0.0, 1.0)], &[dis(&[])])]);
    let bytes = [b"(declare-const X_0 Real)\n(\xff)".as_slice()].concat();
    let path = std::env::temp_dir().join(format!("certus-vnnlib-{}.vnnlib", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let result = parse_file(&path);
    std::fs::remove_file(&path).ok();
    match result {
        Err(Error::Spec { line, col, msg, .. }) => {
            assert_eq!((line, col, msg.as_str()), (2, 2, "not valid UTF-8 text"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_file(Path::new("/nonexistent/x.vnnlib")),
        Err(Error::Io { .. })
    ));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any soup of VNN-LIB-like tokens parses or fails cleanly.
        #[test]
        fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
            "(", ")", "(", ")", "declare-const", "assert", "X_0", "X_1", "Y_0", "Real", "and",
            "or", "<=", ">=", "<", "=", "+", "-", "*", "/", "0", "1.5", "-2", "1e308", "0.0",
            ";", "\n", "true", "false",
        ]), 0..60)) {
            let _ = parse_str(&tokens.join(" "), Path::new("fuzz"));
        }
    }
}

/// Every real VNN-COMP property in `shared/benchmarks`, with spot checks of known shapes.
#[test]
fn every_benchmark_property_parses() {
    let Some(root) = common::shared_benchmarks() else {
        return;
    };
    let benchmarks = std::fs::read_dir(&root).expect("the shared benchmarks folder");
    let mut files: Vec<PathBuf> = benchmarks
        .filter_map(|b| std::fs::read_dir(b.ok()?.path().join("vnnlib")).ok())
        .flatten()
        .filter_map(|f| Some(f.ok()?.path()))
        .filter(|f| f.extension().is_some_and(|e| e == "vnnlib"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let (mut total, mut slowest) = (Duration::ZERO, (Duration::ZERO, PathBuf::new()));
    for file in &files {
        let start = Instant::now();
        let p = parse_file(file).unwrap_or_else(|e| panic!("{e}"));
        let took = start.elapsed();
        total += took;
        if took > slowest.0 {
            slowest = (took, file.clone());
        }
        let name = file.display();
        assert!(!p.regions.is_empty(), "{name}: no region");
        for r in &p.regions {
            assert_eq!((r.lower.len(), r.upper.len()), (p.n_inputs, p.n_inputs));
            for (&l, &u) in r.lower.iter().zip(&r.upper) {
                assert!(
                    l.is_finite() && u.is_finite() && l <= u,
                    "{name}: [{l}, {u}]"
                );
            }
            assert!(!r.disjuncts.is_empty(), "{name}");
            for c in r.disjuncts.iter().flat_map(|d| &d.constraints) {
                assert!(c.coeffs.windows(2).all(|w| w[0].0 < w[1].0), "{name}");
                assert!(c.coeffs.iter().all(|&(i, v)| i < p.n_outputs && v != 0.0));
            }
        }
    }
    println!(
        "parsed {} files in {total:?}; slowest {:?} ({})",
        files.len(),
        slowest.0,
        slowest.1.display()
    );

    let bench = |rel: &str| root.join(rel);
    let acas6 = bench("acasxu/vnnlib/prop_6.vnnlib");
    if acas6.exists() {
        let p = parse_file(&acas6).unwrap();
        assert_eq!((p.n_inputs, p.n_outputs, p.regions.len()), (5, 5, 2));
        // Box 1 has X_1 in [0.11140846, 0.499999896], box 2 the mirror image.
        assert_eq!(
            (p.regions[0].lower[1], p.regions[0].upper[1]),
            (0.11140846, 0.499999896)
        );
        assert_eq!(
            (p.regions[1].lower[1], p.regions[1].upper[1]),
            (-0.499999896, -0.11140846)
        );
        for r in &p.regions {
            // "unsafe if COC is not minimal": Y_j <= Y_0 for some j in 1..=4.
            let expected: Vec<Disjunct> = (1..5)
                .map(|j| dis(&[lc(&[(0, -1.0), (j, 1.0)], 0.0)]))
                .collect();
            assert_eq!(r.disjuncts, expected);
        }
    }
    let mnist = bench("mnistfc/vnnlib/prop_0_0.03.vnnlib");
    if mnist.exists() {
        // Label 4, eps 0.03: every pixel in [0, 0.03] (the image's pixel 0 is black), and
        // the bad case is "some other class j scores at least Y_4": Y_4 − Y_j <= 0.
        let p = parse_file(&mnist).unwrap();
        assert_eq!((p.n_inputs, p.n_outputs, p.regions.len()), (784, 10, 1));
        let r = &p.regions[0];
        assert_eq!((r.lower[0], r.upper[0]), (0.0, 0.029999999329447746));
        let expected: Vec<Disjunct> = (0..10)
            .filter(|&j| j != 4)
            .map(|j| {
                let coeffs = if j < 4 {
                    [(j, -1.0), (4, 1.0)]
                } else {
                    [(4, 1.0), (j, -1.0)]
                };
                dis(&[lc(&coeffs, 0.0)])
            })
            .collect();
        assert_eq!(r.disjuncts, expected);
    }
}
