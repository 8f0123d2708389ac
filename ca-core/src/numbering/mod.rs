//! Numbering resources and scopes (docs/architecture.md §7).
//!
//! A certificate is bound to a [`NumberingScope`]: a union of E.164 prefixes, E.164 ranges
//! (RFC 8226 `start` + `count` at a fixed length), single E.164 numbers, service provider codes
//! and E.212 PLMN identifiers. Every value here is parsed at the edge ("parse, don't validate"):
//! a [`E164Prefix`] can only hold 1–15 digits, a [`E164Range`] can only hold a range that fits its
//! digit length, and so on.
//!
//! # The number model behind `is_subset_of`
//!
//! An E.164 *number* is a digit string of 1 to 15 digits. Leading zeros are significant in
//! length, so a number is the pair (length, value). Each entry covers a set of numbers:
//!
//! - a prefix `p` of length `L` covers, for every length `n` in `L..=15`, the numbers of length
//!   `n` that start with `p`, i.e. the interval `[p·10^(n−L), (p+1)·10^(n−L) − 1]` at length `n`;
//! - a range covers `[start, start + count − 1]` at the length of `start`;
//! - a single number covers itself.
//!
//! `A ⊆ B` is then decided exactly, per length, by interval coverage against the merged
//! intervals of `B`, so that several entries of `B` can cover one entry of `A` together
//! (the range 100–199 is inside the union of the prefixes 10…19). Service provider codes and
//! PLMN IDs are plain sets; an MCC entry covers every PLMN ID of that country code, and the
//! `spc:*` entry covers every service provider code (an authority that assigns SPCs).

mod dial_string;

pub use dial_string::DialString;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The longest E.164 number, in digits (ITU-T E.164 §6).
pub const E164_MAX_DIGITS: usize = 15;

/// Why a numbering resource could not be parsed. Each variant names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberingError {
    /// The text was empty where digits were expected.
    #[error("{what} is empty: give 1 to {max} digits")]
    Empty {
        /// Which field was empty.
        what: &'static str,
        /// The most digits the field takes.
        max: usize,
    },
    /// A character other than 0–9 was found.
    #[error("{what} {input:?} contains {bad:?}: only the digits 0-9 are allowed")]
    NotDigits {
        /// Which field.
        what: &'static str,
        /// The text given.
        input: String,
        /// The first character that is not a digit.
        bad: char,
    },
    /// More digits than the field allows.
    #[error("{what} {input:?} has {len} digits: at most {max} are allowed")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The text given.
        input: String,
        /// How many digits it has.
        len: usize,
        /// The most it may have.
        max: usize,
    },
    /// An MCC must be exactly three digits.
    #[error("MCC {input:?} must be exactly 3 digits")]
    BadMcc {
        /// The text given.
        input: String,
    },
    /// An MNC must be two or three digits.
    #[error("MNC {input:?} must be 2 or 3 digits")]
    BadMnc {
        /// The text given.
        input: String,
    },
    /// A range must hold at least two numbers (RFC 8226 `count INTEGER (2..MAX)`).
    #[error("range count {count} is too small: a range holds at least 2 numbers (use a single number instead)")]
    CountTooSmall {
        /// The count given.
        count: u64,
    },
    /// The range runs past the largest number of its digit length.
    #[error("range {start}+{count} overflows {len} digits: the last number would be {start}+{count}-1, which needs more digits")]
    RangeOverflow {
        /// The first number.
        start: String,
        /// The count given.
        count: u64,
        /// The digit length of `start`.
        len: usize,
    },
    /// A service provider code must be 1–64 printable ASCII characters with no spaces.
    #[error(
        "service provider code {input:?} must be 1 to 64 printable ASCII characters without spaces"
    )]
    BadSpc {
        /// The text given.
        input: String,
    },
    /// The text form `kind:value` used an unknown kind.
    #[error("unknown numbering resource {input:?}: write prefix:DIGITS, range:START+COUNT, number:DIGITS, spc:CODE, spc:*, plmn:MCCMNC or plmn:MCC-MNC, or mcc:MCC")]
    UnknownKind {
        /// The text given.
        input: String,
    },
    /// An RFC 8226 telephone number holds a character other than 0–9, `#` and `*` (or, for a
    /// dial string, no `#` or `*` at all).
    #[error("telephone number {input:?} contains {bad:?}: RFC 8226 allows 0-9, # and *")]
    NotTelephoneNumber {
        /// The text given.
        input: String,
        /// The first character not allowed.
        bad: char,
    },
    /// A range count that is not a number.
    #[error("range count {input:?} is not a whole number")]
    BadCount {
        /// The text given.
        input: String,
    },
}

