//! The config loader: YAML with `${ENV}` expansion (`config/`).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    authgate_fuzz::config(text);
});
