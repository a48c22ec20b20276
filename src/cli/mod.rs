//! Argument parsing and the subcommands. Each subcommand returns its exit code; an `Err` is
//! printed as one `error: ...` line on stderr and exits with [`EXIT_ERROR`].

mod args;
mod attack;
mod bench;
mod bounds;
mod data;
mod dlv;
mod eval;
mod guard;
mod inspect;
mod radius;
mod standard;
mod supports;
mod verify;

use args::NormalizationArg;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit code for bad input or any other error.
pub const EXIT_ERROR: u8 = 2;

/// certus: a formal neural-network verifier for ONNX / .nnet networks and VNN-LIB properties.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, disable_version_flag = true)]
#[command(arg_required_else_help = true, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Print the solver's name (the VNN-LIB 2.0 standard's global option).
    #[arg(long)]
    pub name: bool,
    /// Print the version.
    #[arg(short = 'V', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How to read `.nnet` files (ignored for ONNX).
#[derive(clap::Args, Debug, Clone)]
pub struct NetArgs {
    /// Network file: ONNX (`.onnx`) or the ACAS Xu text format (`.nnet`).
    pub network: PathBuf,
    /// For `.nnet` files: `off` uses the weights alone (the same function as the VNN-COMP ONNX
    /// files, whose properties are normalised); `on` adds the header's input normalisation and
    /// output de-normalisation so the network reads raw units.
    #[arg(long, value_enum, default_value_t = NormalizationArg::Off)]
    pub nnet_normalize: NormalizationArg,
}

impl NetArgs {
    fn load(&self) -> certus::Result<certus::ir::Network> {
        if let Some(kind) = file_kind(&self.network).filter(|&k| k == Kind::Property) {
            return Err(mixed_up(&self.network, kind));
        }
        certus::import::load_network(&self.network, self.nnet_normalize.into())
    }
}

/// What a file looks like, by its name and first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Network,
    Property,
}

/// A network (`.onnx`, `.nnet`, or text starting with `//`) or a property (`.vnnlib`,
/// `.smt2`, or text starting with `(` or `;`), `.gz` looked through; `None` when neither shows
/// (the parser then says what is wrong).
fn file_kind(path: &std::path::Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if [".vnnlib", ".smt2"].iter().any(|e| name.ends_with(e)) {
        return Some(Kind::Property);
    }
    if [".onnx", ".nnet"].iter().any(|e| name.ends_with(e)) {
        return Some(Kind::Network);
    }
    let mut head = [0u8; 64];
    let n = std::io::Read::read(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?.trim_start();
    if text.starts_with("//") {
        Some(Kind::Network)
    } else if text.starts_with('(') || text.starts_with(';') {
        Some(Kind::Property)
    } else {
        None
    }
}

/// The error for a property given where the network goes, or the other way round.
fn mixed_up(path: &std::path::Path, kind: Kind) -> certus::Error {
    let (is, order) = match kind {
        Kind::Property => ("a VNN-LIB property", "the network comes first"),
        Kind::Network => ("a network", "the network comes first, then the property"),
    };
    certus::Error::Invalid(format!(
        "{}: this looks like {is}; {order} (`certus COMMAND NET PROP`)",
        path.display()
    ))
}

/// Parses a VNN-LIB 1.0 property, first checking that `path` is not a network file.
fn parse_property(path: &std::path::Path) -> certus::Result<certus::spec::Property> {
    if let Some(kind) = file_kind(path).filter(|&k| k == Kind::Network) {
        return Err(mixed_up(path, kind));
    }
    certus::spec::vnnlib::parse_file(path)
}

/// Checks that the property read from `property` fits the network read from `network`
/// ([`certus::spec::Property::check_fits`]), naming both files in the error.
fn check_fits(
    prop: &certus::spec::Property,
    property: &std::path::Path,
    net: &certus::ir::Network,
    network: &std::path::Path,
) -> certus::Result<()> {
    prop.check_fits(net).map_err(|e| {
        certus::Error::Invalid(format!(
            "{} does not fit {}: {e}",
            property.display(),
            network.display()
        ))
    })
}

/// A progress bar on stderr over `len` items (`what`: "inputs").
fn progress_bar(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} ({{eta}} left)"
        ))
        .expect("progress template")
        .progress_chars("=> "),
    );
    bar
}

