//! `/api/docs`: an interactive page over the OpenAPI document, self-contained (no CDN, no
//! build step): it lists every operation with its parameters and sends requests with the
//! caller's session or a pasted token.

use axum::http::header;
use axum::response::IntoResponse;

pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'",
            ),
        ],
        include_str!("explorer.html"),
    )
}
