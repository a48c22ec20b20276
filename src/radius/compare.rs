//! Several networks side by side (`certus radius NET_A NET_B ... --report DIR`): the same inputs,
//! the same engines and settings, so a user sees whether a defence (distillation, adversarial
//! training, ...) buys certified robustness or only resistance to one attack. Each network keeps
//! its own full report in a folder of `DIR` ([`folder`]); `compare.html` puts their accuracy
//! against ε on shared axes (one plot per network, and one of all of them) with the summary and
//! the inputs side by side, and `compare.csv` has one row per network.

use super::html::{accuracy_curves, esc, num, pct, COLORS, STYLE};
use super::svg::{step_plot, Curve};
use super::{write_file, write_report, RadiusReport};
use crate::{Error, Result};
use std::fmt::Write;
use std::path::Path;

/// The folder of network `k`'s own report: `<k>_<file stem>`, the stem kept to ASCII letters,
/// digits, `-`, `_` and `.` (anything else becomes `_`).
pub fn folder(k: usize, network: &str) -> String {
    let stem = Path::new(network)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".gz").unwrap_or(&stem);
    let stem = Path::new(stem)
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "-_.".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    format!("{k}_{clean}")
}

/// The network's file name, for titles and tables.
fn short(network: &str) -> String {
    Path::new(network)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| network.to_string())
}

/// An error unless `reps` were run on the same inputs (index and label) with the same engines,
/// ε grid and `eps_max`: only then do their numbers compare.
pub fn check(reps: &[RadiusReport]) -> Result<()> {
    let Some(first) = reps.first() else {
        return Err(Error::Invalid("no network to compare".into()));
    };
    let key = |r: &RadiusReport| -> Vec<(usize, usize)> {
        r.inputs.iter().map(|i| (i.index, i.label)).collect()
    };
    for r in &reps[1..] {
        let same = key(r) == key(first)
            && r.options.engines == first.options.engines
            && r.options.eps_grid == first.options.eps_grid
            && r.options.eps_max == first.options.eps_max;
        if !same {
            return Err(Error::Invalid(format!(
                "{} and {} were not run on the same inputs with the same engines and ε: they do \
                 not compare",
                first.network, r.network
            )));
        }
    }
    Ok(())
}

/// The `compare.csv` text, one row per network: `network,folder,count,correct,clean_accuracy`,
/// then at each grid ε `certified@ε` (best engine), `<engine>@ε` per engine and `attack@ε`
/// (empirical robust accuracy), then `median_certified_radius,median_attack_radius,
/// soundness_violations`. Accuracies are fractions of all inputs; empty cells mean "none".
pub fn to_csv(reps: &[RadiusReport]) -> String {
    let mut s = String::from("network,folder,count,correct,clean_accuracy");
    let Some(first) = reps.first() else {
        return s + "\n";
    };
    let grid = &first.summary.eps_grid;
    for e in grid {
        let _ = write!(s, ",certified@{e}");
        for g in &first.options.engines {
            let _ = write!(s, ",{}@{e}", g.name());
        }
        let _ = write!(s, ",attack@{e}");
    }
    s.push_str(",median_certified_radius,median_attack_radius,soundness_violations\n");
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for (k, r) in reps.iter().enumerate() {
        let sm = &r.summary;
        // A path with a comma or quote is quoted, CSV style.
        let name = match r.network.contains([',', '"']) {
            true => format!("\"{}\"", r.network.replace('"', "\"\"")),
            false => r.network.clone(),
        };
        let _ = write!(
            s,
            "{name},{},{},{},{}",
            folder(k, &r.network),
            sm.count,
            sm.correct,
            opt(sm.clean_accuracy)
        );
        for i in 0..grid.len() {
            let _ = write!(s, ",{}", sm.certified_accuracy[i]);
            for e in &sm.engines {
                let _ = write!(s, ",{}", e.certified_accuracy[i]);
            }
            let _ = write!(s, ",{}", sm.empirical_robust_accuracy[i]);
        }
        let _ = writeln!(
            s,
            ",{},{},{}",
            opt(sm.median_radius),
            opt(sm.median_attack_radius),
            sm.soundness_violations
        );
    }
    s
}

/// Per network: its best certified accuracy (solid) and its empirical robust accuracy (dashed)
/// against ε, in the network's colour.
fn overlay(reps: &[RadiusReport]) -> Vec<Curve> {
    let mut out = Vec::new();
    for (k, r) in reps.iter().enumerate() {
        let curves = accuracy_curves(r);
        let xs: Vec<f64> = curves[0].points.iter().map(|p| p.0).collect();
        let n = r.inputs.len().max(1) as f64;
        let color = COLORS[k % COLORS.len()];
        let best = xs
            .iter()
            .map(|&x| {
                let c = r
                    .inputs
                    .iter()
                    .filter(|i| i.correct() && i.certified_radius >= x);
                (x, c.count() as f64 / n)
            })
            .collect();
        let name = esc(&short(&r.network));
        out.push(Curve {
            name: format!("{name} certified"),
            color,
            dashed: false,
            points: best,
        });
        let attack = curves.into_iter().last().expect("the attack curve");
        out.push(Curve {
            name: format!("{name} attack"),
            color,
            dashed: true,
            points: attack.points,
        });
    }
    out
}