/// Checks that `input` is 1..=max ASCII digits.
fn check_digits(what: &'static str, input: &str, max: usize) -> Result<(), NumberingError> {
    if input.is_empty() {
        return Err(NumberingError::Empty { what, max });
    }
    if let Some(bad) = input.chars().find(|c| !c.is_ascii_digit()) {
        return Err(NumberingError::NotDigits {
            what,
            input: input.to_owned(),
            bad,
        });
    }
    if input.len() > max {
        return Err(NumberingError::TooLong {
            what,
            input: input.to_owned(),
            len: input.len(),
            max,
        });
    }
    Ok(())
}

/// The numeric value of a checked digit string of at most 15 digits (fits easily in u64).
fn digits_value(digits: &str) -> u64 {
    digits
        .bytes()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
}

fn pow10(exp: usize) -> u64 {
    10u64.pow(exp as u32)
}

/// An E.164 prefix of 1–15 digits: "every number that starts with these digits".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164Prefix(String);

impl E164Prefix {
    /// Parses 1–15 ASCII digits.
    pub fn parse(digits: &str) -> Result<Self, NumberingError> {
        check_digits("E.164 prefix", digits, E164_MAX_DIGITS)?;
        Ok(Self(digits.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `number` starts with this prefix.
    pub fn covers_number(&self, number: &E164Number) -> bool {
        number.0.starts_with(&self.0)
    }
}

/// A single E.164 number (RFC 8226 `TelephoneNumber`, digits only), 1–15 digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164Number(String);

impl E164Number {
    /// Parses 1–15 ASCII digits.
    pub fn parse(digits: &str) -> Result<Self, NumberingError> {
        check_digits("E.164 number", digits, E164_MAX_DIGITS)?;
        Ok(Self(digits.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn interval(&self) -> LengthInterval {
        let value = digits_value(&self.0);
        LengthInterval {
            len: self.0.len(),
            first: value,
            last: value,
        }
    }
}

/// An RFC 8226 `TelephoneNumberRange`: `count` consecutive numbers from `start`, all of the
/// same digit length as `start`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164Range {
    start: E164Number,
    count: u64,
}

impl E164Range {
    /// Builds a range, refusing a count below 2 or a range that needs more digits than `start`.
    pub fn new(start: &str, count: u64) -> Result<Self, NumberingError> {
        let start = E164Number::parse(start)?;
        if count < 2 {
            return Err(NumberingError::CountTooSmall { count });
        }
        let len = start.0.len();
        let first = digits_value(&start.0);
        let fits = first
            .checked_add(count - 1)
            .is_some_and(|last| last < pow10(len));
        if !fits {
            return Err(NumberingError::RangeOverflow {
                start: start.0,
                count,
                len,
            });
        }
        Ok(Self { start, count })
    }

    /// The first number.
    pub fn start(&self) -> &E164Number {
        &self.start
    }

    /// How many numbers (at least 2).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when `number` lies inside the range.
    pub fn contains(&self, number: &E164Number) -> bool {
        let i = self.interval();
        number.0.len() == i.len && (i.first..=i.last).contains(&digits_value(&number.0))
    }

    fn interval(&self) -> LengthInterval {
        let first = digits_value(&self.start.0);
        LengthInterval {
            len: self.start.0.len(),
            first,
            last: first + (self.count - 1),
        }
    }
}

/// A service provider code (RFC 8226 `ServiceProviderCode`, an IA5String): the operator's
/// identifier in its numbering plan (an OCN in North America, a national operator code
/// elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceProviderCode(String);

impl ServiceProviderCode {
    /// Parses 1–64 printable ASCII characters without spaces. `*` alone is refused: it is
    /// the text form of [`NumberingResource::AnySpc`].
    pub fn parse(code: &str) -> Result<Self, NumberingError> {
        let ok = !code.is_empty()
            && code.len() <= 64
            && code != "*"
            && code.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(NumberingError::BadSpc {
                input: code.to_owned(),
            });
        }
        Ok(Self(code.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An E.212 mobile country code: exactly three digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mcc([u8; 3]);

impl Mcc {
    /// Parses exactly three ASCII digits.
    pub fn parse(digits: &str) -> Result<Self, NumberingError> {
        let bytes = digits.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(NumberingError::BadMcc {
                input: digits.to_owned(),
            });
        }
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    /// The three digits.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII digits by construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// An E.212 PLMN identifier: MCC (3 digits) + MNC (2 or 3 digits). "01" and "001" are
/// different MNCs, so the MNC keeps its length.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlmnId {
    mcc: Mcc,
    mnc: String,
}

impl PlmnId {
    /// Builds a PLMN ID from its two parts.
    pub fn new(mcc: &str, mnc: &str) -> Result<Self, NumberingError> {
        let mcc = Mcc::parse(mcc)?;
        if !(2..=3).contains(&mnc.len()) || !mnc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberingError::BadMnc {
                input: mnc.to_owned(),
            });
        }
        Ok(Self {
            mcc,
            mnc: mnc.to_owned(),
        })
    }

    /// Parses `MCCMNC` (5 or 6 digits) or `MCC-MNC`.
    pub fn parse(text: &str) -> Result<Self, NumberingError> {
        match text.split_once('-') {
            Some((mcc, mnc)) => Self::new(mcc, mnc),
            None if text.len() >= 3 && text.is_char_boundary(3) => {
                Self::new(&text[..3], &text[3..])
            }
            None => Err(NumberingError::BadMcc {
                input: text.to_owned(),
            }),
        }
    }

    /// The country code.
    pub fn mcc(&self) -> Mcc {
        self.mcc
    }

    /// The network code, 2 or 3 digits.
    pub fn mnc(&self) -> &str {
        &self.mnc
    }
}

impl fmt::Display for PlmnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.mcc.as_str(), self.mnc)
    }
}

/// One entry of a [`NumberingScope`].
///
/// The text form (`Display` / `FromStr`) is what the CLI, the REST API and error messages
/// use: `prefix:4420`, `range:33612340000+10000`, `number:33612345678`, `spc:F0042`, `spc:*`,
/// `plmn:208-01` (or `plmn:20801`), `mcc:208`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum NumberingResource {
    /// Every E.164 number that starts with the prefix.
    E164Prefix(E164Prefix),
    /// `count` numbers from `start`, at the length of `start`.
    E164Range(E164Range),
    /// One E.164 number.
    E164Number(E164Number),
    /// One service provider code.
    Spc(ServiceProviderCode),
    /// Every service provider code: held by authorities that assign SPCs, never by operators.
    AnySpc,
    /// One PLMN (MCC + MNC).
    Plmn(PlmnId),
    /// Every PLMN of one mobile country code.
    Mcc(Mcc),
    /// An RFC 8226 telephone number with `#` or `*`, matching only itself ([`DialString`]).
    DialString(DialString),
    /// An RFC 8226 telephone number range whose start holds `#` or `*`, kept as written and
    /// matching only itself ([`DialString`]).
    DialStringRange {
        /// The first dial string.
        start: DialString,
        /// How many (at least 2).
        count: u64,
    },
}

impl fmt::Display for NumberingResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::E164Prefix(p) => write!(f, "prefix:{}", p.0),
            Self::E164Range(r) => write!(f, "range:{}+{}", r.start.0, r.count),
            Self::E164Number(n) => write!(f, "number:{}", n.0),
            Self::Spc(s) => write!(f, "spc:{}", s.0),
            Self::AnySpc => f.write_str("spc:*"),
            Self::Plmn(p) => write!(f, "plmn:{p}"),
            Self::Mcc(m) => write!(f, "mcc:{}", m.as_str()),
            Self::DialString(d) => write!(f, "number:{d}"),
            Self::DialStringRange { start, count } => write!(f, "range:{start}+{count}"),
        }
    }
}

