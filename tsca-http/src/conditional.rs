//! Conditional GETs (RFC 9110 §13): whether the client's copy is current, so that the
//! answer is `304 Not Modified` instead of the body. Every cacheable thing the publication
//! point serves — OCSP responses by GET, chains, CA certificates, CRLs — goes through
//! [`answer`], which looks at the validators the 200 response carries (`ETag`,
//! `Last-Modified`), so a route only has to set them.
//!
//! The rules (RFC 9110 §13.2.2): `If-None-Match` is evaluated first, with the weak
//! comparison (`W/"x"` matches `"x"`, §8.8.3.2), and `*` matches anything; only when it is
//! absent is `If-Modified-Since` evaluated, against `Last-Modified` at one-second
//! granularity; an unparseable date is ignored. Only GET and HEAD are conditional here.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

/// The headers a 304 keeps from the 200 it replaces (RFC 9110 §15.4.5).
const KEPT: [header::HeaderName; 5] = [
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
    header::VARY,
];

/// `response` as it should go to a request with these `method` and `headers`: unchanged, or
/// a 304 with its validators and caching headers when the request's preconditions say the
/// client already has it. Only a 200 is ever replaced.
pub fn answer(method: &Method, headers: &HeaderMap, response: Response) -> Response {
    let conditional = headers.contains_key(header::IF_NONE_MATCH)
        || headers.contains_key(header::IF_MODIFIED_SINCE);
    if !conditional
        || response.status() != StatusCode::OK
        || !(method == Method::GET || method == Method::HEAD)
    {
        return response;
    }
    if !is_current(headers, response.headers()) {
        return response;
    }
    let mut not_modified = Response::new(axum::body::Body::empty());
    *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
    for name in KEPT {
        if let Some(value) = response.headers().get(&name) {
            not_modified.headers_mut().insert(name, value.clone());
        }
    }
    not_modified
}

/// Whether the request's preconditions match the representation described by `validators`
/// (the response headers holding `ETag` and `Last-Modified`).
pub fn is_current(request: &HeaderMap, validators: &HeaderMap) -> bool {
    if let Some(if_none_match) = request.get(header::IF_NONE_MATCH) {
        return validators
            .get(header::ETAG)
            .is_some_and(|etag| tag_listed(if_none_match, etag));
    }
    let (Some(since), Some(modified)) = (
        request.get(header::IF_MODIFIED_SINCE).and_then(http_date),
        validators.get(header::LAST_MODIFIED).and_then(http_date),
    ) else {
        return false;
    };
    modified <= since
}

/// Whether `list` (an If-None-Match value: `*` or entity-tags separated by commas) names
/// `etag`, by the weak comparison.
fn tag_listed(list: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = list.to_str() else {
        return false;
    };
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let ours = opaque(etag);
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == ours)
}

/// An entity-tag without its weakness indicator.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

fn http_date(value: &HeaderValue) -> Option<std::time::SystemTime> {
    httpdate::parse_http_date(value.to_str().ok()?).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ok_with(etag: &str, last_modified: &str) -> Response {
        let mut r = Response::new(axum::body::Body::from("body"));
        let h = r.headers_mut();
        h.insert(header::ETAG, HeaderValue::from_str(etag).unwrap());
        h.insert(
            header::LAST_MODIFIED,
            HeaderValue::from_str(last_modified).unwrap(),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        r
    }

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

    fn status(pairs: &[(header::HeaderName, &str)]) -> StatusCode {
        answer(&Method::GET, &request(pairs), ok_with("\"abc\"", MODIFIED)).status()
    }

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        use header::IF_NONE_MATCH as INM;
        assert_eq!(status(&[(INM, "\"abc\"")]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&[(INM, "W/\"abc\"")]), StatusCode::NOT_MODIFIED);
        assert_eq!(
            status(&[(INM, "\"x\", W/\"abc\"")]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(status(&[(INM, "*")]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&[(INM, "\"abd\"")]), StatusCode::OK);
        assert_eq!(status(&[]), StatusCode::OK);
    }

    #[test]
    fn if_modified_since_only_without_if_none_match() {
        use header::{IF_MODIFIED_SINCE as IMS, IF_NONE_MATCH as INM};
        assert_eq!(status(&[(IMS, MODIFIED)]), StatusCode::NOT_MODIFIED);
        assert_eq!(
            status(&[(IMS, "Wed, 02 Dec 2026 10:00:00 GMT")]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            status(&[(IMS, "Tue, 01 Dec 2026 09:59:59 GMT")]),
            StatusCode::OK
        );
        assert_eq!(status(&[(IMS, "not a date")]), StatusCode::OK);
        // If-None-Match decides when both are sent (RFC 9110 §13.2.2).
        assert_eq!(
            status(&[(INM, "\"other\""), (IMS, MODIFIED)]),
            StatusCode::OK
        );
    }

    #[test]
    fn a_304_keeps_the_validators_and_caching_headers_only() {
        let r = answer(
            &Method::GET,
            &request(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            ok_with("\"abc\"", MODIFIED),
        );
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::ETAG], "\"abc\"");
        assert_eq!(r.headers()[header::LAST_MODIFIED], MODIFIED);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "max-age=60");
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
        // Not for a POST, nor for anything but a 200.
        let post = answer(
            &Method::POST,
            &request(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            ok_with("\"abc\"", MODIFIED),
        );
        assert_eq!(post.status(), StatusCode::OK);
    }
}