fn summary_table(reps: &[RadiusReport], s: &mut String) {
    let grid = &reps[0].summary.eps_grid;
    s.push_str("<table><tr><th>network</th><th>clean</th><th></th>");
    for e in grid {
        let _ = write!(s, "<th>ε = {e}</th>");
    }
    s.push_str("<th>median radius</th><th>s / input</th></tr>");
    for (k, r) in reps.iter().enumerate() {
        let sm = &r.summary;
        let rows = sm.engines.len() + 1;
        let _ = write!(
            s,
            r#"<tr><td rowspan="{rows}"><a href="{}/report.html">{}</a></td><td rowspan="{rows}">{}</td>"#,
            esc(&folder(k, &r.network)),
            esc(&short(&r.network)),
            sm.clean_accuracy.map(pct).unwrap_or_else(|| "–".into())
        );
        for (j, e) in sm.engines.iter().enumerate() {
            if j > 0 {
                s.push_str("<tr>");
            }
            let _ = write!(s, "<td>certified ({})</td>", e.engine.name());
            for a in &e.certified_accuracy {
                let _ = write!(s, "<td>{}</td>", pct(*a));
            }
            let _ = write!(
                s,
                "<td>{}</td><td>{}</td></tr>",
                num(e.median_radius),
                num(e.time_per_input_s)
            );
        }
        s.push_str("<tr><td>empirical (attack)</td>");
        for a in &sm.empirical_robust_accuracy {
            let _ = write!(s, "<td>{}</td>", pct(*a));
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td></tr>",
            num(sm.median_attack_radius),
            num(sm.attack_time_per_input_s)
        );
    }
    s.push_str("</table>");
}

fn inputs_table(reps: &[RadiusReport], s: &mut String) {
    s.push_str("<table><tr><th rowspan=\"2\">#</th><th rowspan=\"2\">label</th>");
    for r in reps {
        let _ = write!(s, r#"<th colspan="3">{}</th>"#, esc(&short(&r.network)));
    }
    s.push_str("</tr><tr>");
    for _ in reps {
        s.push_str("<th>prediction</th><th>certified</th><th>attack</th>");
    }
    s.push_str("</tr>");
    for (i, input) in reps[0].inputs.iter().enumerate() {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td>", input.index, input.label);
        for r in reps {
            let x = &r.inputs[i];
            let cls = if x.correct() { "" } else { r#" class="wrong""# };
            let _ = write!(
                s,
                "<td{cls}>{}</td><td{cls}>{:.4}</td><td{cls}>{}</td>",
                x.prediction,
                x.certified_radius,
                num(x.attack_radius)
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}

/// The `compare.html` text (self-contained: inline SVG, no scripts); `reps` must pass
/// [`check`].
pub fn to_html(reps: &[RadiusReport]) -> String {
    let o = &reps[0].options;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>certus radius: {} networks</title><style>{STYLE} td.wrong{{color:#999}}</style></head><body>"#,
        reps.len()
    );
    let engines: Vec<&str> = o.engines.iter().map(|e| e.name()).collect();
    let _ = write!(
        s,
        "<h1>Certified robustness radii of {} networks</h1><p>The same {} inputs of <code>{}</code>, \
         the same engines ({}) and attack (FGSM, then PGD); ε up to {}. Certified accuracy is a \
         lower bound on the robust accuracy, the attack's an upper bound: a defence that raises only \
         the attack's curve resists that attack without being proved robust. Each network's own \
         report (its counterexamples and images) is linked from its name.</p>",
        reps.len(),
        reps[0].summary.count,
        esc(&reps[0].data),
        engines.join(", "),
        o.eps_max
    );
    s.push_str("<h2>Summary</h2>");
    summary_table(reps, &mut s);
    s.push_str(r#"<h2>Accuracy vs ε</h2><div class="plots">"#);
    s.push_str(&step_plot(
        "All networks: certified (best engine) and attack",
        "ε (L∞, pixel space)",
        "accuracy",
        o.eps_max,
        &overlay(reps),
    ));
    for r in reps {
        s.push_str(&step_plot(
            &esc(&short(&r.network)),
            "ε (L∞, pixel space)",
            "accuracy",
            o.eps_max,
            &accuracy_curves(r),
        ));
    }
    s.push_str("</div><h2>Inputs</h2>");
    inputs_table(reps, &mut s);
    s.push_str("</body></html>\n");
    s
}

/// Writes each network's report into its [`folder`] of `dir` ([`write_report`]), then
/// `compare.csv` and `compare.html`; `reps` must pass [`check`].
pub fn write_comparison(dir: &Path, reps: &[RadiusReport]) -> Result<()> {
    check(reps)?;
    for (k, r) in reps.iter().enumerate() {
        write_report(&dir.join(folder(k, &r.network)), r)?;
    }
    write_file(&dir.join("compare.csv"), &to_csv(reps))?;
    write_file(&dir.join("compare.html"), &to_html(reps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_numbered_file_stems() {
        assert_eq!(folder(0, "nets/mnist 256x2.onnx"), "0_mnist_256x2");
        assert_eq!(folder(1, "a/b/net.onnx.gz"), "1_net");
        assert_eq!(folder(2, "plain"), "2_plain");
    }
}
