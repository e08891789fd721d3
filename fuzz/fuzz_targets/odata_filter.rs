//! `$filter` and `$orderby` (`apis/odata/filter.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (u8, &str)| {
    authgate_fuzz::odata_filter(input.0, input.1);
});
