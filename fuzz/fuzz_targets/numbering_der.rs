//! The two certificate extensions that carry numbers: TNAuthList (RFC 8226) and
//! tscaNumberingResources (docs/profiles.md), as found in certificates from anyone. What
//! decodes encodes back to a value that decodes the same.
#![no_main]

use ca_core::ext::{decode_numbering_resources, encode_numbering_resources, TnAuthList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = TnAuthList::from_der(data) {
        let der = list.to_der().expect("a decoded TNAuthList encodes");
        assert_eq!(TnAuthList::from_der(&der).expect("and decodes again"), list);
    }
    if let Ok(scope) = decode_numbering_resources(data) {
        let der = encode_numbering_resources(&scope).expect("a decoded scope encodes");
        let again = decode_numbering_resources(&der).expect("and decodes again");
        assert_eq!(again.to_string(), scope.to_string());
    }
});
