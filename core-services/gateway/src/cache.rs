//! The response cache for public GETs: a shared cache in the sense of RFC 9111, in front of
//! the upstreams, so a hot product page costs the gateway a hash lookup instead of a hop to
//! catalog and a Redis round trip there.
//!
//! What is stored: a `200` answer to an anonymous `GET` on a public route whose
//! `Cache-Control` allows a shared cache (`public`, `max-age` or `s-maxage`; never `private`,
//! `no-store` or `no-cache`), with no `Set-Cookie`, a `Vary` other than `*` and a
//! `Content-Length` within the entry limit. It lives for its freshness lifetime (`s-maxage`,
//! else `max-age`, less any `Age` it arrived with), and never longer: however the invalidation
//! path fares, nothing is served past the upstream's `max-age`.
//!
//! How it answers: the stored `200` with an `Age` header, or a `304` when the request's
//! `If-None-Match` matches the stored `ETag` (weak comparison), without calling the upstream.
//! A request to a route that is not public never reads or fills the cache. A signed-in request
//! to a public route is served a stored answer only when the upstream declared it shareable
//! (`public` or `s-maxage`, RFC 9111 section 3.5), and its own answer is never stored: what
//! one signed-in caller fetched is never served to anybody else.
//! Request `Cache-Control` directives are not honoured: a client that wants a fresh copy
//! revalidates with its `ETag`, and nobody can make the gateway bypass its cache at will.
//!
//! `Vary`: the entry under the URL then only records which request headers select a variant,
//! and each variant is stored under the URL plus those headers' values.
//!
//! Bounded: a moka cache weighed in bytes (key, headers and body), with LRU-like eviction.
//!
//! Invalidation: a write that passes through this gateway (any method but GET/HEAD/OPTIONS
//! that the upstream did not refuse with a 5xx) drops that upstream's entries at once, so the
//! writer reads its own write. Writes made elsewhere (through another replica, or straight to
//! catalog) arrive on the Redis channel catalog publishes to on every invalidation; the
//! gateway then empties the cache. When that subscription drops, and again when it is back,
//! the cache is emptied, since announcements may have been missed; in between, entries live
//! out their `max-age` and no longer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use moka::policy::Expiry;
use moka::sync::Cache;
use prometheus::{IntCounter, IntCounterVec};
use service_kit::http::if_none_match;

/// Tells clients and operators how the gateway answered (`hit`, `miss`, `bypass`).
pub const CACHE_HEADER: &str = "x-gateway-cache";

/// Headers that are never stored: they belong to one exchange.
const NOT_STORED: &[&str] = &["x-request-id", "set-cookie", "age", "x-cache"];

/// A stored answer.
#[derive(Debug)]
pub struct Stored {
    headers: HeaderMap,
    body: Bytes,
    etag: Option<String>,
    stored_at: Instant,
    /// The `Age` it arrived with, in seconds.
    initial_age: u64,
    ttl: Duration,
    weight: u32,
    /// Declared `public` or `s-maxage`: it may answer a request with credentials too.
    shareable: bool,
}

/// Either an answer, or (under the bare URL of a response with `Vary`) the request headers
/// that select its variants.
#[derive(Debug, Clone)]
enum Slot {
    Answer(Arc<Stored>),
    Vary {
        names: Arc<[HeaderName]>,
        ttl: Duration,
    },
}

impl Slot {
    fn ttl(&self) -> Duration {
        match self {
            Self::Answer(stored) => stored.ttl,
            Self::Vary { ttl, .. } => *ttl,
        }
    }

    fn weight(&self, key: &Key) -> u32 {
        let own = match self {
            Self::Answer(stored) => stored.weight,
            Self::Vary { names, .. } => {
                let bytes: usize = names.iter().map(|n| n.as_str().len() + 16).sum();
                u32::try_from(bytes).unwrap_or(u32::MAX)
            }
        };
        let key_bytes = u32::try_from(key.url.len() + key.upstream.len() + 64).unwrap_or(0);
        own.saturating_add(key_bytes)
    }
}

/// What an entry is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    upstream: Arc<str>,
    /// The public path and query, then (for a variant) `\0` and the selecting header values.
    url: String,
}

/// Each entry lives for its own freshness lifetime.
struct Freshness;

