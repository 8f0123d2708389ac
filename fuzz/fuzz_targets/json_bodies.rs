//! Every JSON request body of the registry, through the extractors its routes use: a body
//! the client got wrong is a 4xx problem, never a panic or a 5xx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    registry_api::fuzzing::decode_json_bodies(data);
});
