//! The VNN-LIB 2.0 front end: each construct of the standard with its hand-derived normal form,
//! and each error the standard's scoping and typing rules (and its solver chapter) require,
//! with its line and column.

mod common;

use certus::spec::vnnlib2::{parse_str, Equiv, Query, TensorKind};
use certus::spec::{Disjunct, LinearConstraint, Property, Region};
use certus::Error;
use std::path::Path;

fn query(text: &str) -> Query {
    parse_str(text, Path::new("q.vnnlib")).unwrap_or_else(|e| panic!("{e}"))
}

fn lower(text: &str) -> Property {
    query(text)
        .lower()
        .unwrap_or_else(|e| panic!("{e}"))
        .property
}

/// `(line, col, msg)` of the error that parsing, else lowering, `text` gives.
fn error(text: &str) -> (usize, usize, String) {
    let result = parse_str(text, Path::new("q.vnnlib")).and_then(|q| q.lower().map(|_| ()));
    match result {
        Err(Error::Spec { line, col, msg, .. }) => (line, col, msg),
        other => panic!("expected a located error for:\n{text}\ngot {other:?}"),
    }
}

#[track_caller]
fn assert_err(text: &str, line: usize, col: usize, fragment: &str) {
    let (l, c, msg) = error(text);
    assert!(msg.contains(fragment), "`{msg}` lacks `{fragment}`");
    assert_eq!((l, c), (line, col), "wrong position for: {msg}");
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

/// A header and one network `f` with input `X` and output `Y` of the given shapes.
fn net(x: &str, y: &str) -> String {
    format!(
        "(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input X real {x})\n  \
         (declare-output Y real {y}))\n"
    )
}

/// `net` plus `X[i]` in `[0, 1]` for a 1-D input of `n` elements.
fn unit(n: usize, y: &str) -> String {
    let bounds: String = (0..n)
        .map(|i| format!("(assert (>= X[{i}] 0.0))\n(assert (<= X[{i}] 1.0))\n"))
        .collect();
    net(&format!("[{n}]"), y) + &bounds
}

#[test]
fn simplest_query_is_a_box_and_an_output_constraint() {
    let p = lower(&(unit(2, "[1]") + "(assert (>= Y[0] 2.5))"));
    assert_eq!((p.n_inputs, p.n_outputs), (2, 1));
    assert_eq!(
        p.regions,
        vec![region(
            &[(0.0, 1.0), (0.0, 1.0)],
            &[dis(&[lc(&[(0, -1.0)], -2.5)])]
        )]
    );
}

#[test]
fn declarations_are_recorded_in_order_with_slots() {
    let q = query(
        "(vnnlib-version <2.0>)
         (declare-network f (declare-input A real [2,3]) (declare-output B Real []))
         (declare-network g (equal-to f) (declare-input C real [2,3]) (declare-output D real []))
         (declare-network h (isomorphic-to f) (declare-input E real [2,3])
            (declare-hidden H real [4] \"relu \\\"1\\\"\") (declare-output F real []))",
    );
    assert_eq!(q.version, (2, 0));
    let names: Vec<&str> = q.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["f", "g", "h"]);
    assert_eq!(q.networks[1].equiv, Some(Equiv::EqualTo(0)));
    assert_eq!(q.networks[2].equiv, Some(Equiv::IsomorphicTo(0)));
    let t: Vec<(&str, usize, TensorKind)> = (q.tensors.iter())
        .map(|t| (t.name.as_str(), t.base, t.kind))
        .collect();
    use TensorKind::*;
    assert_eq!(
        t,
        [
            ("A", 0, Input),
            ("B", 6, Output),
            ("C", 7, Input),
            ("D", 13, Output),
            ("E", 14, Input),
            ("H", 20, Hidden),
            ("F", 24, Output)
        ]
    );
    assert_eq!(q.tensors[5].onnx_name.as_deref(), Some("relu \"1\""));
    assert_eq!(q.tensors[1].header(), "B Real []");
    assert_eq!(q.tensors[0].header(), "A real [2,3]");
    let models: Vec<usize> = q.networks_needing_models().map(|(k, _)| k).collect();
    assert_eq!(models, [0, 2]);
    assert_eq!((q.model_of(1), q.model_of(2)), (0, 2));
}

#[test]
fn indices_are_row_major_and_scalars_take_none() {
    let text = net("[2,3]", "[]")
        + "(assert (and (>= X[0,0] 0) (>= X[0,1] 0) (>= X[0,2] 0) (>= X[1,0] 0) (>= X[1,1] 0)))
           (assert (>= X[1,2] -1))
           (assert (<= X[0,0] 1)) (assert (<= X[0,1] 1)) (assert (<= X[0,2] 1))
           (assert (<= X[1,0] 1)) (assert (<= X[1,1] 1)) (assert (<= X[1,2] 7))
           (assert (<= Y 0.5))";
    let p = lower(&text);
    let r = &p.regions[0];
    assert_eq!(r.lower, [0.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
    assert_eq!(r.upper, [1.0, 1.0, 1.0, 1.0, 1.0, 7.0]);
    assert_eq!(r.disjuncts, [dis(&[lc(&[(0, 1.0)], 0.5)])]);
}

#[test]
fn arithmetic_is_linearised_as_the_standard_defines_it() {
    // (- 1 2 3 4) = ((1 - 2) - 3) - 4: left-associative.
    let cases = [
        ("(<= (- Y[0]) 1)", lc(&[(0, -1.0)], 1.0)),
        ("(<= (+ Y[0] Y[1] 1) 4)", lc(&[(0, 1.0), (1, 1.0)], 3.0)),
        ("(<= (- Y[0] Y[1] 2) 4)", lc(&[(0, 1.0), (1, -1.0)], 6.0)),
        ("(<= (- 1 2 3 Y[1]) 0)", lc(&[(1, -1.0)], 4.0)),
        ("(<= (* 2 Y[1] 3) 6)", lc(&[(1, 6.0)], 6.0)),
        ("(<= (* Y[0] -0.5) 1)", lc(&[(0, -0.5)], 1.0)),
        (
            "(<= (+ Y[0] (* 2 (- Y[1] Y[0]))) 0)",
            lc(&[(0, -1.0), (1, 2.0)], 0.0),
        ),
        ("(>= Y[0] Y[1])", lc(&[(0, -1.0), (1, 1.0)], 0.0)),
        ("(<= Y[1] 1.5e2)", lc(&[(1, 1.0)], 150.0)),
    ];
    for (cmp, want) in cases {
        let p = lower(&(unit(1, "[2]") + &format!("(assert {cmp})")));
        assert_eq!(p.regions[0].disjuncts, [dis(&[want])], "{cmp}");
    }
}

#[test]
fn comparisons_become_relaxed_constraints_and_holds_is_exact() {
    let y = |c: &str| lower(&(unit(1, "[1]") + &format!("(assert {c})"))).regions[0].clone();
    let le = lc(&[(0, 1.0)], 2.0);
    let ge = lc(&[(0, -1.0)], -2.0);
    assert_eq!(y("(<= Y[0] 2)").disjuncts, [dis(std::slice::from_ref(&le))]);
    assert_eq!(y("(< Y[0] 2)").disjuncts, [dis(std::slice::from_ref(&le))]);
    assert_eq!(y("(>= Y[0] 2)").disjuncts, [dis(std::slice::from_ref(&ge))]);
    assert_eq!(y("(> Y[0] 2)").disjuncts, [dis(std::slice::from_ref(&ge))]);
    assert_eq!(y("(== Y[0] 2)").disjuncts, [dis(&[le.clone(), ge.clone()])]);
    assert_eq!(y("(= Y[0] 2)").disjuncts, [dis(&[le.clone(), ge.clone()])]);
    assert_eq!(y("(!= Y[0] 2)").disjuncts, [dis(&[le]), dis(&[ge])]);

    // Slots: X[0] = 0, Y[0] = 1. `holds` evaluates the query as written.
    for (cmp, at_two, at_three) in [
        ("(<= Y[0] 2)", true, false),
        ("(< Y[0] 2)", false, false),
        ("(> Y[0] 2)", false, true),
        ("(>= Y[0] 2)", true, true),
        ("(== Y[0] 2)", true, false),
        ("(!= Y[0] 2)", false, true),
    ] {
        let q = query(&(unit(1, "[1]") + &format!("(assert {cmp})")));
        assert_eq!(q.holds(&[0.5, 2.0]), at_two, "{cmp} at 2");
        assert_eq!(q.holds(&[0.5, 3.0]), at_three, "{cmp} at 3");
        assert!(
            !q.holds(&[1.5, 3.0]) || cmp.contains("!=") || !at_three,
            "box"
        );
    }
}

#[test]
fn disjunctions_over_boxes_give_regions_each_with_its_own_constraints() {
    let text = net("[1]", "[2]")
        + "(assert (or (and (>= X[0] 0) (<= X[0] 1) (<= Y[0] Y[1]))
                       (and (>= X[0] 2) (<= X[0] 3) (<= Y[1] Y[0]))
                       (and (>= X[0] 0) (<= X[0] 1) (<= Y[0] -1))))
           (assert (or (>= Y[0] 5) (>= Y[1] 5)))";
    let p = lower(&text);
    let y0_le_y1 = lc(&[(0, 1.0), (1, -1.0)], 0.0);
    let y1_le_y0 = lc(&[(0, -1.0), (1, 1.0)], 0.0);
    let (y0_ge5, y1_ge5) = (lc(&[(0, -1.0)], -5.0), lc(&[(1, -1.0)], -5.0));
    let y0_le_m1 = lc(&[(0, 1.0)], -1.0);
    assert_eq!(
        p.regions,
        vec![
            region(
                &[(0.0, 1.0)],
                &[
                    dis(&[y0_le_y1.clone(), y0_ge5.clone()]),
                    dis(&[y0_le_y1, y1_ge5.clone()]),
                    dis(&[y0_le_m1.clone(), y0_ge5.clone()]),
                    dis(&[y0_le_m1, y1_ge5.clone()]),
                ]
            ),
            region(
                &[(2.0, 3.0)],
                &[dis(&[y1_le_y0.clone(), y0_ge5]), dis(&[y1_le_y0, y1_ge5])]
            ),
        ]
    );
}

#[test]
fn input_bounds_from_scaled_comparisons_are_rounded_outward() {
    let text = net("[1]", "[1]") + "(assert (>= (* 3 X[0]) 1)) (assert (<= (* -1 X[0]) 0.5))";
    let q = query(&(text.clone() + "(assert (<= (* 3 X[0]) 2))"));
    let r = &q.lower().unwrap().property.regions[0];
    // 3x >= 1 → x >= 1/3 rounded down; 3x <= 2 → x <= 2/3 rounded up; -x <= .5 → x >= -.5.
    assert!(r.lower[0] < 1.0 / 3.0 && r.lower[0] == (1.0f64 / 3.0).next_down());
    assert!(r.upper[0] > 2.0 / 3.0 && r.upper[0] == (2.0f64 / 3.0).next_up());
    assert_eq!(
        lower(&(text + "(assert (<= X[0] 1))")).regions[0].upper,
        [1.0]
    );
}

#[test]
fn empty_and_false_conjunctions_are_dropped() {
    // An empty box, a strict bound meeting a bound, a false constant comparison: no region.
    for extra in [
        "(assert (>= X[0] 2))",
        "(assert (and (< X[0] 1) (>= X[0] 1)))",
        "(assert (<= (- Y[0] Y[0]) -1))",
    ] {
        let p = lower(&(unit(1, "[1]") + extra));
        assert!(p.regions.is_empty(), "{extra}: {:?}", p.regions);
    }
    // Only the feasible branch stays.
    let p = lower(&(unit(1, "[1]") + "(assert (or (>= X[0] 2) (<= Y[0] 0)))"));
    assert_eq!(
        p.regions,
        [region(&[(0.0, 1.0)], &[dis(&[lc(&[(0, 1.0)], 0.0)])])]
    );
}

#[test]
fn comments_whitespace_and_spacing_inside_brackets_are_free() {
    let text = "; a comment\n(vnnlib-version <2.0>) ; another\n(declare-network f\n\t(declare-input X real [ 1 , 2 ])\n(declare-output Y real [1]))\n(assert (>= X [0, 0] 0)) (assert (<= X[0,0] 1))\n(assert (>= X[0 ,1] 0)) (assert (<= X[0,1] 1))\r\n(assert (<= Y[0] 0)) ; end";
    let p = lower(text);
    assert_eq!(p.regions[0].upper, [1.0, 1.0]);
}

#[test]
fn typed_queries_parse_but_only_real_is_decided() {
    let text = "(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input X float32 [1])\n  (declare-output Y float32 [1]))\n(assert (<= X[0] 1)) (assert (>= X[0] 0)) (assert (<= Y[0] 0.5))";
    let q = query(text);
    assert_eq!(q.tensors[0].type_name, "float32");
    assert_err(text, 3, 18, "cannot analyse float32 networks soundly");
}

/// Every required error, with where it is reported.
#[test]
fn errors_name_line_and_column() {
    let h = "(vnnlib-version <2.0>)\n";
    let f = "(declare-network f (declare-input X real [2]) (declare-output Y real [1]))\n";
    let b = "(assert (>= X[0] 0)) (assert (<= X[0] 1)) (assert (>= X[1] 0)) (assert (<= X[1] 1))\n";
    let cases: Vec<(String, usize, usize, &str)> = vec![
        // Version and structure.
        ("(declare-network f)".into(), 1, 2, "expected `(vnnlib-version <2.0>)` first"),
        ("(vnnlib-version <2.1>)".into(), 1, 17, "unsupported VNN-LIB version 2.1"),
        ("(vnnlib-version 2.0)".into(), 1, 17, "bad version `2.0`"),
        (h.to_string(), 2, 1, "declares no network"),
        (format!("{h}(assert (<= 1 2))"), 2, 1, "before any assertion"),
        (format!("{h}{f}{b}(declare-network g (declare-input A real [1]) (declare-output B real [1]))"), 4, 1, "before the first assertion"),
        (format!("{h}(declare-const X_0 Real)"), 2, 2, "found `declare-const`"),
        (format!("{h}{f}(assert (<= Y[0] 1)"), 3, 1, "this `(` is never closed"),
        (format!("{h}(declare-network f (declare-input X real [2]"), 2, 20, "this `(` is never closed (expected `)` closing the declaration"),
        (format!("{h}{f})"), 3, 1, "expected `(declare-network ...)` or `(assert ...)`"),
        // Declarations.
        (format!("{h}(declare-network f (declare-input f real [1]) (declare-output Y real [1]))"), 2, 35, "`f` is declared twice"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-output X real [1]))"), 2, 63, "`X` is declared twice (first at line 2, column 35)"),
        (format!("{h}(declare-network 2f (declare-input X real [1]) (declare-output Y real [1]))"), 2, 18, "bad name `2f`"),
        (format!("{h}(declare-network f (declare-input and real [1]) (declare-output Y real [1]))"), 2, 35, "keyword"),
        (format!("{h}(declare-network f (declare-input X flaot32 [1]) (declare-output Y real [1]))"), 2, 37, "unknown element type `flaot32`"),
        (format!("{h}(declare-network f (declare-input X real [0]) (declare-output Y real [1]))"), 2, 43, "bad dimension `0`"),
        (format!("{h}(declare-network f (declare-input X real [1 2]) (declare-output Y real [1]))"), 2, 45, "expected `,` or `]` in the shape"),
        (format!("{h}(declare-network f (declare-input X real 1) (declare-output Y real [1]))"), 2, 42, "expected a shape"),
        (format!("{h}(declare-network f (declare-input X real [100000,100000,100000]) (declare-output Y real [1]))"), 2, 35, "too large"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-hidden H real [1] relu) (declare-output Y real [1]))"), 2, 74, "ONNX node output name as a string"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-hidden H real [1] \"relu) (declare-output Y real [1]))"), 2, 74, "never closed"),
        (format!("{h}(declare-network f (declare-output Y real [1]) (declare-input X real [1]))"), 2, 20, "comes after the network's inputs"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-output Y real [1]) (declare-input Z real [1]))"), 2, 75, "must come before every `declare-output`"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-output Y real [1]) (declare-hidden H real [1] \"h\"))"), 2, 75, "must come before every `declare-output`"),
        (format!("{h}(declare-network f (declare-input X real [1]))"), 2, 1, "needs at least one `declare-input` and one `declare-output`"),
        (format!("{h}(declare-network f (declare-input X real [1] initialized) (declare-output Y real [1]))"), 2, 46, "`initialized` is VNN-LIB 2.1"),
        (format!("{h}(declare-network f (declare-input X real [1]) (declare-inpt Y real [1]))"), 2, 48, "found `declare-inpt`"),
        // Equivalences.
        (format!("{h}{f}(declare-network g (equal-to k) (declare-input A real [2]) (declare-output B real [1]))"), 3, 30, "not an earlier network"),
        (format!("{h}{f}(declare-network g (equal-to X) (declare-input A real [2]) (declare-output B real [1]))"), 3, 30, "is a variable, not a network"),
        (format!("{h}{f}(declare-network g (equal-to f) (declare-input A real [3]) (declare-output B real [1]))"), 3, 48, "equal networks need equal types and shapes"),
        (format!("{h}{f}(declare-network g (equal-to f) (declare-input A float32 [2]) (declare-output B real [1]))"), 3, 48, "equal networks need equal types and shapes"),
        (format!("{h}{f}(declare-network g (isomorphic-to f) (declare-input A real [2]) (declare-output B real [2]))"), 3, 81, "isomorphic networks need equal shapes"),
        (format!("{h}{f}(declare-network g (isomorphic-to f) (declare-input A real [2]) (declare-input C real [2]) (declare-output B real [1]))"), 3, 20, "declares 2 inputs but `f` declares 1"),
        (format!("{h}{f}(declare-network g (equal-to f) (equal-to f) (declare-input A real [2]) (declare-output B real [1]))"), 3, 33, "at most one `equal-to` or `isomorphic-to`"),
        (format!("{h}{f}(declare-network g (equal-to f) (declare-input A real [2]) (declare-output B real [1]))\n(declare-network k (equal-to g) (declare-input C real [2]) (declare-output D real [1]))"), 4, 30, "forbids chains"),
        (format!("{h}{f}(declare-network g (declare-input A real [2]) (equal-to f) (declare-output B real [1]))"), 3, 47, "must come before every `declare-input`"),
        (format!("{h}(declare-network f (declare-input X real [2]) (declare-hidden H real [2] \"n\") (declare-output Y real [1]))\n(declare-network g (equal-to f) (declare-input A real [2]) (declare-hidden G real [3] \"n\") (declare-output B real [1]))"), 3, 76, "name the same ONNX node"),
        // Variables and indices.
        (format!("{h}{f}(assert (<= Z[0] 1))"), 3, 13, "undeclared variable `Z`"),
        (format!("{h}{f}(assert (<= f 1))"), 3, 13, "`f` is a network, not a variable"),
        (format!("{h}{f}(assert (<= X 1))"), 3, 13, "it takes 1 indices, found 0"),
        (format!("{h}{f}(assert (<= X[0,0] 1))"), 3, 13, "it takes 1 indices, found 2"),
        (format!("{h}{f}(assert (<= X[2] 1))"), 3, 15, "index 2 is out of range"),
        (format!("{h}{f}(assert (<= X[-1] 1))"), 3, 15, "bad index `-1`"),
        (format!("{h}(declare-network f (declare-input X real [2]) (declare-output Y real []))\n(assert (<= Y[0] 1))"), 3, 13, "is a scalar"),
        // Types.
        (format!("{h}(declare-network f (declare-input X real [2]) (declare-output Y float32 [1]))\n(assert (<= X[0] Y[0]))"), 3, 18, "type mismatch: `Y` has type `float32` but `X`"),
        (format!("{h}(declare-network f (declare-input X int32 [2]) (declare-output Y int32 [1]))\n(assert (<= X[0] 0.5))"), 3, 18, "the constant `0.5` is not of type `int32`"),
        (format!("{h}(declare-network f (declare-input X uint8 [2]) (declare-output Y uint8 [1]))\n(assert (<= X[0] -1))"), 3, 18, "no negative constants"),
        (format!("{h}(declare-network f (declare-input X bool [2]) (declare-output Y bool [1]))\n(assert (<= X[0] X[1]))"), 3, 9, "no arithmetic or ordering"),
        (format!("{h}{f}(assert (<= 0.0 1.0))"), 3, 9, "comparison without variables"),
        // Expressions.
        (format!("{h}{f}(assert (<= (* X[0] X[1]) 1))"), 3, 21, "polynomial term"),
        (format!("{h}{f}(assert (<= (/ X[0] 2) 1))"), 3, 14, "no division"),
        (format!("{h}{f}(assert (not (<= X[0] 1)))"), 3, 10, "only `and` and `or`"),
        (format!("{h}{f}(assert (<= X[0] 1 2))"), 3, 20, "compares exactly two expressions"),
        (format!("{h}{f}(assert (and))"), 3, 9, "needs at least one boolean expression"),
        (format!("{h}{f}(assert (<= (+) 1))"), 3, 13, "needs at least one operand"),
        (format!("{h}{f}(assert (<= X[0] 1.))"), 3, 18, "bad number `1.`"),
        (format!("{h}{f}(assert (<= X[0] .5))"), 3, 18, "bad number `.5`"),
        (format!("{h}{f}(assert (<= X[0] 1e400))"), 3, 18, "too large for a 64-bit float"),
        (format!("{h}{f}(assert (<= X[0] 1) (<= X[0] 2))"), 3, 21, "it takes one boolean expression"),
        (format!("{h}{f}(assert (<= X[0] [1]))"), 3, 18, "found `[`"),
        (format!("{h}{f}(assert {}(<= X[0] 1){})", "(and ".repeat(300), ")".repeat(300)), 3, 1289, "nested deeper than 256"),
        // Lowering (what certus decides).
        (format!("{h}{f}(assert (>= X[0] 0)) (assert (<= X[0] 1)) (assert (<= X[1] 1))"), 3, 51, "input X[1] has no lower bound"),
        (format!("{h}{f}(assert (<= Y[0] 1))"), 2, 35, "input X[0] has no bounds"),
    ];
    let mut failures = Vec::new();
    for (text, line, col, fragment) in cases {
        let (l, c, msg) = error(&text);
        if !msg.contains(fragment) || (l, c) != (line, col) || msg.contains('\n') {
            failures.push(format!(
                "want {line}:{col} `{fragment}`, got {l}:{c} `{msg}` for:\n{text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn too_many_conjunctions_are_refused_before_allocating() {
    // 2^20 conjunctions from twenty binary `or`s.
    let ors: String = (0..20)
        .map(|_| "(assert (or (<= Y[0] 0) (>= Y[0] 1)))\n")
        .collect();
    let (_, _, msg) = error(&(unit(1, "[1]") + &ors));
    assert!(msg.contains("too large"), "{msg}");
}

#[test]
fn assignment_text_is_the_standards_format() {
    let q = query(&(net("[2,2]", "[]") + "(assert (<= Y 1))"));
    let text = q.assignment_text(&[0.5, 0.25, -1.0, 3.0, 0.1]);
    assert_eq!(text, "X real [2,2]\n0.5\n0.25\n-1\n3\nY real []\n0.1\n");
}

#[test]
fn property_refuses_queries_the_vnncomp_form_cannot_take() {
    let q = query(&(unit(1, "[1]") + "(assert (<= Y[0] 1))"));
    assert!(q.property(Path::new("q.vnnlib")).is_ok());
    let text = "(vnnlib-version <2.0>)\n(declare-network f (declare-input X real [1]) (declare-output Y real [1]))\n(declare-network g (equal-to f) (declare-input A real [1]) (declare-output B real [1]))\n(assert (and (>= X[0] 0) (<= X[0] 1) (>= A[0] 0) (<= A[0] 1)))";
    let err = query(text).property(Path::new("q.vnnlib")).unwrap_err();
    assert!(err.to_string().contains("several networks"), "{err}");
}

/// `f` (tiny_relu: X [1,2] → Y [1,1]) and `g` equal to it (A → B), with a constraint relating
/// the inputs of both and one relating their outputs.
const TWO_NETS: &str = "(vnnlib-version <2.0>)
(declare-network f (declare-input X real [1,2]) (declare-output Y real [1,1]))
(declare-network g (equal-to f) (declare-input A real [1,2]) (declare-output B real [1,1]))
(assert (and (>= X[0,0] 0) (<= X[0,0] 1) (>= X[0,1] 0) (<= X[0,1] 1)))
(assert (and (>= A[0,0] 0) (<= A[0,0] 1) (>= A[0,1] 0) (<= A[0,1] 1)))
(assert (<= (+ X[0,0] A[0,1]) 1))
(assert (<= Y[0,0] B[0,0]))";

#[test]
fn several_networks_and_input_relations_lay_out_one_engine_network() {
    use certus::spec::vnnlib2::{engine_network, Part};
    let q = query(TWO_NETS);
    let l = q.lower().unwrap();
    // Slots: X 0-1, Y 2, A 3-4, B 5; tensors X 0, Y 1, A 2, B 3. Engine input [X, A];
    // output [Y, B, X[0,0], A[0,1]].
    assert_eq!(l.layout.inputs, [0, 1, 3, 4]);
    assert!(l.layout.aliases.is_empty());
    assert_eq!(
        l.layout.outputs,
        [Part::Tensor(1), Part::Tensor(3), Part::Inputs(vec![0, 3])]
    );
    assert_eq!((l.property.n_inputs, l.property.n_outputs), (4, 4));
    assert_eq!(
        l.property.regions,
        [region(
            &[(0.0, 1.0); 4],
            &[dis(&[
                lc(&[(2, 1.0), (3, 1.0)], 1.0),
                lc(&[(0, 1.0), (1, -1.0)], 0.0)
            ])]
        )]
    );
    let tiny = certus::import::onnx::load(Path::new("tests/fixtures/tiny_relu.onnx")).unwrap();
    let net = engine_network(&q, &l.layout, &[&tiny, &tiny]).unwrap();
    let f = |a: f64, b: f64| 3.0 + (a - b).max(0.0) - 2.0 * (2.0 * a + b - 1.0).max(0.0);
    for x in [[0.5, 0.0, 1.0, 1.0], [0.25, 0.75, 0.0, 0.5]] {
        let want = [f(x[0], x[1]), f(x[2], x[3]), x[0], x[3]];
        assert_eq!(net.eval_f64(&x), want);
    }
    // The slots of an engine point, for the exact re-check and the assignment.
    let y = net.eval_f64(&[0.5, 0.0, 1.0, 1.0]);
    let v = l.layout.slot_values(&q, &[0.5, 0.0, 1.0, 1.0], &y);
    assert_eq!(v, [0.5, 0.0, 3.5, 1.0, 1.0, -1.0]);
    assert!(!q.holds(&v), "0.5 + 1 > 1");
    // A model that does not fit its declaration.
    let vee = certus::import::onnx::load(Path::new("tests/fixtures/dropout.onnx")).unwrap();
    let err = engine_network(&q, &l.layout, &[&tiny, &vee]).unwrap_err();
    assert!(
        err.contains("network `g` declares 2 input and 1 output elements"),
        "{err}"
    );
}

#[test]
fn inputs_a_top_level_equality_makes_equal_share_one_engine_input() {
    use certus::spec::vnnlib2::engine_network;
    // X[0,1] == A[0,1] (an `==`), A[0,0] == X[0,0] (a `<=` and a `>=`): both pairs merge; an
    // equality under `or` does not.
    let text = format!(
        "{TWO_NETS}\n(assert (== X[0,1] A[0,1]))\n(assert (<= A[0,0] X[0,0]))\n\
         (assert (>= A[0,0] X[0,0]))\n(assert (or (== X[0,0] X[0,1]) (<= Y[0,0] 0)))"
    );
    let q = query(&text);
    let l = q.lower().unwrap();
    assert_eq!(l.layout.inputs, [0, 1]);
    assert_eq!(
        l.layout
            .aliases
            .iter()
            .map(|(&a, &b)| (a, b))
            .collect::<Vec<_>>(),
        [(3, 0), (4, 1)]
    );
    // Box of the merged elements: the intersection; the equalities vanish; X[0,0] + A[0,1] is
    // now X[0,0] + X[0,1]; the `or` keeps its two branches.
    let r = &l.property.regions;
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].lower.clone(), r[0].upper.clone()),
        (vec![0.0; 2], vec![1.0; 2])
    );
    let tiny = certus::import::onnx::load(Path::new("tests/fixtures/tiny_relu.onnx")).unwrap();
    let net = engine_network(&q, &l.layout, &[&tiny, &tiny]).unwrap();
    assert_eq!(net.input_len(), 2);
    let f = |a: f64, b: f64| 3.0 + (a - b).max(0.0) - 2.0 * (2.0 * a + b - 1.0).max(0.0);
    let y = net.eval_f64(&[0.5, 0.25]);
    assert_eq!(&y[..2], [f(0.5, 0.25), f(0.5, 0.25)]);
    let v = l.layout.slot_values(&q, &[0.5, 0.25], &y);
    assert_eq!(v, [0.5, 0.25, f(0.5, 0.25), 0.5, 0.25, f(0.5, 0.25)]);
}