impl FromStr for NumberingResource {
    type Err = NumberingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || NumberingError::UnknownKind {
            input: text.to_owned(),
        };
        let (kind, value) = text.split_once(':').ok_or_else(unknown)?;
        match kind {
            "prefix" => Ok(Self::E164Prefix(E164Prefix::parse(value)?)),
            "number" => Self::telephone_number(value),
            "range" => {
                let (start, count) =
                    value
                        .split_once('+')
                        .ok_or_else(|| NumberingError::BadCount {
                            input: value.to_owned(),
                        })?;
                let count = count.parse().map_err(|_| NumberingError::BadCount {
                    input: count.to_owned(),
                })?;
                Self::telephone_number_range(start, count)
            }
            "spc" if value == "*" => Ok(Self::AnySpc),
            "spc" => Ok(Self::Spc(ServiceProviderCode::parse(value)?)),
            "plmn" => Ok(Self::Plmn(PlmnId::parse(value)?)),
            "mcc" => Ok(Self::Mcc(Mcc::parse(value)?)),
            _ => Err(unknown()),
        }
    }
}

/// A closed interval of numbers that all have `len` digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LengthInterval {
    len: usize,
    first: u64,
    last: u64,
}

/// Numbers covered by a scope, as merged disjoint intervals for each digit length 1..=15.
#[derive(Debug, Default, Clone)]
struct IntervalIndex {
    /// `by_len[n - 1]`: sorted, disjoint, non-adjacent intervals of n-digit numbers.
    by_len: [Vec<(u64, u64)>; E164_MAX_DIGITS],
}

