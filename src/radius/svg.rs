//! Two small inline-SVG plots for the HTML report: step curves and a histogram.

use std::fmt::Write;

const W: f64 = 560.0;
const H: f64 = 320.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// One curve of [`step_plot`].
pub struct Curve {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// `(x, y)` sorted by `x`; drawn as a step function (each `y` holds until the next `x`).
    pub points: Vec<(f64, f64)>,
}

fn sx(x: f64, x_max: f64) -> f64 {
    LEFT + (W - LEFT - RIGHT) * (x / x_max).clamp(0.0, 1.0)
}

fn sy(y: f64, y_max: f64) -> f64 {
    H - BOTTOM - (H - TOP - BOTTOM) * (y / y_max).clamp(0.0, 1.0)
}

/// The frame: title, axes with five ticks each, and labels.
fn frame(s: &mut String, title: &str, x_label: &str, y_label: &str, x_max: f64, y_max: f64) {
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{title}</text>"#,
        W / 2.0
    );
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let _ = write!(
        s,
        r##"<path d="M{x0} {y1}V{y0}H{x1}" fill="none" stroke="#333"/>"##
    );
    for k in 0..=5 {
        let f = k as f64 / 5.0;
        let (x, y) = (sx(f * x_max, x_max), sy(f * y_max, y_max));
        let _ = write!(
            s,
            r##"<path d="M{x} {y0}v4M{x0} {y}h-4" stroke="#333"/><path d="M{x0} {y}H{x1}" stroke="#eee"/><text x="{x}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            y0 + 16.0,
            tick(f * x_max),
            x0 - 6.0,
            y + 4.0,
            tick(f * y_max)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#,
        (x0 + x1) / 2.0,
        H - 8.0
    );
    let _ = write!(
        s,
        r#"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{y_label}</text>"#,
        (y0 + y1) / 2.0
    );
}

fn tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.into()
    }
}

fn legend(s: &mut String, items: &[(&str, &str, bool)]) {
    for (k, (name, color, dashed)) in items.iter().enumerate() {
        let y = TOP + 8.0 + 16.0 * k as f64;
        let x = W - RIGHT - 170.0;
        let dash = if *dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<path d="M{x} {y}h22" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{name}</text>"#,
            x + 28.0,
            y + 4.0
        );
    }
}

/// Step curves on `[0, x_max] × [0, 1]`.
pub fn step_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_max: f64,
    curves: &[Curve],
) -> String {
    let mut s = String::new();
    frame(&mut s, title, x_label, y_label, x_max, 1.0);
    for c in curves {
        let mut d = String::new();
        for (k, &(x, y)) in c.points.iter().enumerate() {
            let (px, py) = (sx(x, x_max), sy(y, 1.0));
            if k == 0 {
                let _ = write!(d, "M{px:.1} {py:.1}");
            } else {
                let _ = write!(d, "H{px:.1}V{py:.1}");
            }
        }
        let dash = if c.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            c.color
        );
    }
    let items: Vec<(&str, &str, bool)> = curves
        .iter()
        .map(|c| (c.name.as_str(), c.color, c.dashed))
        .collect();
    legend(&mut s, &items);
    s.push_str("</svg>");
    s
}

/// A histogram of each named series of values over `bins` equal bins of `[0, x_max]` (values at
/// or above `x_max` fall in the last bin), bars of the series side by side.
pub fn histogram(
    title: &str,
    x_label: &str,
    x_max: f64,
    bins: usize,
    series: &[(&str, &'static str, Vec<f64>)],
) -> String {
    let counts: Vec<Vec<usize>> = series
        .iter()
        .map(|(_, _, v)| {
            let mut c = vec![0; bins];
            for &x in v {
                c[((x / x_max * bins as f64).floor().max(0.0) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    // A multiple of 5, so the five ticks fall on whole counts.
    let top = counts
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1)
        .div_ceil(5) as f64
        * 5.0;
    let mut s = String::new();
    frame(&mut s, title, x_label, "inputs", x_max, top);
    let bw = (W - LEFT - RIGHT) / bins as f64;
    let k = series.len().max(1) as f64;
    for (j, ((_, color, _), c)) in series.iter().zip(&counts).enumerate() {
        for (b, &n) in c.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let x = LEFT + bw * b as f64 + bw * j as f64 / k + 1.0;
            let y = sy(n as f64, top);
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.8"><title>{n}</title></rect>"#,
                (bw / k - 2.0).max(1.0),
                H - BOTTOM - y
            );
        }
    }
    let items: Vec<(&str, &str, bool)> = series.iter().map(|(n, c, _)| (*n, *c, false)).collect();
    legend(&mut s, &items);
    s.push_str("</svg>");
    s
}
