//! Request extractors whose rejections are problem+json naming the part at fault, instead of
//! axum's plain-text defaults: path parameters, query strings and optional JSON bodies.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Path parameters (`/v1/…/{id}`); a value of the wrong type is a 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|e| Problem::bad_request("path", e.body_text()))
    }
}

/// Query parameters; an unreadable one is a 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // As axum's Query does it, keeping serde_path_to_error's path to name the parameter.
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let field = field_of(&error);
                let detail = format!(
                    "query parameter {}: {}",
                    field.as_deref().unwrap_or("?"),
                    error.inner()
                );
                Problem::bad_request(field.as_deref().unwrap_or("query"), detail)
            })
    }
}

/// An optional JSON body: empty is `None`, anything else must parse.
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::new(e.status(), "bad-body", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(None));
        }
        parse_json(&bytes, "send a JSON object, or no body").map(|value| OptionalBody(Some(value)))
    }
}

/// Decodes a JSON body; a refusal is a 400 whose `field` is the member at fault as the API
/// spells it (`subject.common_name`, `scope[1]`, `valid_days`), found by the path
/// serde_path_to_error tracks rather than guessed from serde's message.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], hint: &str) -> Result<T, Problem> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut reader) {
        Ok(value) => match reader.end() {
            Ok(()) => return Ok(value),
            Err(trailing) => return Err(bad_json(None, format!("{trailing} ({hint})"))),
        },
        Err(error) => error,
    };
    let field = field_of(&error);
    let inner = error.inner().to_string();
    let shown = match &field {
        Some(field) => format!("{field}: {inner} ({hint})"),
        None => format!("{inner} ({hint})"),
    };
    Err(bad_json(field.as_deref(), shown))
}

/// The member a deserialization error is about, as the API spells it: the path serde walked
/// (`subject.common_name`, `scope[1]`), plus the member a "missing field" message names
/// inside it. `None` for an error about the whole document.
fn field_of<E: std::fmt::Display>(error: &serde_path_to_error::Error<E>) -> Option<String> {
    let path = error.path().to_string();
    let inner = error.inner().to_string();
    // The path of an unknown member ends at it already; a missing one is named only in the
    // message, inside the object at the path.
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (missing, path.as_str()) {
        // "." is the document itself, "?" a place serde could not name (e.g. the body ended).
        (Some(member), "." | "?") => Some(member.to_owned()),
        (Some(member), object) => Some(format!("{object}.{member}")),
        (None, "." | "?") => None,
        (None, at) => Some(at.to_owned()),
    }
}

fn bad_json(field: Option<&str>, detail: String) -> Problem {
    let problem = Problem::new(axum::http::StatusCode::BAD_REQUEST, "bad-json", detail);
    match field {
        Some(field) => problem.field(field),
        None => problem,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Subject {
        common_name: String,
        country: Option<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "lowercase")]
    enum Tier {
        Regional,
        National,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct AuthorityLike {
        tier: Tier,
        scope: Vec<String>,
        subject: Subject,
        auto_approve: Option<bool>,
        valid_days: Option<u32>,
    }

    fn field(json: &str) -> Option<String> {
        parse_json::<AuthorityLike>(json.as_bytes(), "hint")
            .unwrap_err()
            .field
    }

    #[test]
    fn a_refused_body_names_the_member_as_the_api_spells_it() {
        let good = r#""tier":"national","scope":["prefix:33"],"subject":{"common_name":"CA"}"#;
        assert!(parse_json::<AuthorityLike>(format!("{{{good}}}").as_bytes(), "").is_ok());
        let cases = [
            (
                r#"{"tier":"national","scope":[],"subject":{}}"#,
                "subject.common_name",
            ),
            (
                r#"{"tier":"bogus","scope":[],"subject":{"common_name":"CA"}}"#,
                "tier",
            ),
            (&format!(r#"{{{good},"auto_approve":1}}"#), "auto_approve"),
            (&format!(r#"{{{good},"valid_days":-1}}"#), "valid_days"),
            (
                r#"{"tier":"national","scope":["a",7],"subject":{"common_name":"CA"}}"#,
                "scope[1]",
            ),
            (&format!(r#"{{{good},"colour":"red"}}"#), "colour"),
            (
                r#"{"tier":"national","scope":[],"subject":{"common_name":"CA","country":5}}"#,
                "subject.country",
            ),
            (r#"{"scope":[],"subject":{"common_name":"CA"}}"#, "tier"),
        ];
        for (json, expected) in cases {
            assert_eq!(field(json).as_deref(), Some(expected), "{json}");
        }
        // Not JSON at all, or JSON followed by more: about the whole body.
        assert_eq!(field("{"), None);
        assert_eq!(field(&format!("{{{good}}} {{}}")), None);
    }
}