impl IntervalIndex {
    fn build<'a>(entries: impl Iterator<Item = &'a NumberingResource>) -> Self {
        let mut index = Self::default();
        for entry in entries {
            for i in entry_intervals(entry) {
                index.by_len[i.len - 1].push((i.first, i.last));
            }
        }
        for list in &mut index.by_len {
            list.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
            for &(first, last) in list.iter() {
                match merged.last_mut() {
                    Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
                    _ => merged.push((first, last)),
                }
            }
            *list = merged;
        }
        index
    }

    /// True when one merged interval holds all of `[first, last]` at `len` digits. Because the
    /// merged intervals are disjoint and non-adjacent, one interval must hold it all.
    fn covers(&self, i: LengthInterval) -> bool {
        let list = &self.by_len[i.len - 1];
        // The last merged interval starting at or before `first`.
        let pos = list.partition_point(|&(start, _)| start <= i.first);
        pos > 0 && list[pos - 1].1 >= i.last
    }
}

/// The E.164 intervals an entry covers (none for SPC and PLMN entries).
fn entry_intervals(entry: &NumberingResource) -> Vec<LengthInterval> {
    match entry {
        NumberingResource::E164Prefix(p) => {
            let plen = p.0.len();
            let value = digits_value(&p.0);
            (plen..=E164_MAX_DIGITS)
                .map(|len| {
                    let scale = pow10(len - plen);
                    LengthInterval {
                        len,
                        first: value * scale,
                        last: (value + 1) * scale - 1,
                    }
                })
                .collect()
        }
        NumberingResource::E164Range(r) => vec![r.interval()],
        NumberingResource::E164Number(n) => vec![n.interval()],
        _ => Vec::new(),
    }
}

