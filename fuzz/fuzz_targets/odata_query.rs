//! OData resource paths, keys and query options (`apis/odata/query.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (u8, &str)| {
    authgate_fuzz::odata_query(input.0, input.1);
});
