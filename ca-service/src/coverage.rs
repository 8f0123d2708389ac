//! Numbers and time: does an operator hold a scope now, and until when?
//!
//! An operator holds a resource at instant `t` when one of its own assignments covering it
//! is active at `t` (not withdrawn, `valid_from <= t < valid_to`) and no other operator's
//! assignment ported away from it overlaps it at `t`. A certificate may speak for its scope
//! only while that holds, so issuance cuts notAfter at the first instant it stops holding
//! ([`Coverage::Covered::until`]), and a change of assignments revokes every certificate
//! whose notAfter reaches past that instant ([`fits`]).
//!
//! Coverage can only change where an assignment starts or ends, so it is checked at `now`
//! and at each of those instants after it, in order.

use std::collections::BTreeSet;

use ca_core::numbering::{NumberingResource, NumberingScope, ScopeConstraint};
use ca_store::{Assignment, Holdings, OperatorId};
use jiff::Timestamp;

use crate::error::{Rule, ServiceError, ServiceResult};

/// Whether an operator holds a scope from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// Held now, until `until` (exclusive; `None`: open-ended).
    Covered {
        /// The first instant it is no longer held.
        until: Option<Timestamp>,
    },
    /// Not held now.
    NotCovered(Gap),
}

/// Why a scope is not held now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Gap {
    /// Entries no active assignment of the operator covers.
    pub(crate) outside: Vec<NumberingResource>,
    /// Of those, the ones an assignment of the operator covers from a later instant, with the
    /// assignment's `valid_from`.
    pub(crate) not_yet: Vec<(NumberingResource, Timestamp, ca_store::AssignmentId)>,
    /// Entries that overlap numbers ported away to another operator.
    pub(crate) ported_away: Vec<(NumberingResource, OperatorId)>,
    /// What the operator holds now.
    pub(crate) held: NumberingScope,
}

fn held_at(own: &[Assignment], t: Timestamp) -> NumberingScope {
    NumberingScope::new(
        own.iter()
            .filter(|a| a.is_active_at(t))
            .map(|a| a.resource.clone()),
    )
}

fn gap_at(holdings: &Holdings, scope: &NumberingScope, t: Timestamp) -> Option<Gap> {
    let held = held_at(&holdings.own, t);
    let outside = scope.not_covered_by(&held);
    let ported_away: Vec<_> = scope
        .entries()
        .flat_map(|entry| {
            holdings
                .ported_away
                .iter()
                .filter(move |p| p.is_active_at(t) && p.resource.overlaps(entry))
                .map(move |p| (entry.clone(), p.operator_id))
        })
        .collect();
    if outside.is_empty() && ported_away.is_empty() {
        return None;
    }
    Some(Gap {
        outside,
        not_yet: Vec::new(),
        ported_away,
        held,
    })
}

/// Whether the operator of `holdings` holds `scope` at `now`, and until when.
pub(crate) fn coverage(holdings: &Holdings, scope: &NumberingScope, now: Timestamp) -> Coverage {
    if let Some(mut gap) = gap_at(holdings, scope, now) {
        // Entries an assignment that has not started yet would cover.
        for entry in &gap.outside {
            let later = holdings
                .own
                .iter()
                .filter(|a| a.withdrawn_at.is_none() && a.valid_from > now)
                .filter(|a| {
                    NumberingScope::new([entry.clone()])
                        .is_subset_of(&NumberingScope::new([a.resource.clone()]))
                })
                .min_by_key(|a| a.valid_from);
            if let Some(a) = later {
                gap.not_yet.push((entry.clone(), a.valid_from, a.id));
            }
        }
        return Coverage::NotCovered(gap);
    }
    let changes: BTreeSet<Timestamp> = holdings
        .own
        .iter()
        .chain(&holdings.ported_away)
        .flat_map(|a| [Some(a.valid_from), a.valid_to])
        .flatten()
        .filter(|t| *t > now)
        .collect();
    let until = changes
        .into_iter()
        .find(|t| gap_at(holdings, scope, *t).is_some());
    Coverage::Covered { until }
}

