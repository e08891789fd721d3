//! .NET and ISO date parsing (`apis/workflow/dates.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    authgate_fuzz::dates(text);
});
