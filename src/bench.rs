//! Reading and scoring VNN-COMP benchmark folders (`instances.csv`, `expected.csv`).

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// One row of `instances.csv`, with its expected answer when `expected.csv` has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Network path relative to the benchmark folder.
    pub onnx: String,
    /// Property path relative to the benchmark folder.
    pub vnnlib: String,
    /// VNN-COMP timeout in seconds.
    pub timeout: f64,
    /// `sat`, `unsat` or `unknown` from `expected.csv`.
    pub expected: Option<String>,
}

/// How one answer scores against the expected one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// `sat`/`unsat` agreeing with the expected answer (or with no expected answer to contradict).
    Solved,
    /// `sat`/`unsat` contradicting the expected answer.
    Wrong,
    /// `unknown`, `timeout` or `error`.
    Unsolved,
}

/// Scores `result` (a VNN-COMP word) against `expected`.
pub fn score(result: &str, expected: Option<&str>) -> Score {
    match (result, expected) {
        ("sat", Some("unsat")) | ("unsat", Some("sat")) => Score::Wrong,
        ("sat" | "unsat", _) => Score::Solved,
        _ => Score::Unsolved,
    }
}

/// Reads `dir/instances.csv` and, when present, `dir/expected.csv`.
pub fn read_instances(dir: &Path) -> Result<Vec<Instance>> {
    let inst_path = dir.join("instances.csv");
    let text = read_text(&inst_path)?;
    let mut expected = HashMap::new();
    let exp_path = dir.join("expected.csv");
    if exp_path.exists() {
        for (no, line) in read_text(&exp_path)?.lines().enumerate() {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if no == 0 && f.first() == Some(&"onnx") || line.trim().is_empty() {
                continue;
            }
            if f.len() != 3 {
                return Err(csv_err(&exp_path, no, "expected `onnx,vnnlib,expected`"));
            }
            expected.insert((f[0].to_string(), f[1].to_string()), f[2].to_string());
        }
    }
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let timeout = f.get(2).and_then(|t| t.parse::<f64>().ok());
        let (Some(timeout), 3) = (timeout, f.len()) else {
            return Err(csv_err(
                &inst_path,
                no,
                "expected `onnx,vnnlib,timeout_seconds`",
            ));
        };
        let key = (f[0].to_string(), f[1].to_string());
        out.push(Instance {
            expected: expected.get(&key).cloned(),
            onnx: key.0,
            vnnlib: key.1,
            timeout,
        });
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(Error::read(path)?)
        .map_err(|_| Error::Invalid(format!("{}: not UTF-8 text", path.display())))
}

fn csv_err(path: &Path, no: usize, what: &str) -> Error {
    Error::Invalid(format!("{}:{}: {what}", path.display(), no + 1))
}
