//! OCSP requests in both forms: the DER body of a POST, and the path of a GET (the bytes read
//! as text).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ocsp_responder::fuzzing::decode_post(data);
    if let Ok(text) = std::str::from_utf8(data) {
        ocsp_responder::fuzzing::decode_get(&format!("/ocsp/{text}"));
    }
});
