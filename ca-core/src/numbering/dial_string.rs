//! RFC 8226 telephone numbers that are not E.164 numbers.
//!
//! RFC 8226 §9 writes `TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*"))`:
//! besides digits, a TNAuthList may name dial strings with `#` and `*` (service codes such as
//! `*67`). They have no place in the E.164 numbering plan, so tsca keeps them as written: a
//! [`DialString`] matches only itself — no E.164 prefix, range or number covers one, and it
//! covers none (`*33` is not in `prefix:33`). That is enough for path validation to accept a
//! certificate that carries one, and for a scope that names one to cover it.

use std::fmt;

use super::{NumberingError, E164_MAX_DIGITS};

/// A telephone number of 1–15 characters from `0-9`, `#` and `*`, holding at least one `#`
/// or `*` (all digits is an [`super::E164Number`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialString(String);

impl DialString {
    /// Parses a dial string; all-digit text is refused (it is an E.164 number).
    pub fn parse(text: &str) -> Result<Self, NumberingError> {
        let what = "telephone number";
        if text.is_empty() {
            return Err(NumberingError::Empty {
                what,
                max: E164_MAX_DIGITS,
            });
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_digit() || *c == '#' || *c == '*'))
        {
            return Err(NumberingError::NotTelephoneNumber {
                input: text.to_owned(),
                bad,
            });
        }
        if text.len() > E164_MAX_DIGITS {
            return Err(NumberingError::TooLong {
                what,
                input: text.to_owned(),
                len: text.len(),
                max: E164_MAX_DIGITS,
            });
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberingError::NotTelephoneNumber {
                input: text.to_owned(),
                bad: '0',
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// The characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DialString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::numbering::{NumberingResource, NumberingScope};

    #[test]
    fn dial_strings_parse_and_match_only_themselves() {
        for text in ["*67", "#31#", "*", "1*2#3", "***************"] {
            assert_eq!(DialString::parse(text).unwrap().as_str(), text);
        }
        for bad in ["", "67", "+33", "*6a", "****************"] {
            assert!(DialString::parse(bad).is_err(), "{bad}");
        }
        let star = NumberingScope::parse(["number:*33"]).unwrap();
        let digits = NumberingScope::parse(["prefix:33", "number:33", "range:30+10"]).unwrap();
        assert!(
            !star.is_subset_of(&digits),
            "no E.164 entry covers a dial string"
        );
        assert!(!digits.is_subset_of(&star));
        assert!(star.is_subset_of(&star));
        let range = NumberingScope::parse(["range:*30+5"]).unwrap();
        assert!(range.is_subset_of(&range) && !range.is_subset_of(&star));
        let entry: NumberingResource = "number:*33".parse().unwrap();
        assert!(entry.overlaps(&entry));
        assert!(!entry.overlaps(&"prefix:3".parse().unwrap()));
        assert_eq!(entry.to_string(), "number:*33");
        assert_eq!(
            "number:33".parse::<NumberingResource>().unwrap(),
            NumberingResource::E164Number(crate::numbering::E164Number::parse("33").unwrap()),
            "all digits stays an E.164 number"
        );
    }
}
