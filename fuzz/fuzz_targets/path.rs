//! Path normalisation and the routing view (`proxy/path.rs`) with their invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|raw: &str| {
    authgate_fuzz::path(raw);
});