impl NumberingResource {
    /// An RFC 8226 `TelephoneNumber`: an E.164 number when it is all digits, else a
    /// [`DialString`].
    pub fn telephone_number(text: &str) -> Result<Self, NumberingError> {
        if text.contains(['#', '*']) {
            Ok(Self::DialString(DialString::parse(text)?))
        } else {
            Ok(Self::E164Number(E164Number::parse(text)?))
        }
    }

    /// An RFC 8226 `TelephoneNumberRange`: an E.164 range when `start` is all digits, else a
    /// dial-string range kept as written.
    pub fn telephone_number_range(start: &str, count: u64) -> Result<Self, NumberingError> {
        if !start.contains(['#', '*']) {
            return Ok(Self::E164Range(E164Range::new(start, count)?));
        }
        if count < 2 {
            return Err(NumberingError::CountTooSmall { count });
        }
        Ok(Self::DialStringRange {
            start: DialString::parse(start)?,
            count,
        })
    }

    /// True when the two resources share at least one number, SPC or PLMN: what makes two
    /// operators' assignments conflict.
    pub fn overlaps(&self, other: &NumberingResource) -> bool {
        use NumberingResource as R;
        match (self, other) {
            (R::E164Prefix(_) | R::E164Range(_) | R::E164Number(_), _) => {
                let theirs = entry_intervals(other);
                entry_intervals(self).iter().any(|a| {
                    theirs
                        .iter()
                        .any(|b| a.len == b.len && a.first <= b.last && b.first <= a.last)
                })
            }
            (R::Spc(_) | R::AnySpc, R::AnySpc) | (R::AnySpc, R::Spc(_)) => true,
            (R::Spc(a), R::Spc(b)) => a == b,
            (R::Plmn(a), R::Plmn(b)) => a == b,
            (R::Plmn(p), R::Mcc(m)) | (R::Mcc(m), R::Plmn(p)) => p.mcc == *m,
            (R::Mcc(a), R::Mcc(b)) => a == b,
            (R::DialString(_) | R::DialStringRange { .. }, _) => self == other,
            _ => false,
        }
    }
}

/// A union of numbering resources: what a certificate or an authority may speak for.
///
/// Entries are kept sorted and without duplicates, so two scopes with the same entries are
/// equal and encode to the same DER.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct NumberingScope {
    entries: BTreeSet<NumberingResource>,
}

impl NumberingScope {
    /// A scope of the given entries.
    pub fn new(entries: impl IntoIterator<Item = NumberingResource>) -> Self {
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    /// Parses each text entry (see [`NumberingResource`] for the forms).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, NumberingError> {
        entries
            .into_iter()
            .map(str::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(|entries| Self { entries })
    }

    /// The entries, in their canonical order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &NumberingResource> {
        self.entries.iter()
    }

    /// True when the scope has no entries (it covers nothing).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the entries of `other` (set union).
    pub fn extend(&mut self, other: &NumberingScope) {
        self.entries.extend(other.entries.iter().cloned());
    }

    /// True when every number, SPC and PLMN covered by `self` is covered by `other`.
    pub fn is_subset_of(&self, other: &NumberingScope) -> bool {
        self.not_covered_by(other).is_empty()
    }

    /// The entries of `self` that `other` does not cover in full: empty exactly when
    /// `self ⊆ other`. Errors use this to name what a request asked for beyond its issuer.
    pub fn not_covered_by(&self, other: &NumberingScope) -> Vec<NumberingResource> {
        let index = IntervalIndex::build(other.entries.iter());
        let any_spc = other.entries.contains(&NumberingResource::AnySpc);
        self.entries
            .iter()
            .filter(|entry| !other.covers_entry(entry, &index, any_spc))
            .cloned()
            .collect()
    }

