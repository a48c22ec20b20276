//! `report.html`: one self-contained page (inline SVG plots, images as PNG data URIs, no
//! scripts, no external resources).

use super::json::adversarial_class;
use super::svg::{histogram, step_plot, Curve};
use super::RadiusReport;
use crate::report::image::{base64, diff_png, png_of, ImageGeometry};
use crate::Result;
use std::fmt::Write;

pub(super) const COLORS: [&str; 5] = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"];
const ATTACK_COLOR: &str = "#d62728";

/// `&`, `<`, `>`, `"` escaped.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn img(png: &[u8], alt: &str) -> String {
    format!(
        r#"<img alt="{alt}" src="data:image/png;base64,{}">"#,
        base64(png)
    )
}

/// Curves of accuracy against ε, sampled on 400 steps of `[0, eps_max]`.
pub(super) fn accuracy_curves(rep: &RadiusReport) -> Vec<Curve> {
    let n = rep.inputs.len().max(1) as f64;
    let xs: Vec<f64> = (0..=400)
        .map(|i| rep.options.eps_max * i as f64 / 400.0)
        .collect();
    let curve = |name: String, color, dashed, ok: &dyn Fn(usize, f64) -> bool| Curve {
        name,
        color,
        dashed,
        points: xs
            .iter()
            .map(|&e| {
                let c = (0..rep.inputs.len())
                    .filter(|&i| rep.inputs[i].correct() && ok(i, e))
                    .count();
                (e, c as f64 / n)
            })
            .collect(),
    };
    let mut out: Vec<Curve> = rep
        .options
        .engines
        .iter()
        .enumerate()
        .map(|(k, e)| {
            curve(
                format!("certified ({})", e.name()),
                COLORS[k % COLORS.len()],
                false,
                &|i, x| rep.inputs[i].radii[k].radius >= x,
            )
        })
        .collect();
    out.push(curve(
        "empirical (attack)".into(),
        ATTACK_COLOR,
        true,
        &|i, x| rep.inputs[i].attack_radius.is_none_or(|a| a > x),
    ));
    out
}

fn summary_table(rep: &RadiusReport, s: &mut String) {
    let sm = &rep.summary;
    let _ = write!(s, "<table><tr><th></th>");
    for e in &sm.eps_grid {
        let _ = write!(s, "<th>ε = {e}</th>");
    }
    s.push_str(
        "<th>median radius</th><th>mean radius</th><th>median gap</th><th>s / input</th></tr>",
    );
    for e in &sm.engines {
        let _ = write!(s, "<tr><td>certified ({})</td>", e.engine.name());
        for a in &e.certified_accuracy {
            let _ = write!(s, "<td>{}</td>", pct(*a));
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            num(e.median_radius),
            num(e.mean_radius),
            num(e.median_gap),
            num(e.time_per_input_s)
        );
    }
    s.push_str("<tr><td>empirical robust (attack)</td>");
    for a in &sm.empirical_robust_accuracy {
        let _ = write!(s, "<td>{}</td>", pct(*a));
    }
    let _ = write!(
        s,
        "<td>{}</td><td></td><td></td><td>{}</td></tr></table>",
        num(sm.median_attack_radius),
        num(sm.attack_time_per_input_s)
    );
}

