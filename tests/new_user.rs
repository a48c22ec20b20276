//! What a new user trips on (issue 11): files given in the wrong order, empty data, help texts
//! that disagree with the binary, docs that do not list what is shipped, and the README's
//! examples run as written.

mod common;

use common::{certus, root};
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a clean error: exit code 2, an `error: ...` line naming every needle, no panic.
fn assert_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    for n in needles {
        assert!(line.contains(n), "`{line}` should mention `{n}`");
    }
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("certus-new-user-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn property_and_network_swapped() {
    let prop = "properties/vee_above_2.1.vnnlib";
    let net = "examples/vee.nnet";
    // Before: a protobuf wire-type message about the VNN-LIB file.
    for cmd in ["verify", "bounds", "attack"] {
        let o = certus(&[cmd, prop, net]);
        assert_error(
            &o,
            &[prop, "looks like a VNN-LIB property", "network comes first"],
        );
    }
    let o = certus(&["radius", prop, "--data", "tests/fixtures/radius_linear.csv"]);
    assert_error(&o, &["looks like a VNN-LIB property"]);
    // A network where the property goes.
    let o = certus(&["bounds", net, net]);
    assert_error(&o, &[net, "looks like a network"]);
    // Sniffed from the content when the name says nothing.
    let dir = tmp_dir("swapped");
    let p = dir.join("prop.txt");
    std::fs::copy(root().join(prop), &p).unwrap();
    let o = certus(&["verify", p.to_str().unwrap(), net]);
    assert_error(&o, &["looks like a VNN-LIB property"]);
}

#[test]
fn radius_without_data_is_an_error() {
    let dir = tmp_dir("empty");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "\n\n").unwrap();
    let net = "tests/fixtures/radius_linear.nnet";
    // Before: "clean accuracy 0/0 ... 0.0%" and exit 0.
    let o = certus(&["radius", net, "--data", empty.to_str().unwrap()]);
    assert_error(&o, &["no data lines"]);
    let o = certus(&[
        "radius",
        net,
        "--data",
        "tests/fixtures/radius_linear.csv",
        "--count",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("must be at least 1"), "{}", stderr(&o));
}

/// The JSON schema `bounds --help` documents has the keys `bounds --json` prints.
#[test]
fn bounds_json_matches_its_documented_schema() {
    let help = stdout(&certus(&["bounds", "--help"]));
    let doc = help
        .split("Print JSON: `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap_or_else(|| panic!("no schema in: {help}"));
    let o = certus(&[
        "bounds",
        "examples/vee.nnet",
        "properties/vee_above_2.1.vnnlib",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            doc.contains(&format!("\"{k}\"")),
            "`{k}` missing from {doc}"
        );
    }
    assert_eq!(
        doc.matches("\":").count(),
        5,
        "{doc}: method, regions, outputs, lower, upper"
    );
}

/// `properties/README.md` names every file and folder under `properties/`.
#[test]
fn properties_readme_lists_every_file() {
    let readme = std::fs::read_to_string(root().join("properties/README.md")).unwrap();
    let mut stack = vec![root().join("properties")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root().join("properties")).unwrap();
            let rel = rel.to_string_lossy().replace('\\', "/");
            if p.is_dir() {
                stack.push(p.clone());
                assert!(readme.contains(&format!("{rel}/")), "{rel}/ not listed");
            } else if rel != "README.md" {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                assert!(readme.contains(&name), "{rel} not listed");
            }
        }
    }
}

/// The README's `certus dlv` examples run as written (issue 11 item 5: the input they use is
/// shipped): each `$ certus dlv ...` line of the README is run, and the lines after it are the
/// start of its output (each up to its `…`).
#[test]
fn readme_dlv_examples_run_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut ran = 0;
    for (k, line) in lines.iter().enumerate() {
        let Some(cmd) = line.strip_prefix("$ certus dlv ") else {
            continue;
        };
        let mut args = vec!["dlv"];
        args.extend(cmd.split_whitespace());
        let o = certus(&args);
        let out = stdout(&o);
        let got: Vec<&str> = out.lines().collect();
        let want = lines[k + 1..]
            .iter()
            .take_while(|l| !l.starts_with('$') && !l.starts_with("```"));
        for (i, w) in want.enumerate() {
            let w = w.trim_end_matches('…').trim_end();
            assert!(
                got[i].starts_with(w),
                "`{cmd}` line {i}: `{}` is not `{w}`",
                got[i]
            );
        }
        let code = if got[0] == "adversarial" { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(code), "{cmd}: {out}");
        ran += 1;
    }
    assert_eq!(ran, 2, "the README shows two dlv runs");
}

/// DLV on an input the network already puts in another class says so (issue 11 item 5).
#[test]
fn dlv_says_when_the_input_itself_is_misclassified() {
    let o = certus(&[
        "dlv",
        "tests/fixtures/dlv_tent.nnet",
        "--input",
        "tests/fixtures/dlv_tent_input.txt",
        "--label",
        "0",
        "--eps",
        "0.2",
        "--step",
        "0.1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("misclassified: the input itself is in class 1, not 0"),
        "{out}"
    );
    assert!(out.contains("(X_0 0.4"), "{out}");
}
