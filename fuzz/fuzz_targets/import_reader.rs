//! The importer's reader and validator on hostile export directories; the input encoding is
//! `cuttle_engine::fuzzing`'s (entries separated by NUL, each `path LF content`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cuttle_engine::fuzzing::run_one(data);
});
