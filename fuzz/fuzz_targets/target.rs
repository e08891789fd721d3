//! Request-target resolution (`proxy/target.rs`): normalisation, routing view and route choice together.
#![no_main]

libfuzzer_sys::fuzz_target!(|raw: &[u8]| {
    authgate_fuzz::target(raw);
});
