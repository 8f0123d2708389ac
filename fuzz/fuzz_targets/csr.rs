//! PKCS#10 requests as enrolments send them: PEM text, and the DER inside it.
#![no_main]

use ca_core::csr::CheckedCsr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = CheckedCsr::from_pem(data);
    if let Ok(csr) = CheckedCsr::from_der(data) {
        // What was accepted is kept exactly as received.
        assert_eq!(csr.der(), data);
    }
});