/// The end of the coverage of `scope` (see [`Coverage::Covered`]), or the error that tells the
/// operator why it does not hold the scope now.
pub(crate) fn require(
    holdings: &Holdings,
    scope: &NumberingScope,
    now: Timestamp,
) -> ServiceResult<Option<Timestamp>> {
    let gap = match coverage(holdings, scope, now) {
        Coverage::Covered { until } => return Ok(until),
        Coverage::NotCovered(gap) => gap,
    };
    if gap.ported_away.is_empty()
        && !gap.not_yet.is_empty()
        && gap.not_yet.len() == gap.outside.len()
    {
        let starts = gap
            .not_yet
            .iter()
            .map(|(entry, from, id)| format!("{entry} from valid_from {from} (assignment {id})"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ServiceError::refused_field(
            Rule::AssignmentNotYetValid,
            "scope",
            format!("the operator holds {starts}, not yet: enrol once the assignment is valid"),
        ));
    }
    let mut entries = gap.outside.clone();
    for (entry, _) in &gap.ported_away {
        if !entries.contains(entry) {
            entries.push(entry.clone());
        }
    }
    let mut allowed = if gap.held.is_empty() {
        "none".to_owned()
    } else {
        gap.held.to_string()
    };
    if !gap.ported_away.is_empty() {
        let ported = gap
            .ported_away
            .iter()
            .map(|(entry, to)| format!("{entry} overlaps numbers ported to operator {to}"))
            .collect::<Vec<_>>()
            .join("; ");
        allowed.push_str(&format!(" ({ported})"));
    }
    Err(ServiceError::OutOfScope {
        field: "scope",
        entries,
        what: "the operator's current assignments",
        allowed,
    })
}

/// Whether a certificate with `scope` and `not_after` may stay valid: its operator holds the
/// scope now and until past notAfter.
pub(crate) fn fits(
    holdings: &Holdings,
    scope: &ScopeConstraint,
    not_after: Timestamp,
    now: Timestamp,
) -> bool {
    let ScopeConstraint::Within(scope) = scope else {
        return false;
    };
    match coverage(holdings, scope, now) {
        Coverage::Covered { until } => until.is_none_or(|until| not_after < until),
        Coverage::NotCovered(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ca_store::{AssignmentId, AuthorityId};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn a(id: i64, operator: i64, resource: &str, from: i64, to: Option<i64>) -> Assignment {
        Assignment {
            id: AssignmentId(id),
            authority_id: AuthorityId(1),
            operator_id: OperatorId(operator),
            resource: resource.parse().unwrap(),
            valid_from: t(from),
            valid_to: to.map(t),
            ported_from: None,
            withdrawn_at: None,
            created_at: t(0),
            expiry_handled_at: None,
        }
    }

    fn scope(entries: &[&str]) -> NumberingScope {
        NumberingScope::parse(entries.iter().copied()).unwrap()
    }

    #[test]
    fn coverage_ends_where_the_last_needed_assignment_ends() {
        let holdings = Holdings {
            own: vec![
                a(1, 10, "prefix:3361", 0, Some(1_000)),
                a(2, 10, "spc:F0042", 0, None),
            ],
            ported_away: vec![],
        };
        assert_eq!(
            coverage(&holdings, &scope(&["prefix:3361", "spc:F0042"]), t(100)),
            Coverage::Covered {
                until: Some(t(1_000))
            }
        );
        assert_eq!(
            coverage(&holdings, &scope(&["spc:F0042"]), t(100)),
            Coverage::Covered { until: None }
        );
    }

    #[test]
    fn a_renewal_assignment_carries_coverage_on() {
        let holdings = Holdings {
            own: vec![
                a(1, 10, "prefix:3361", 0, Some(1_000)),
                a(2, 10, "prefix:3361", 1_000, Some(5_000)),
            ],
            ported_away: vec![],
        };
        assert_eq!(
            coverage(&holdings, &scope(&["prefix:33612"]), t(100)),
            Coverage::Covered {
                until: Some(t(5_000))
            }
        );
    }

    #[test]
    fn not_yet_valid_assignments_are_named_with_their_start() {
        let holdings = Holdings {
            own: vec![a(7, 10, "prefix:3361", 500, None)],
            ported_away: vec![],
        };
        let Coverage::NotCovered(gap) = coverage(&holdings, &scope(&["prefix:33612"]), t(100))
        else {
            panic!("covered")
        };
        assert_eq!(gap.outside.len(), 1);
        assert_eq!(gap.not_yet[0].1, t(500));
        assert_eq!(gap.not_yet[0].2, AssignmentId(7));
    }

    #[test]
    fn a_port_away_ends_coverage_of_what_overlaps_it() {
        let mut port = a(9, 20, "range:33612340000+100", 2_000, None);
        port.ported_from = Some(OperatorId(10));
        let holdings = Holdings {
            own: vec![a(1, 10, "prefix:3361", 0, None)],
            ported_away: vec![port],
        };
        assert_eq!(
            coverage(&holdings, &scope(&["prefix:3361"]), t(100)),
            Coverage::Covered {
                until: Some(t(2_000))
            }
        );
        assert_eq!(
            coverage(&holdings, &scope(&["prefix:3362"]), t(100)),
            Coverage::NotCovered(Gap {
                outside: vec!["prefix:3362".parse().unwrap()],
                held: scope(&["prefix:3361"]),
                ..Gap::default()
            })
        );
        let Coverage::NotCovered(gap) = coverage(&holdings, &scope(&["prefix:3361"]), t(3_000))
        else {
            panic!("covered")
        };
        assert_eq!(
            gap.ported_away,
            vec![("prefix:3361".parse().unwrap(), OperatorId(20))]
        );
        assert!(gap.outside.is_empty());
        // A certificate ending before the port fits; one ending after it does not.
        let within = ScopeConstraint::Within(scope(&["prefix:3361"]));
        assert!(fits(&holdings, &within, t(1_999), t(100)));
        assert!(!fits(&holdings, &within, t(2_000), t(100)));
        assert!(!fits(
            &holdings,
            &ScopeConstraint::Unconstrained,
            t(10),
            t(1)
        ));
    }
}