#[test]
fn version_header_is_detected_past_comments() {
    use certus::spec::vnnlib2::is_v2;
    assert!(is_v2("; comment\n  ( vnnlib-version <2.0>)"));
    assert!(!is_v2("(declare-const X_0 Real)"));
    assert!(!is_v2("; (vnnlib-version <2.0>)\n(declare-const X_0 Real)"));
}

/// The VNN-LIB 1.0 file rewritten as a 2.0 query about one network with input `X [n]` and
/// output `Y [m]` (`X_k` → `X[k]`).
fn as_v2(text: &str, n: usize, m: usize) -> String {
    let mut out = format!(
        "(vnnlib-version <2.0>)\n(declare-network f (declare-input X real [{n}]) \
         (declare-output Y real [{m}]))\n"
    );
    for line in text.lines() {
        let code = line.split(';').next().unwrap_or_default();
        if code.trim_start().starts_with("(declare-const") {
            continue;
        }
        let mut rewritten = String::with_capacity(code.len());
        let mut rest = code;
        while let Some(i) = rest.find(['X', 'Y']) {
            rewritten.push_str(&rest[..i]);
            let tail = &rest[i + 1..];
            let digits = tail
                .strip_prefix('_')
                .map_or(0, |t| t.bytes().take_while(u8::is_ascii_digit).count());
            if digits > 0 {
                rewritten.push_str(&format!("{}[{}]", &rest[i..i + 1], &tail[1..1 + digits]));
                rest = &tail[1 + digits..];
            } else {
                rewritten.push_str(&rest[i..i + 1]);
                rest = tail;
            }
        }
        rewritten.push_str(rest);
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

/// Every property of the shared benchmarks, rewritten as a 2.0 query, lowers to the normal form
/// the 1.0 parser gives (a differential check of the two front ends).
#[test]
fn shared_benchmark_properties_lower_alike_in_both_versions() {
    let Some(root) = common::shared_benchmarks() else {
        return;
    };
    let dirs = std::fs::read_dir(&root).unwrap();
    let mut files: Vec<std::path::PathBuf> = dirs
        .filter_map(|d| std::fs::read_dir(d.ok()?.path().join("vnnlib")).ok())
        .flatten()
        .filter_map(|f| Some(f.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "vnnlib"))
        .collect();
    files.sort();
    for path in &files {
        let v1 = certus::spec::vnnlib::parse_file(path).unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(path).unwrap();
        let v2 = as_v2(&text, v1.n_inputs, v1.n_outputs);
        let lowered = parse_str(&v2, path)
            .and_then(|q| q.lower())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(lowered.property, v1, "{}", path.display());
    }
    println!("{} properties lowered alike", files.len());
}
