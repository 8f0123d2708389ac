//! Entry points for the fuzz targets in `fuzz/` (run by `scripts/fuzz.sh`), built only with
//! the `fuzzing` feature: the request-body decoding of every route that takes JSON, through
//! the same extractors the router runs, without a database or a socket.

use std::sync::OnceLock;

use axum::extract::FromRequest;
use axum::response::IntoResponse;

use crate::api::assignments::{AssignmentIn, AssignmentPatch};
use crate::api::authorities::{AuthorityIn, TokenIn};
use crate::api::certificates::RevokeIn;
use crate::api::enrolments::{DecisionIn, EnrolmentIn};
use crate::api::operators::OperatorIn;
use crate::api::{Body, MergePatch};
use crate::extract::OptionalBody;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("no runtime for the fuzz target: {e}"))
    })
}

/// Runs one extractor on `bytes` sent as `media`. A refusal must be a 4xx problem: a body the
/// client got wrong is never the server's fault.
async fn decode<T: FromRequest<(), Rejection = crate::problem::Problem>>(
    bytes: &[u8],
    media: &str,
) {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", media)
        .body(axum::body::Body::from(bytes.to_vec()))
        .unwrap_or_else(|e| panic!("request: {e}"));
    if let Err(problem) = T::from_request(request, &()).await {
        let status = problem.into_response().status();
        assert!(
            status.is_client_error(),
            "a malformed body answered {status}"
        );
    }
}

/// Every JSON body the registry takes, decoded from the same bytes.
pub fn decode_json_bodies(bytes: &[u8]) {
    runtime().block_on(async {
        let json = "application/json";
        decode::<Body<EnrolmentIn>>(bytes, json).await;
        decode::<Body<AuthorityIn>>(bytes, json).await;
        decode::<Body<OperatorIn>>(bytes, json).await;
        decode::<Body<AssignmentIn>>(bytes, json).await;
        decode::<Body<RevokeIn>>(bytes, json).await;
        decode::<MergePatch<AssignmentPatch>>(bytes, "application/merge-patch+json").await;
        decode::<OptionalBody<TokenIn>>(bytes, json).await;
        decode::<OptionalBody<DecisionIn>>(bytes, json).await;
    });
}
