//! The admin dashboard's static files (built by `npm run build` in
//! `core-services/admin-dashboard`) at `/admin`: hashed assets cached for a year, `index.html`
//! for every other path (the dashboard routes on the client) never cached, and a strict
//! Content-Security-Policy on everything (no inline script or style, nothing from elsewhere).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use service_kit::ApiError;

/// The policy on every `/admin` response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The routes, serving files from `dir`.
pub fn router(dir: PathBuf) -> Router {
    Router::new()
        .route("/admin", get(serve))
        .route("/admin/", get(serve))
        .route("/admin/{*path}", get(serve))
        .with_state(dir)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file an asset path names, if it is a plain relative path inside `assets/`.
fn asset(dir: &Path, path: &str) -> Option<PathBuf> {
    let rest = path.strip_prefix("assets/")?;
    let safe = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !rest.starts_with('.');
    safe.then(|| dir.join("assets").join(rest))
}

fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn file(path: &Path, cache: &'static str) -> Option<Response> {
    let bytes = tokio::fs::read(path).await.ok()?;
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}

async fn serve(State(dir): State<PathBuf>, uri: Uri) -> Response {
    let path = uri
        .path()
        .strip_prefix("/admin")
        .unwrap_or_default()
        .trim_start_matches('/');
    if path.starts_with("assets/") {
        let found = match asset(&dir, path) {
            Some(file_path) => file(&file_path, "public, max-age=31536000, immutable").await,
            None => None,
        };
        return secure(
            found.unwrap_or_else(|| ApiError::NotFound("no such asset".into()).into_response()),
        );
    }
    match file(&dir.join("index.html"), "no-cache").await {
        Some(response) => secure(response),
        None => secure(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError::Unavailable(
                    "the admin dashboard is not built (npm run build in core-services/admin-dashboard)"
                        .into(),
                ),
            )
                .into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_asset_names_are_served() {
        let dir = Path::new("/srv/admin");
        assert_eq!(
            asset(dir, "assets/index-AbC_12.js"),
            Some(PathBuf::from("/srv/admin/assets/index-AbC_12.js"))
        );
        for bad in [
            "assets/../secret",
            "assets/a/b.js",
            "assets/.env",
            "assets/",
            "assets/%2e%2e",
            "index.html",
        ] {
            assert_eq!(asset(dir, bad), None, "{bad}");
        }
        assert_eq!(
            content_type(Path::new("a.js")),
            "text/javascript; charset=utf-8"
        );
    }
}
