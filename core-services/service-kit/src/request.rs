//! The request being served: what the HTTP edge ([`crate::http`]) records for each request and
//! what the error renderer ([`crate::error`]) and the log formatter ([`crate::telemetry`]) read
//! back. Its own module so that those readers do not depend on the HTTP stack that calls them.

use http::HeaderValue;

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the error renderer needs to know about the request being served.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request target; its path is the problem's `instance`.
    pub uri: http::Uri,
    /// The request id the request had or was given.
    pub request_id: HeaderValue,
}

impl RequestInfo {
    /// The request path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The request id, when it is text.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.to_str().ok()
    }
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// Runs `work` as the serving of the request `info` describes (the HTTP edge does, for every
/// request).
pub(crate) fn scope<F: std::future::Future>(
    info: RequestInfo,
    work: F,
) -> tokio::task::futures::TaskLocalFuture<RequestInfo, F> {
    REQUEST.scope(info, work)
}

/// The id of the request being served by the current task, if any (for log lines).
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST
        .try_with(|r| r.request_id().map(str::to_owned))
        .ok()
        .flatten()
}

/// The request being served by the current task, if any.
pub fn current_request() -> Option<RequestInfo> {
    REQUEST.try_with(Clone::clone).ok()
}