    fn covers_entry(
        &self,
        entry: &NumberingResource,
        index: &IntervalIndex,
        any_spc: bool,
    ) -> bool {
        match entry {
            NumberingResource::E164Prefix(_)
            | NumberingResource::E164Range(_)
            | NumberingResource::E164Number(_) => {
                entry_intervals(entry).into_iter().all(|i| index.covers(i))
            }
            NumberingResource::Spc(_) => any_spc || self.entries.contains(entry),
            NumberingResource::AnySpc => any_spc,
            NumberingResource::Plmn(p) => {
                self.entries.contains(entry)
                    || self.entries.contains(&NumberingResource::Mcc(p.mcc))
            }
            NumberingResource::Mcc(_) => self.entries.contains(entry),
            NumberingResource::DialString(_) | NumberingResource::DialStringRange { .. } => {
                self.entries.contains(entry)
            }
        }
    }

    /// True when the scope covers the single number.
    pub fn covers_number(&self, number: &E164Number) -> bool {
        NumberingScope::new([NumberingResource::E164Number(number.clone())]).is_subset_of(self)
    }
}

impl fmt::Display for NumberingScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for entry in &self.entries {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// What an issuer may delegate: everything (a root) or a scope.
///
/// An enum rather than an `Option` so that "unconstrained" is always said out loud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeConstraint {
    /// No constraint: the root authority.
    Unconstrained,
    /// Only what the scope covers.
    Within(NumberingScope),
}

impl ScopeConstraint {
    /// The entries of `requested` outside this constraint (empty when it fits).
    pub fn not_covering(&self, requested: &NumberingScope) -> Vec<NumberingResource> {
        match self {
            Self::Unconstrained => Vec::new(),
            Self::Within(allowed) => requested.not_covered_by(allowed),
        }
    }
}

impl fmt::Display for ScopeConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unconstrained => f.write_str("unconstrained"),
            Self::Within(scope) => write!(f, "{scope}"),
        }
    }
}

