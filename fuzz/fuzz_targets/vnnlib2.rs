//! The VNN-LIB 2.0 front end on arbitrary text: parsing, the scoping and typing rules and the
//! lowering into the normal form either succeed or give an error with a position; never a
//! panic, a stack overflow or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.vnnlib");
    let Ok(query) = certus::spec::vnnlib2::parse_str(text, path) else {
        return;
    };
    let _ = query.slot_count();
    if let Ok(prop) = query.property(path) {
        for r in &prop.regions {
            assert!(r.lower.iter().zip(&r.upper).all(|(l, u)| l <= u));
        }
        let values = vec![0.5; query.slot_count()];
        let _ = query.holds(&values);
        let _ = query.assignment_text(&values);
    }
});
