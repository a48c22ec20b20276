//! Reading and scoring VNN-COMP benchmark folders (`instances.csv`, `expected.csv`).

use crate::outcome::Verdict;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// The known answer of an instance, from `expected.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The property is violated.
    Sat,
    /// The property holds.
    Unsat,
    /// Listed, but nobody knows (no tool decided it): nothing to check an answer against.
    Unknown,
}

impl Expected {
    /// Reads `sat`, `unsat` or `unknown` (the VNN-COMP words; `violated`/`holds` too).
    pub fn parse(word: &str) -> Option<Expected> {
        match word {
            "sat" | "violated" => Some(Expected::Sat),
            "unsat" | "holds" => Some(Expected::Unsat),
            "unknown" => Some(Expected::Unknown),
            _ => None,
        }
    }

    /// The VNN-COMP word.
    pub fn word(self) -> &'static str {
        match self {
            Expected::Sat => "sat",
            Expected::Unsat => "unsat",
            Expected::Unknown => "unknown",
        }
    }
}

/// One row of `instances.csv`, with its expected answer when `expected.csv` has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Network path relative to the benchmark folder.
    pub onnx: String,
    /// Property path relative to the benchmark folder.
    pub vnnlib: String,
    /// VNN-COMP timeout in seconds (positive).
    pub timeout: f64,
    /// From `expected.csv`; `None` when it has no row for this instance (or there is no file).
    pub expected: Option<Expected>,
}

/// How one instance scores against its expected answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Score {
    /// `sat`/`unsat` agreeing with the expected answer.
    Solved,
    /// `sat`/`unsat` contradicting the expected answer.
    Wrong,
    /// `sat`/`unsat` with no known answer to check it against (`?`): counted apart, not `ok`.
    Unchecked,
    /// `unknown` or `timeout`.
    Unsolved,
    /// The instance could not be run (a missing file, a property that does not parse or fit).
    Error,
}

impl Score {
    /// The mark in `certus bench`'s table and CSV.
    pub fn mark(self) -> &'static str {
        match self {
            Score::Solved => "ok",
            Score::Wrong => "WRONG",
            Score::Unchecked => "?",
            Score::Unsolved => "-",
            Score::Error => "ERROR",
        }
    }
}

/// Scores the verdict of one instance (`None`: it could not be run) against `expected`.
pub fn score(verdict: Option<&Verdict>, expected: Option<Expected>) -> Score {
    let Some(v) = verdict else {
        return Score::Error;
    };
    let answer = match v {
        Verdict::Sat(_) => Expected::Sat,
        Verdict::Unsat => Expected::Unsat,
        Verdict::Unknown(_) | Verdict::Timeout => return Score::Unsolved,
    };
    match expected {
        None | Some(Expected::Unknown) => Score::Unchecked,
        Some(e) if e == answer => Score::Solved,
        Some(_) => Score::Wrong,
    }
}

/// Reads `dir/instances.csv` and, when present, `dir/expected.csv`; each expected answer is
/// parsed once here. Malformed rows are errors naming the file and line.
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
            let answer = match f.as_slice() {
                [_, _, word] => Expected::parse(word),
                _ => None,
            };
            let Some(answer) = answer else {
                return Err(csv_err(
                    &exp_path,
                    no,
                    "expected `onnx,vnnlib,expected` with `sat`, `unsat` or `unknown`",
                ));
            };
            expected.insert((f[0].to_string(), f[1].to_string()), answer);
        }
    }
    let mut out = Vec::new();
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let timeout = f.get(2).and_then(|t| t.parse::<f64>().ok());
        let (Some(timeout), 3) = (timeout.filter(|t| *t > 0.0), f.len()) else {
            return Err(csv_err(
                &inst_path,
                no,
                "expected `onnx,vnnlib,timeout_seconds` with a positive timeout",
            ));
        };
        let key = (f[0].to_string(), f[1].to_string());
        out.push(Instance {
            expected: expected.get(&key).copied(),
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