/// How counterexample files draw an input of `shape` ([`certus::report::Picture::of_shape`]);
/// when its layout is ambiguous, no picture, and a note on stderr saying how to choose.
fn picture(shape: &[usize], layout: certus::report::Layout) -> Option<certus::report::Picture> {
    certus::report::Picture::of_shape(shape, layout).unwrap_or_else(|why| {
        eprintln!("note: no PNG: {why}");
        None
    })
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decide a VNN-LIB property: `certus verify NET PROP` (VNN-COMP: prints `sat`, `unsat`,
    /// `unknown`, `timeout` or `error` on the first line of stdout; after `sat`, the replayed
    /// counterexample in VNN-COMP format) or `certus verify QUERY --network NAME=MODEL ...`
    /// (VNN-LIB 2.0: `sat` and the assignment, `unsat`, `unknown` or `timed-out`).
    /// Exit codes: 0 unsat (property holds), 1 sat (violated), 2 error, 3 unknown/timeout.
    Verify(verify::Args),
    /// Evaluate the network on input vectors (one per line, numbers separated by whitespace
    /// or commas, flattened row-major); prints one output vector per line.
    Eval(eval::Args),
    /// Print the lowered IR as a table: node, op, input shape, output shape, parameters.
    Inspect(inspect::Args),
    /// Sound lower and upper bounds of every output over each input box of a VNN-LIB property.
    Bounds(bounds::Args),
    /// Run a VNN-COMP benchmark folder (`instances.csv`, optional `expected.csv`) and score it.
    /// Exit code 1 if any answer contradicts `expected.csv`.
    Bench(bench::Args),
    /// Certified robustness radii of labelled inputs (ERAN CSV): per input, the largest L∞ ε an
    /// engine proves and the smallest ε an attack breaks; `--report DIR` writes radius.json,
    /// radius.csv, report.html and the counterexamples.
    Radius(radius::Args),
    /// Search for counterexamples with one attack method and write every distinct confirmed
    /// one. Exit codes: 1 found (violated), 3 none found, 2 error.
    Attack(attack::Args),
    /// DLV's discretised robustness search (Huang et al., CAV 2017) around one input: does every
    /// grid point of the L∞ ball keep the class? Exit codes: 1 adversarial example (replayed)
    /// or the input itself misclassified, 0 safe on the grid (relative to the discretisation,
    /// not a proof), 3 incomplete (out of time, or undecided grid points), 2 error.
    Dlv(dlv::Args),
    /// Report a capability, as the VNN-LIB 2.0 standard's solver interface defines them (one
    /// flag: `--onnx-operators`, `--vnnlib-versions`, `--arithmetic-complexity-theories`, ...).
    Supports(supports::Args),
}

/// `certus verify` in its forms: a VNN-LIB 2.0 query (`QUERY --network NAME=MODEL ...`, or
/// `NET QUERY` for a query about one network) goes to [`standard`], a 1.0 property to
/// [`verify`].
fn verify_any(a: verify::Args) -> certus::Result<u8> {
    use standard::Models;
    match a.property.clone() {
        None => {
            verify::prepare(&a, "timed-out")?;
            standard::run(&a.net.network, Models::Named(&a.networks), &a)
        }
        Some(_) if !a.networks.is_empty() => Err(certus::Error::Invalid(
            "--network goes with `certus verify QUERY --network NAME=MODEL` (one file \
             argument, the query), not with `certus verify NET PROP`"
                .into(),
        )),
        Some(p) if certus::spec::vnnlib2::is_v2_file(&p) => {
            verify::prepare(&a, "timed-out")?;
            standard::run(&p, Models::Single(&a.net.network), &a)
        }
        Some(p) => {
            verify::prepare(&a, "timeout")?;
            verify::run(a, &p)
        }
    }
}

/// Runs the parsed command and returns its exit code.
pub fn run(cli: Cli) -> certus::Result<u8> {
    let Some(command) = cli.command else {
        let line = if cli.name {
            supports::NAME
        } else {
            env!("CARGO_PKG_VERSION")
        };
        println!("{line}");
        return Ok(0);
    };
    match command {
        Command::Verify(a) => verify_any(a),
        Command::Eval(a) => eval::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Bounds(a) => bounds::run(a),
        Command::Radius(a) => radius::run(a),
        Command::Attack(a) => attack::run(a),
        Command::Dlv(a) => dlv::run(a),
        Command::Supports(a) => supports::run(a),
    }
}
