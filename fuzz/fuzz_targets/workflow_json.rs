//! The K2 lenient JSON body reader (`apis/workflow/json.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    authgate_fuzz::workflow_json(bytes);
});
