//! `certus eval`.

use super::NetArgs;
use certus::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub net: NetArgs,
    /// File with one input vector per line (`-` for stdin); empty lines and `#` comments skipped.
    pub inputs: PathBuf,
    /// Compute in f64 instead of f32 (f32 reproduces onnxruntime).
    #[arg(long)]
    pub f64: bool,
}

pub fn run(a: Args) -> certus::Result<u8> {
    let net = a.net.load()?;
    let reader: Box<dyn BufRead> = if a.inputs.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&a.inputs).map_err(|source| Error::Io {
            path: a.inputs.clone(),
            source,
        })?;
        Box::new(std::io::BufReader::new(f))
    };
    let name = a.inputs.display().to_string();
    let mut out = std::io::stdout().lock();
    for (no, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            path: a.inputs.clone(),
            source,
        })?;
        let body = line.split('#').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        let x = certus::import::parse_numbers(body).map_err(|t| {
            Error::Invalid(format!("{name}:{}: `{t}` is not a finite number", no + 1))
        })?;
        if x.len() != net.input_len() {
            return Err(Error::Invalid(format!(
                "{name}:{}: expected {} numbers (input shape {:?}), found {}",
                no + 1,
                net.input_len(),
                net.input_shape(),
                x.len()
            )));
        }
        let y: Vec<String> = if a.f64 {
            net.eval_f64(&x).iter().map(|v| v.to_string()).collect()
        } else {
            net.eval_f32(&x).iter().map(|v| v.to_string()).collect()
        };
        writeln!(out, "{}", y.join(" ")).ok();
    }
    Ok(0)
}
