//! Numbering resources as the API and the CLI take them (`prefix:3361`,
//! `range:33612340000+10000`, `spc:F0042`, `plmn:208-01`, …), one per line, and E.164
//! numbers as lookups take them. What parses prints back to itself.
#![no_main]

use ca_core::numbering::{E164Number, NumberingResource, NumberingScope, PlmnId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        if let Ok(resource) = line.parse::<NumberingResource>() {
            let printed = resource.to_string();
            let again: NumberingResource = printed
                .parse()
                .unwrap_or_else(|e| panic!("{line:?} parsed, its form {printed:?} does not: {e}"));
            assert_eq!(again, resource, "{line:?} → {printed:?}");
        }
        let _ = E164Number::parse(line);
        let _ = PlmnId::parse(line);
    }
    if let Ok(scope) = NumberingScope::parse(text.lines()) {
        assert!(scope.is_subset_of(&scope));
    }
});