impl Expiry<Key, Slot> for Freshness {
    fn expire_after_create(&self, _key: &Key, value: &Slot, _created: Instant) -> Option<Duration> {
        Some(value.ttl())
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        value: &Slot,
        _updated: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl())
    }
}

/// The response cache (cheap to clone; clones share the entries).
#[derive(Clone)]
pub struct ResponseCache {
    entries: Cache<Key, Slot>,
    max_entry_bytes: usize,
    counts: Arc<Counts>,
}

/// `gateway_response_cache_total` by result, looked up once.
struct Counts {
    hit: IntCounter,
    revalidated: IntCounter,
    miss: IntCounter,
    stored: IntCounter,
    bypass: IntCounter,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.entries.entry_count())
            .field("bytes", &self.entries.weighted_size())
            .finish_non_exhaustive()
    }
}

/// Whether a request may use the cache, and under which URL.
#[derive(Debug)]
pub struct Lookup {
    key: Key,
    /// The request carries credentials: only a shareable answer may serve it, and its own
    /// answer is not stored.
    signed_in: bool,
}

impl Lookup {
    /// Whether the request carries credentials.
    pub fn signed_in(&self) -> bool {
        self.signed_in
    }
}

impl ResponseCache {
    /// A cache of at most `max_bytes`, storing answers of at most `max_entry_bytes`;
    /// `lookups` counts `gateway_response_cache_total{result}`.
    pub fn new(max_bytes: u64, max_entry_bytes: usize, lookups: &IntCounterVec) -> Self {
        let count = |result: &str| lookups.with_label_values(&[result]);
        let counts = Arc::new(Counts {
            hit: count("hit"),
            revalidated: count("revalidated"),
            miss: count("miss"),
            stored: count("stored"),
            bypass: count("bypass"),
        });
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Key, slot: &Slot| slot.weight(key))
            .expire_after(Freshness)
            .build();
        Self {
            entries,
            max_entry_bytes,
            counts,
        }
    }

    /// Bytes held now (pending maintenance included; see [`ResponseCache::settle`]).
    pub fn weighted_size(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Entries held now.
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Runs the cache's pending maintenance (evictions, expirations) now.
    pub fn settle(&self) {
        self.entries.run_pending_tasks();
    }

    /// Drops every entry of `upstream`.
    pub fn invalidate_upstream(&self, upstream: &str) {
        let upstream: Arc<str> = upstream.into();
        // Entries are few per upstream in practice, and this runs once per write; dropping
        // everything would cost the other upstreams their entries for nothing.
        let doomed: Vec<Key> = self
            .entries
            .iter()
            .filter(|(key, _)| key.upstream == upstream)
            .map(|(key, _)| Key::clone(&key))
            .collect();
        for key in doomed {
            self.entries.invalidate(&key);
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// The lookup for a request, or `None` when the request must go to the upstream and its
    /// answer must not be stored (not a GET, or not a public route).
    pub fn lookup_for(
        &self,
        method: &http::Method,
        public: bool,
        signed_in: bool,
        headers: &HeaderMap,
        upstream: &str,
        path_and_query: &str,
    ) -> Option<Lookup> {
        if method != http::Method::GET || !public {
            if method == http::Method::GET {
                self.count(|c| &c.bypass);
            }
            return None;
        }
        Some(Lookup {
            key: Key {
                upstream: upstream.into(),
                url: path_and_query.to_owned(),
            },
            signed_in: signed_in || headers.contains_key(header::AUTHORIZATION),
        })
    }

    /// The stored answer for `lookup`, as this request should get it (200 or 304).
    pub fn get(&self, lookup: &Lookup, request: &HeaderMap) -> Option<Response> {
        let found = self.find(lookup, request);
        if found.is_none() && lookup.signed_in {
            // Goes to the upstream, and its answer is not stored.
            self.count(|c| &c.bypass);
        }
        found
    }

    fn find(&self, lookup: &Lookup, request: &HeaderMap) -> Option<Response> {
        let stored = match self.entries.get(&lookup.key)? {
            Slot::Answer(stored) => stored,
            Slot::Vary { names, .. } => {
                let variant = Key {
                    upstream: lookup.key.upstream.clone(),
                    url: variant_url(&lookup.key.url, &names, request),
                };
                match self.entries.get(&variant)? {
                    Slot::Answer(stored) => stored,
                    Slot::Vary { .. } => return None,
                }
            }
        };
        if lookup.signed_in && !stored.shareable {
            return None;
        }
        let age = stored
            .initial_age
            .saturating_add(stored.stored_at.elapsed().as_secs());
        if stored
            .etag
            .as_deref()
            .is_some_and(|etag| if_none_match(request, etag))
        {
            self.count(|c| &c.revalidated);
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            let headers = response.headers_mut();
            for name in [
                header::ETAG,
                header::CACHE_CONTROL,
                header::VARY,
                header::EXPIRES,
                header::CONTENT_LOCATION,
                header::DATE,
            ] {
                for value in stored.headers.get_all(&name) {
                    headers.append(name.clone(), value.clone());
                }
            }
            finish(headers, age, "hit");
            return Some(response);
        }
        self.count(|c| &c.hit);
        let mut response = Response::new(Body::from(stored.body.clone()));
        *response.headers_mut() = stored.headers.clone();
        finish(response.headers_mut(), age, "hit");
        Some(response)
    }

    /// Stores the upstream's `response` to `lookup` when it may be stored, and hands back the
    /// response for the client (the body read into memory when it is stored).
    pub async fn store(&self, lookup: Lookup, request: &HeaderMap, response: Response) -> Response {
        if lookup.signed_in {
            // Never stored: see the module's documentation.
            return response;
        }
        self.count(|c| &c.miss);
        let Some(policy) = storable(&response, self.max_entry_bytes) else {
            let mut response = response;
            response
                .headers_mut()
                .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
            return response;
        };
        let (mut parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, self.max_entry_bytes).await {
            Ok(body) => body,
            Err(err) => {
                tracing::warn!(error = %err, "upstream body failed while caching it");
                return service_kit::Problem::new(
                    StatusCode::BAD_GATEWAY,
                    "bad-gateway",
                    "Bad gateway",
                )
                .with_detail("the upstream's answer broke off")
                .into_response();
            }
        };
        let mut headers = parts.headers.clone();
        for name in NOT_STORED {
            headers.remove(*name);
        }
        let header_bytes: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        let stored = Arc::new(Stored {
            etag: headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            headers,
            weight: u32::try_from(body.len() + header_bytes + 128).unwrap_or(u32::MAX),
            body: body.clone(),
            stored_at: Instant::now(),
            initial_age: policy.initial_age,
            ttl: policy.ttl,
            shareable: policy.shareable,
        });
        let Key { upstream, url } = lookup.key;
        let url = if policy.vary.is_empty() {
            url
        } else {
            let names: Arc<[HeaderName]> = policy.vary.into();
            let variant = variant_url(&url, &names, request);
            self.entries.insert(
                Key {
                    upstream: upstream.clone(),
                    url,
                },
                Slot::Vary {
                    names,
                    ttl: policy.ttl,
                },
            );
            variant
        };
        self.entries
            .insert(Key { upstream, url }, Slot::Answer(stored));
        self.count(|c| &c.stored);
        parts
            .headers
            .insert(CACHE_HEADER, HeaderValue::from_static("miss"));
        Response::from_parts(parts, Body::from(body))
    }

    fn count(&self, result: fn(&Counts) -> &IntCounter) {
        result(&self.counts).inc();
    }
}

fn finish(headers: &mut HeaderMap, age: u64, how: &'static str) {
    headers.insert(header::AGE, HeaderValue::from(age));
    headers.insert(CACHE_HEADER, HeaderValue::from_static(how));
}

/// The URL of the variant a request selects: the URL, then each `Vary` header's values.
fn variant_url(url: &str, names: &[HeaderName], request: &HeaderMap) -> String {
    let mut key = String::with_capacity(url.len() + 32);
    key.push_str(url);
    for name in names {
        key.push('\0');
        let mut first = true;
        for value in request.get_all(name) {
            if !first {
                key.push(',');
            }
            first = false;
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
    }
    key
}

/// How long an answer may be stored, and the headers selecting its variants.
#[derive(Debug)]
struct Policy {
    ttl: Duration,
    initial_age: u64,
    vary: Vec<HeaderName>,
    /// `public` or `s-maxage`.
    shareable: bool,
}

/// The storage policy of an upstream answer, or `None` when it must not be stored.
fn storable(response: &Response, max_entry_bytes: usize) -> Option<Policy> {
    if response.status() != StatusCode::OK {
        return None;
    }
    let headers = response.headers();
    if headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let length: usize = headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    if length > max_entry_bytes {
        return None;
    }
    let mut max_age = None;
    let mut shared_max_age = None;
    let mut public = false;
    for directive in headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        match name.to_ascii_lowercase().as_str() {
            "private" | "no-store" | "no-cache" => return None,
            "public" => public = true,
            "max-age" => max_age = value.and_then(|v| v.parse::<u64>().ok()),
            "s-maxage" => shared_max_age = value.and_then(|v| v.parse::<u64>().ok()),
            _ => {}
        }
    }
    // Only an explicit lifetime: no heuristic freshness.
    let lifetime = shared_max_age.or(max_age)?;
    let initial_age: u64 = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let ttl = lifetime.checked_sub(initial_age).filter(|t| *t > 0)?;
    let mut vary = Vec::new();
    for name in headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if name == "*" {
            return None;
        }
        let name = HeaderName::try_from(name.to_ascii_lowercase()).ok()?;
        if !vary.contains(&name) {
            vary.push(name);
        }
    }
    vary.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Some(Policy {
        ttl: Duration::from_secs(ttl),
        initial_age,
        vary,
        shareable: public || shared_max_age.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> IntCounterVec {
        IntCounterVec::new(prometheus::Opts::new("t", "t"), &["result"]).unwrap_or_else(|e| {
            panic!("{e}");
        })
    }

    fn answer(cache_control: &str, body: &'static [u8]) -> Response {
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(cache_control).unwrap_or_else(|e| panic!("{e}")),
        );
        headers.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
        response
    }

    #[test]
    fn only_answers_a_shared_cache_may_keep_are_storable() {
        let policy = storable(&answer("public, max-age=30", b"{}"), 1024);
        assert_eq!(
            policy.as_ref().map(|p| p.ttl),
            Some(Duration::from_secs(30))
        );
        assert!(policy.is_some_and(|p| p.shareable), "public");
        let shared = storable(&answer("max-age=30, s-maxage=5", b"{}"), 1024);
        assert_eq!(
            shared.map(|p| (p.ttl, p.shareable)),
            Some((Duration::from_secs(5), true))
        );
        let plain = storable(&answer("max-age=30", b"{}"), 1024);
        assert_eq!(
            plain.map(|p| p.shareable),
            Some(false),
            "kept for anonymous callers only"
        );
        for refused in [
            "private, max-age=30",
            "no-store",
            "public, no-cache, max-age=30",
            "public",
            "max-age=0",
        ] {
            assert!(
                storable(&answer(refused, b"{}"), 1024).is_none(),
                "{refused}"
            );
        }
        assert!(
            storable(&answer("public, max-age=30", b"0123456789"), 4).is_none(),
            "too big"
        );
        let mut aged = answer("public, max-age=30", b"{}");
        aged.headers_mut()
            .insert(header::AGE, HeaderValue::from_static("40"));
        assert!(storable(&aged, 1024).is_none(), "already stale");
        let mut vary_all = answer("public, max-age=30", b"{}");
        vary_all
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("*"));
        assert!(storable(&vary_all, 1024).is_none());
    }

    #[tokio::test]
    async fn memory_stays_within_its_bound_under_100_000_distinct_urls() {
        let bound = 4 * 1024 * 1024;
        let cache = ResponseCache::new(bound, 64 * 1024, &counter());
        let body: &'static [u8] = &[b'x'; 512];
        let request = HeaderMap::new();
        for i in 0..100_000 {
            let Some(lookup) = cache.lookup_for(
                &http::Method::GET,
                true,
                false,
                &request,
                "catalog",
                &format!("/api/v1/products/{i}"),
            ) else {
                panic!("a public anonymous GET uses the cache");
            };
            let _ = cache
                .store(lookup, &request, answer("public, max-age=60", body))
                .await;
        }
        cache.settle();
        assert!(
            cache.weighted_size() <= bound,
            "{} bytes held, bound {bound}",
            cache.weighted_size()
        );
        assert!(
            cache.entry_count() > 1000,
            "{} entries",
            cache.entry_count()
        );
        assert!(cache.entry_count() < 100_000);
    }
}