impl PartialOrd for LengthInterval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LengthInterval {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.len, self.first, self.last).cmp(&(other.len, other.first, other.last))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn scope(entries: &[&str]) -> NumberingScope {
        NumberingScope::parse(entries.iter().copied()).unwrap()
    }

    #[test]
    fn range_inside_prefix_but_not_a_longer_one() {
        let range = scope(&["range:33612340000+10000"]);
        assert!(range.is_subset_of(&scope(&["prefix:3361234"])));
        assert!(!range.is_subset_of(&scope(&["prefix:33612341"])));
    }

    #[test]
    fn prefix_is_covered_by_its_ten_children_together() {
        let children: Vec<String> = (0..10).map(|d| format!("prefix:44{d}")).collect();
        let children = NumberingScope::parse(children.iter().map(String::as_str)).unwrap();
        // Every number of 3+ digits starting 44 is covered, but "44" itself (2 digits) is not.
        assert!(!scope(&["prefix:44"]).is_subset_of(&children));
        assert!(scope(&["range:4400+100"]).is_subset_of(&children));
        let with_self = {
            let mut s = children.clone();
            s.extend(&scope(&["number:44"]));
            s
        };
        assert!(scope(&["prefix:44"]).is_subset_of(&with_self));
    }

    #[test]
    fn adjacent_ranges_cover_together() {
        let parts = scope(&["range:1000+50", "range:1050+50"]);
        assert!(scope(&["range:1000+100"]).is_subset_of(&parts));
        assert!(!scope(&["range:1000+101"]).is_subset_of(&parts));
        assert!(scope(&["number:1099"]).is_subset_of(&parts));
        assert!(!scope(&["number:10990"]).is_subset_of(&parts));
    }

    #[test]
    fn prefix_never_fits_in_a_range() {
        // A prefix covers numbers of every longer length; a range only one length.
        assert!(!scope(&["prefix:33612345678"]).is_subset_of(&scope(&["range:33612340000+10000"])));
        assert!(
            scope(&["prefix:336123456789012"]).is_subset_of(&scope(&["range:336123456789000+100"]))
        );
    }

    #[test]
    fn not_covered_names_the_offending_entries() {
        let requested = scope(&[
            "number:33612345678",
            "number:4420123",
            "spc:F001",
            "plmn:20801",
        ]);
        let allowed = scope(&["prefix:33", "mcc:208"]);
        let missing: Vec<String> = requested
            .not_covered_by(&allowed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(missing, ["number:4420123", "spc:F001"]);
    }

    #[test]
    fn spc_and_plmn_rules() {
        assert!(scope(&["spc:F001"]).is_subset_of(&scope(&["spc:*"])));
        assert!(!scope(&["spc:*"]).is_subset_of(&scope(&["spc:F001"])));
        assert!(scope(&["spc:F001"]).is_subset_of(&scope(&["spc:F001"])));
        assert!(scope(&["plmn:208-01"]).is_subset_of(&scope(&["mcc:208"])));
        assert!(!scope(&["plmn:208-01"]).is_subset_of(&scope(&["plmn:208-001"])));
        assert!(!scope(&["mcc:208"]).is_subset_of(&scope(&["plmn:208-01"])));
        assert!(ScopeConstraint::Unconstrained
            .not_covering(&scope(&["spc:*", "mcc:001"]))
            .is_empty());
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let err = |s: &str| s.parse::<NumberingResource>().unwrap_err();
        assert!(matches!(
            err("prefix:44a0"),
            NumberingError::NotDigits { bad: 'a', .. }
        ));
        assert!(matches!(
            err("number:1234567890123456"),
            NumberingError::TooLong { len: 16, .. }
        ));
        assert!(matches!(err("prefix:"), NumberingError::Empty { .. }));
        assert!(matches!(err("mcc:20"), NumberingError::BadMcc { .. }));
        assert!(matches!(err("plmn:208-1"), NumberingError::BadMnc { .. }));
        assert!(matches!(err("plmn:2080001"), NumberingError::BadMnc { .. }));
        assert!(matches!(
            err("range:100+1"),
            NumberingError::CountTooSmall { count: 1 }
        ));
        assert!(matches!(
            err("range:990+11"),
            NumberingError::RangeOverflow { .. }
        ));
        assert!(matches!(
            err("range:990+x"),
            NumberingError::BadCount { .. }
        ));
        assert!(matches!(
            err("spc:has space"),
            NumberingError::BadSpc { .. }
        ));
        assert!(matches!(
            err("ipv4:10.0.0.0"),
            NumberingError::UnknownKind { .. }
        ));
        assert!(E164Range::new("990", 10).is_ok());
        assert!(err("range:990+11")
            .to_string()
            .contains("overflows 3 digits"));
    }

    #[test]
    fn text_form_round_trips() {
        for text in [
            "prefix:4420",
            "range:33612340000+10000",
            "number:33612345678",
            "spc:F0042",
            "spc:*",
            "plmn:208-01",
            "mcc:208",
        ] {
            assert_eq!(text.parse::<NumberingResource>().unwrap().to_string(), text);
        }
        assert_eq!(
            "plmn:20801"
                .parse::<NumberingResource>()
                .unwrap()
                .to_string(),
            "plmn:208-01"
        );
    }

    // ---- Property tests against a brute-force model on a small digit space ----
    //
    // Entries are drawn with at most SHORT digits. Then numbers of at most SHORT + 1 digits
    // are enough witnesses: a longer number is covered only through prefixes (ranges and
    // numbers keep their own length), and whether a prefix of at most SHORT digits covers
    // it depends only on its first SHORT + 1 digits. So enumerating every number of
    // 1..=SHORT+1 digits decides `A ⊆ B` exactly.

    const SHORT: usize = 2;

    fn model_covers(entry: &NumberingResource, number: &str) -> bool {
        match entry {
            NumberingResource::E164Prefix(p) => number.starts_with(p.as_str()),
            NumberingResource::E164Number(n) => n.as_str() == number,
            NumberingResource::E164Range(r) => {
                let start = r.start().as_str();
                number.len() == start.len() && {
                    let (n, s): (u64, u64) = (number.parse().unwrap(), start.parse().unwrap());
                    n >= s && n - s < r.count()
                }
            }
            _ => false,
        }
    }

    fn model_subset(a: &NumberingScope, b: &NumberingScope) -> bool {
        (1..=SHORT + 1).all(|len| {
            (0..10u64.pow(len as u32)).all(|v| {
                let n = format!("{v:0len$}");
                !a.entries().any(|e| model_covers(e, &n))
                    || b.entries().any(|e| model_covers(e, &n))
            })
        })
    }

    fn digits_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, 1..=SHORT)
            .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    fn entry_strategy() -> impl Strategy<Value = NumberingResource> {
        prop_oneof![
            digits_strategy()
                .prop_map(|d| NumberingResource::E164Prefix(E164Prefix::parse(&d).unwrap())),
            digits_strategy()
                .prop_map(|d| NumberingResource::E164Number(E164Number::parse(&d).unwrap())),
            (digits_strategy(), 2u64..60).prop_filter_map("range fits its length", |(d, c)| {
                E164Range::new(&d, c).ok().map(NumberingResource::E164Range)
            }),
        ]
    }

    fn scope_strategy() -> impl Strategy<Value = NumberingScope> {
        proptest::collection::vec(entry_strategy(), 0..8).prop_map(NumberingScope::new)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn subset_agrees_with_brute_force(a in scope_strategy(), b in scope_strategy()) {
            prop_assert_eq!(a.is_subset_of(&b), model_subset(&a, &b), "a = {}; b = {}", a, b);
        }

        #[test]
        fn subset_is_reflexive_and_union_monotone(a in scope_strategy(), b in scope_strategy()) {
            prop_assert!(a.is_subset_of(&a));
            let mut union = a.clone();
            union.extend(&b);
            prop_assert!(a.is_subset_of(&union));
            prop_assert!(b.is_subset_of(&union));
        }

        /// B built as "A plus a few random entries" always contains A, and removing every
        /// entry of A that is not covered leaves a subset.
        #[test]
        fn dropping_uncovered_entries_leaves_a_subset(a in scope_strategy(), b in scope_strategy()) {
            let missing = a.not_covered_by(&b);
            let kept = NumberingScope::new(a.entries().filter(|e| !missing.contains(e)).cloned());
            prop_assert!(kept.is_subset_of(&b));
        }
    }

    #[test]
    fn overlaps_is_exact_and_symmetric() {
        let r = |t: &str| t.parse::<NumberingResource>().expect(t);
        let cases = [
            ("prefix:33", "prefix:3361", true),
            ("prefix:3361", "prefix:3362", false),
            ("prefix:3361234", "range:33612340000+10000", true),
            ("prefix:33612341", "range:33612340000+10000", true),
            ("prefix:33612350", "range:33612340000+10000", false),
            ("range:33612340000+10000", "range:33612349999+5", true),
            ("range:33612340000+10000", "range:33612350000+5", false),
            ("range:33612340000+10000", "number:3361234000", false),
            ("number:33612345678", "prefix:336", true),
            ("prefix:33612345678", "number:3361234567", false),
            ("spc:1234", "spc:*", true),
            ("spc:1234", "spc:1235", false),
            ("plmn:208-01", "mcc:208", true),
            ("plmn:208-01", "plmn:208-10", false),
            ("prefix:33", "spc:1234", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(r(a).overlaps(&r(b)), expected, "{a} vs {b}");
            assert_eq!(r(b).overlaps(&r(a)), expected, "{b} vs {a}");
        }
    }
}
