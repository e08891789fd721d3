//! The JWT parser and the bearer header checks (`auth/jwt.rs`, `auth/bearer.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|token: &str| {
    authgate_fuzz::jwt(token);
});
