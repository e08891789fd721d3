//! The `Authorization` header parser (`auth/credentials.rs`): any values, one or several.
#![no_main]

libfuzzer_sys::fuzz_target!(|values: Vec<&[u8]>| {
    authgate_fuzz::authorization(&values);
});