fn inputs_table(rep: &RadiusReport, s: &mut String) {
    s.push_str("<table><tr><th>#</th><th>label</th><th>prediction</th>");
    for e in &rep.options.engines {
        let _ = write!(s, "<th>{}</th>", e.name());
    }
    s.push_str("<th>attack radius</th><th>gap</th></tr>");
    for r in &rep.inputs {
        let cls = if r.correct() { "" } else { r#" class="wrong""# };
        let _ = write!(
            s,
            "<tr{cls}><td>{}</td><td>{}</td><td>{}</td>",
            r.index, r.label, r.prediction
        );
        for e in &r.radii {
            let _ = write!(s, "<td>{:.4}</td>", e.radius);
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td></tr>",
            num(r.attack_radius),
            num(r.gap())
        );
    }
    s.push_str("</table>");
}

fn counterexamples(rep: &RadiusReport, s: &mut String) -> Result<()> {
    let Some(g) = rep.preprocess.image.filter(ImageGeometry::drawable) else {
        s.push_str("<p>The input is not a grey or RGB image (see <code>--layout</code>); the counterexample files are in <code>cex/</code>.</p>");
        return Ok(());
    };
    let mut any = false;
    for r in &rep.inputs {
        let Some(c) = &r.counterexample else { continue };
        any = true;
        let adv = rep.preprocess.denormalise(&c.input);
        let _ = write!(
            s,
            r#"<figure><div class="imgs">{}{}{}</div><figcaption>#{}: label {}, prediction {}; at ε = {} class {} wins (margin {:.3e}); certified radius {:.4}. Original, adversarial, difference (grey = 0).</figcaption></figure>"#,
            img(&png_of(&g, &r.pixels, &[(0.0, 1.0)])?, "original"),
            img(&png_of(&g, &adv, &[(0.0, 1.0)])?, "adversarial"),
            img(&diff_png(&g, &r.pixels, &adv)?, "difference"),
            r.index,
            r.label,
            r.prediction,
            num(r.attack_radius),
            adversarial_class(r.label, c.disjunct),
            c.margin_f64,
            r.certified_radius
        );
    }
    if !any {
        s.push_str("<p>No counterexample was found.</p>");
    }
    Ok(())
}

/// How the network reads the file's values, in words.
fn layout_words(pre: &super::Preprocess) -> String {
    match pre.image {
        Some(g) if g.channels > 1 => format!(
            "{}×{} images of {} channels, {} (the file's channels-last values {})",
            g.height,
            g.width,
            g.channels,
            g.order_name(),
            if g.channels_last {
                "as they are"
            } else {
                "reordered"
            }
        ),
        Some(g) => format!("{}×{} grey images", g.height, g.width),
        None => "the values in the file's order (no image)".into(),
    }
}

pub(super) const STYLE: &str = "body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}\
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child{text-align:left}tr.wrong{color:#999}.plots svg{margin:0 16px 16px 0;border:1px solid #eee}\
figure{display:inline-block;margin:8px;padding:6px;border:1px solid #ddd;width:372px;vertical-align:top}\
.imgs img{width:112px;height:112px;image-rendering:pixelated;margin:0 4px;border:1px solid #ccc}\
figcaption{font-size:12px}";

/// The HTML text of the report.
pub fn to_html(rep: &RadiusReport) -> Result<String> {
    let o = &rep.options;
    let sm = &rep.summary;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>certus radius: {}</title><style>{STYLE}</style></head><body>"#,
        esc(&rep.network)
    );
    let engines: Vec<&str> = o.engines.iter().map(|e| e.name()).collect();
    let _ = write!(
        s,
        "<h1>Certified robustness radii</h1><p>Network <code>{}</code>, data <code>{}</code>: {} inputs, clean accuracy {}. \
         L∞ balls in pixel space (raw / {}), clipped to [0, 1], then normalised with mean {:?}, std {:?}; \
         the network reads {}. \
         Engines: {}; ε searched up to {} to a tolerance of {}. Attack: FGSM, then PGD ({} steps, {} random restarts); \
         every counterexample replayed in f32 and f64. Certified radius ≤ attack radius held for {} of {} attacked inputs.</p>",
        esc(&rep.network),
        esc(&rep.data),
        sm.count,
        sm.clean_accuracy.map(pct).unwrap_or_else(|| "–".into()),
        rep.preprocess.scale,
        rep.preprocess.mean,
        rep.preprocess.std,
        layout_words(&rep.preprocess),
        engines.join(", "),
        o.eps_max,
        o.tolerance,
        o.pgd_steps,
        o.attack_restarts,
        sm.attacked - sm.soundness_violations,
        sm.attacked
    );
    s.push_str("<h2>Summary</h2>");
    summary_table(rep, &mut s);
    s.push_str(r#"<h2>Plots</h2><div class="plots">"#);
    s.push_str(&step_plot(
        "Accuracy vs ε: certified (lower bound) and empirical (upper bound)",
        "ε (L∞, pixel space)",
        "accuracy",
        o.eps_max,
        &accuracy_curves(rep),
    ));
    let mut series: Vec<(&str, &'static str, Vec<f64>)> = Vec::new();
    let best: Vec<f64> = rep
        .inputs
        .iter()
        .filter(|r| r.correct())
        .map(|r| r.certified_radius)
        .collect();
    series.push(("certified radius", COLORS[0], best));
    let att: Vec<f64> = rep
        .inputs
        .iter()
        .filter(|r| r.correct())
        .filter_map(|r| r.attack_radius)
        .collect();
    series.push(("attack radius", ATTACK_COLOR, att));
    s.push_str(&histogram(
        "Radii of correctly classified inputs",
        "radius (ε)",
        o.eps_max,
        20,
        &series,
    ));
    s.push_str("</div><h2>Inputs</h2>");
    inputs_table(rep, &mut s);
    s.push_str("<h2>Counterexamples at the attack radius</h2>");
    counterexamples(rep, &mut s)?;
    s.push_str("</body></html>\n");
    Ok(s)
}
