//! `certus supports`: the capabilities of the VNN-LIB 2.0 standard's solver interface (chapter
//! 5), each answer taken from the code that decides it (the importer's op table and opset
//! range, the VNN-LIB 2.0 front end's element types and [`Support`]).

use certus::spec::vnnlib2::{self, lower::SUPPORT, Support};

/// Exactly one capability to report.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Args {
    /// The solver's full name.
    #[arg(long)]
    pub name: bool,
    /// The solver's version (semantic versioning).
    #[arg(long)]
    pub version: bool,
    /// The ONNX operators the importer accepts, one per line (no element-type list: every
    /// reported element type).
    #[arg(long)]
    pub onnx_operators: bool,
    /// The lowest and highest ONNX opset versions, one per line.
    #[arg(long)]
    pub onnx_opset_versions: bool,
    /// The element types certus analyses soundly, one per line.
    #[arg(long)]
    pub onnx_element_types: bool,
    /// The lowest and highest VNN-LIB versions, one per line.
    #[arg(long)]
    pub vnnlib_versions: bool,
    /// Hidden-node theories (NH, H).
    #[arg(long)]
    pub hidden_node_theories: bool,
    /// Multiple input/output theories (SIO, MIO).
    #[arg(long, alias = "multiple-inputs-output-theories")]
    pub multiple_input_output_theories: bool,
    /// Multiple-network theories (SNET, MENET, MINET, MNET).
    #[arg(long)]
    pub multiple_network_theories: bool,
    /// Multiple-node comparison theories (SNC, MNC).
    #[arg(long)]
    pub multiple_node_comparison_theories: bool,
    /// Arithmetic complexity theories (BND, OUTC, LIN, POLY).
    #[arg(long)]
    pub arithmetic_complexity_theories: bool,
    /// Whether disjunctions are handled other than by DNF (`false`: certus uses DNF).
    #[arg(long)]
    pub optimised_disjunctive_reasoning: bool,
    /// Whether `verify --serialise-assignments` is supported (`false`).
    #[arg(long)]
    pub serialise_assignments: bool,
}

/// The solver's full name (`certus --name`, `certus supports --name`).
pub const NAME: &str = "certus";

/// The answer to one capability, as lines.
pub fn answer(a: &Args) -> Vec<String> {
    let s: Support = SUPPORT;
    let pick = |always: &[&str], extra: &[(bool, &str)]| -> Vec<String> {
        (always.iter().map(|t| t.to_string()))
            .chain(
                extra
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, t)| t.to_string()),
            )
            .collect()
    };
    if a.name {
        vec![NAME.into()]
    } else if a.version {
        vec![env!("CARGO_PKG_VERSION").into()]
    } else if a.onnx_operators {
        let mut ops: Vec<String> = (certus::import::onnx::supported_ops().iter())
            .map(|o| o.to_string())
            .collect();
        ops.sort();
        ops
    } else if a.onnx_opset_versions {
        let (lo, hi) = certus::import::onnx::OPSETS;
        vec![lo.to_string(), hi.to_string()]
    } else if a.onnx_element_types {
        (vnnlib2::SOUND_ELEMENT_TYPES.iter())
            .map(|t| t.name().to_string())
            .collect()
    } else if a.vnnlib_versions {
        vec![vnnlib2::VERSIONS.0.into(), vnnlib2::VERSIONS.1.into()]
    } else if a.hidden_node_theories {
        pick(&["NH"], &[(s.hidden_nodes, "H")])
    } else if a.multiple_input_output_theories {
        pick(&["SIO"], &[(s.multi_io, "MIO")])
    } else if a.multiple_network_theories {
        let m = s.multi_network;
        pick(&["SNET"], &[(m, "MENET"), (m, "MINET"), (m, "MNET")])
    } else if a.multiple_node_comparison_theories {
        pick(&["SNC"], &[(s.input_relations, "MNC")])
    } else if a.arithmetic_complexity_theories {
        pick(&["BND", "OUTC"], &[(s.input_relations, "LIN")])
    } else if a.optimised_disjunctive_reasoning || a.serialise_assignments {
        vec!["false".into()]
    } else {
        Vec::new()
    }
}

pub fn run(a: Args) -> certus::Result<u8> {
    for line in answer(&a) {
        println!("{line}");
    }
    Ok(0)
}
