//! `certus inspect`.

use super::NetArgs;
use certus::ir::Op;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn run(a: Args) -> certus::Result<u8> {
    let net = a.net.load()?;
    let nodes = net.nodes();
    let shape = |s: &[usize]| format!("{s:?}");
    let mut rows = vec![[
        "#".to_string(),
        "node".into(),
        "op".into(),
        "inputs".into(),
        "output".into(),
        "params".into(),
    ]];
    for (i, n) in nodes.iter().enumerate() {
        // `#j [shape]` of each input node.
        let input = match n.inputs.as_slice() {
            [] => "-".into(),
            ins => ins
                .iter()
                .map(|j| format!("#{} {}", j.0, shape(&nodes[j.0].shape)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let params = match &n.op {
            Op::Affine(a) => format!(
                "W {}x{}, b {}",
                a.weight.nrows(),
                a.weight.ncols(),
                a.bias.len()
            ),
            Op::Conv(c) => {
                let (o, ci, kh, kw) = c.weight.dim();
                let kind = if c.transposed { "transposed, " } else { "" };
                format!(
                    "{kind}W {o}x{ci}x{kh}x{kw}, stride {:?}, pads {:?}, dilation {:?}, groups {}",
                    c.stride, c.pads, c.dilation, c.groups
                )
            }
            Op::ScaleShift(s) => format!("{} scales/shifts", s.scale.len()),
            Op::Gather { index } => format!("{} indices", index.len()),
            Op::Softmax(sm) => format!("groups of {} elements, {} apart", sm.len, sm.inner),
            Op::Input | Op::Reshape | Op::Relu | Op::Sigmoid | Op::Tanh => String::new(),
            Op::Sign | Op::Square | Op::Mul | Op::Add | Op::Concat => String::new(),
        };
        rows.push([
            i.to_string(),
            n.name.clone(),
            n.op.name().into(),
            input,
            shape(&n.shape),
            params,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!(
        "{} nodes, {} activations, input {:?}, output {:?}",
        nodes.len(),
        net.activation_count(),
        net.input_shape(),
        net.output_shape()
    );
    Ok(0)
}
