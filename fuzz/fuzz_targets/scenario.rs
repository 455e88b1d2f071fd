//! The scenario loader: any text as a scenario file. Errors (with their
//! positions) are fine; a panic, a hang or unbounded memory is the finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = meshbench_sim::scenario::Scenario::parse(text, "fuzz.yaml");
    }
});
