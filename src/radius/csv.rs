//! `radius.csv`: one row per input.

use super::RadiusReport;

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The CSV text: `index,label,prediction,correct,certified_radius,attack_radius,gap`, then
/// `<engine>_radius` and `<engine>_time_s` per engine, then `attack_time_s`. Empty cells
/// stand for "none" (no attack succeeded).
pub fn to_csv(rep: &RadiusReport) -> String {
    let mut s = String::from("index,label,prediction,correct,certified_radius,attack_radius,gap");
    for e in &rep.options.engines {
        s.push_str(&format!(",{0}_radius,{0}_time_s", e.name()));
    }
    s.push_str(",attack_time_s\n");
    for r in &rep.inputs {
        s.push_str(&format!(
            "{},{},{},{},{},{},{}",
            r.index,
            r.label,
            r.prediction,
            r.correct(),
            r.certified_radius,
            opt(r.attack_radius),
            opt(r.gap())
        ));
        for e in &r.radii {
            s.push_str(&format!(",{},{:.6}", e.radius, e.time_s));
        }
        s.push_str(&format!(",{:.6}\n", r.attack_time_s));
    }
    s
}
