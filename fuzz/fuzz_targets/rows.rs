#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| exam_review_bot::fuzz::rows(data));
