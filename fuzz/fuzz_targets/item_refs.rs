//! Item-reference XML (`apis/workflow/item_refs.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|xml: &str| {
    authgate_fuzz::item_refs(xml);
});
