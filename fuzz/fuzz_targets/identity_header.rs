//! The identity header stripping predicate (`auth/headers.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|name: &[u8]| {
    authgate_fuzz::identity_header(name);
});
