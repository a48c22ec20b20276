//! The VNN-LIB parser (1.0, and 2.0 through the same entry point) on arbitrary bytes: a
//! property or an error with a position, never a panic, a stack overflow or a hang. Every
//! region of a parsed property has a non-empty box with finite bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(prop) = certus::spec::vnnlib::parse_str(text, Path::new("fuzz.vnnlib")) else {
        return;
    };
    for r in &prop.regions {
        assert_eq!(r.lower.len(), prop.n_inputs);
        assert!(r.lower.iter().zip(&r.upper).all(|(l, u)| l <= u && l.is_finite() && u.is_finite()));
        let (lo, hi) = r.proof_box();
        assert!(lo.iter().zip(&hi).all(|(l, u)| l <= u));
        for d in &r.disjuncts {
            for c in &d.constraints {
                assert!(c.rhs.is_finite() && c.coeffs.iter().all(|&(i, a)| i < prop.n_outputs && a.is_finite()));
            }
        }
    }
});
