//! Entry points for the fuzz targets in `fuzz/` (run by `scripts/fuzz.sh`), built only with
//! the `fuzzing` feature: the two forms an OCSP request arrives in, decoded as the HTTP face
//! decodes them, with the default limits.

use ca_core::ocsp::ParsedRequest;

use crate::OcspConfig;

/// `POST /ocsp`: the DER request.
pub fn decode_post(der: &[u8]) {
    let _ = ParsedRequest::from_der(der, OcspConfig::default().max_requests_per_ocsp_request);
}

/// `GET /ocsp/{…}`: the raw path's base64 (percent-encoded or not), then the DER request.
pub fn decode_get(path: &str) {
    let config = OcspConfig::default();
    if let Some(der) = crate::http::decode_get_path(path, config.max_body_bytes) {
        assert!(
            der.len() <= config.max_body_bytes,
            "a GET path decoded past the limit"
        );
        let _ = ParsedRequest::from_der(&der, config.max_requests_per_ocsp_request);
    }
}
