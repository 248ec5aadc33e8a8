//! Cache-aside in Redis for product pages and listing pages.
//!
//! Keys (under the service prefix): `cache:gen` holds a generation number; entries live at
//! `cache:g<gen>:<kind>:<key>` for the TTL. A read fetches the generation and the entry in one
//! round trip (a Lua script). On a miss, one request per key and process loads from PostgreSQL
//! (single flight) and stores the result under the generation it read *before* loading. Every
//! write deletes the product's entries and bumps the generation, so listing pages become
//! unreachable at once and a load that raced with the write lands under a dead generation:
//! nothing stale is ever served from the cache.
//!
//! Every invalidation is also announced on the channel `<prefix>cache:invalidated` (with the
//! new generation), in the same script: gateway replicas drop the answers they cached from
//! catalog when they hear it, and so do the other catalog replicas.
//!
//! In front of Redis, each replica keeps a small first level in its own memory (bounded in
//! bytes, entries live at most `local_ttl`), so a hot product costs no Redis round trip. It
//! is emptied by this replica's writes at once and by the announcements of the others; a read
//! that raced with a write does not keep what it read (an epoch counter tells).
//!
//! Redis is optional: any Redis error or timeout counts `catalog_cache_lookups_total
//! {result="error"}` and the request is answered from PostgreSQL. An invalidation that fails is
//! retried in the background until it succeeds or the TTL has passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use prometheus::{IntCounterVec, Opts};
use service_kit::ApiError;
use service_kit::metrics::Metrics;
use service_kit::redis::RedisClient;
use service_kit::singleflight::SingleFlight;

const READ_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
local value = redis.call('GET', ARGV[1] .. gen .. ARGV[2])
return {gen, value}
";

const INVALIDATE_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
for i = 2, #ARGV do
  redis.call('DEL', ARGV[1] .. gen .. ARGV[i])
end
local next = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], next)
return next
";

/// A cached response body and its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The `ETag` value, quotes included (a header value: cloned per hit without copying).
    pub etag: HeaderValue,
    /// The JSON body.
    pub body: Bytes,
}

impl Entry {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.etag.len() + 1 + self.body.len());
        out.extend_from_slice(self.etag.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let split = raw.iter().position(|b| *b == b'\n')?;
        let raw = Bytes::from(raw);
        let etag = HeaderValue::from_maybe_shared(raw.slice(..split)).ok()?;
        let body = raw.slice(split + 1..);
        Some(Self { etag, body })
    }
}

/// What a cache read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Served from this replica's memory.
    Local,
    /// Served from Redis.
    Hit,
    /// Loaded from PostgreSQL (and stored).
    Miss,
    /// Redis failed; loaded from PostgreSQL.
    Error,
}

impl Lookup {
    /// The metric label and `x-cache` value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Error => "error",
        }
    }
}

type Loaded = Result<Option<Entry>, Arc<ApiError>>;

/// The product and listing cache.
#[derive(Clone, Debug)]
pub struct Cache {
    redis: RedisClient,
    ttl: Duration,
    flight: Arc<SingleFlight<Loaded>>,
    lookups: IntCounterVec,
    /// `lookups` of the two caches by [`Lookup`], looked up once.
    counters: Arc<[(&'static str, [prometheus::IntCounter; 4])]>,
    invalidation_failures: prometheus::IntCounter,
    read: Arc<redis::Script>,
    invalidate: Arc<redis::Script>,
    local: Option<Local>,
}

/// The in-process first level.
#[derive(Clone, Debug)]
struct Local {
    entries: moka::sync::Cache<String, Entry>,
    /// Bumped by every invalidation: a read that started before one does not keep its entry.
    epoch: Arc<AtomicU64>,
}

impl Local {
    fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

impl Cache {
    /// A cache over `redis` whose entries live for `ttl`.
    pub fn new(redis: RedisClient, ttl: Duration, metrics: &Metrics) -> anyhow::Result<Self> {
        let lookups = metrics.register(IntCounterVec::new(
            Opts::new(
                "catalog_cache_lookups_total",
                "Cache lookups by cache (product, list) and result (hit, miss, error = Redis unavailable, served from PostgreSQL).",
            ),
            &["cache", "result"],
        )?)?;
        // Exported from the start (0), so dashboards and alerts see every series.
        let counters = ["product", "list"]
            .map(|cache| {
                (
                    cache,
                    [Lookup::Local, Lookup::Hit, Lookup::Miss, Lookup::Error]
                        .map(|lookup| lookups.with_label_values(&[cache, lookup.label()])),
                )
            })
            .into();
        let invalidation_failures = metrics.register(prometheus::IntCounter::new(
            "catalog_cache_invalidation_failures_total",
            "Cache invalidations that failed and were retried in the background.",
        )?)?;
        Ok(Self {
            redis,
            ttl,
            flight: Arc::new(SingleFlight::default()),
            lookups,
            counters,
            invalidation_failures,
            read: Arc::new(redis::Script::new(READ_SCRIPT)),
            invalidate: Arc::new(redis::Script::new(INVALIDATE_SCRIPT)),
            local: None,
        })
    }

    /// Adds the in-process first level: at most `max_bytes`, each entry for at most `ttl`
    /// (`max_bytes` 0 leaves it off).
    #[must_use]
    pub fn with_local(mut self, max_bytes: u64, ttl: Duration) -> Self {
        self.local = (max_bytes > 0 && !ttl.is_zero()).then(|| Local {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, entry: &Entry| {
                    u32::try_from(key.len() + entry.etag.len() + entry.body.len() + 96)
                        .unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build(),
            epoch: Arc::default(),
        });
        self
    }

    /// Empties the first level whenever another replica announces an invalidation (and when
    /// the subscription drops or comes back, since announcements may have been missed).
    pub async fn follow_invalidations(&self) {
        if let Some(local) = self.local.clone() {
            self.redis
                .follow(self.invalidation_channel(), move || local.clear())
                .await;
        }
    }

    fn generation_key(&self) -> String {
        self.redis.key("cache:gen")
    }

    /// The channel invalidations are announced on (the gateway subscribes to it).
    pub fn invalidation_channel(&self) -> String {
        self.redis.key("cache:invalidated")
    }

    fn entry_prefix(&self) -> String {
        self.redis.key("cache:g")
    }

    /// The Redis key an entry of `kind`/`key` has under generation `gen` (tests assert on it).
    pub fn entry_key(&self, generation: &str, kind: &str, key: &str) -> String {
        format!("{}{generation}:{kind}:{key}", self.entry_prefix())
    }

    /// Reads `kind`/`key` from the cache, or loads it with `load` and stores it.
    pub async fn get_or_load<F, Fut>(
        &self,
        kind: &'static str,
        key: &str,
        load: F,
    ) -> Result<(Option<Entry>, Lookup), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Entry>, ApiError>>,
    {
        let suffix = format!(":{kind}:{key}");
        let epoch = self.local.as_ref().map(|local| {
            let epoch = local.epoch.load(Ordering::SeqCst);
            (local, epoch)
        });
        if let Some((local, _)) = epoch
            && let Some(entry) = local.entries.get(&suffix)
        {
            self.count(kind, Lookup::Local);
            return Ok((Some(entry), Lookup::Local));
        }
        let keep = |entry: &Entry| {
            if let Some((local, epoch)) = epoch {
                local.entries.insert(suffix.clone(), entry.clone());
                // An invalidation since the read began: what was read may predate it.
                if local.epoch.load(Ordering::SeqCst) != epoch {
                    local.entries.invalidate(&suffix);
                }
            }
        };
        let mut invocation = self.read.prepare_invoke();
        invocation
            .key(self.generation_key())
            .arg(self.entry_prefix())
            .arg(&suffix);
        let generation = match self
            .redis
            .invoke::<(String, Option<Vec<u8>>)>(&invocation)
            .await
        {
            Ok((_, Some(raw))) => {
                if let Some(entry) = Entry::decode(raw) {
                    self.count(kind, Lookup::Hit);
                    keep(&entry);
                    return Ok((Some(entry), Lookup::Hit));
                }
                None
            }
            Ok((generation, None)) => Some(generation),
            Err(err) => {
                tracing::warn!(error = %err, "cache read failed; serving from PostgreSQL");
                None
            }
        };
        let outcome = if generation.is_some() {
            Lookup::Miss
        } else {
            Lookup::Error
        };
        self.count(kind, outcome);

        let flight_key = format!("{}{suffix}", generation.as_deref().unwrap_or("-"));
        let loaded = self
            .flight
            .run(&flight_key, || async {
                let loaded = load().await.map_err(Arc::new)?;
                if let (Some(generation), Some(entry)) = (&generation, &loaded) {
                    self.store(
                        &format!("{}{generation}{suffix}", self.entry_prefix()),
                        entry,
                    )
                    .await;
                }
                Ok(loaded)
            })
            .await;
        let loaded = loaded
            .map(|entry| (entry, outcome))
            .map_err(|err| shared_error(&err))?;
        // Only what came with a generation: a load made while Redis failed may race a write
        // whose invalidation could not be announced.
        if let (Some(entry), Lookup::Miss) = &loaded {
            keep(entry);
        }
        Ok(loaded)
    }

    async fn store(&self, key: &str, entry: &Entry) {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(entry.encode()).arg("PX").arg(ttl_ms);
        if let Err(err) = self.redis.query::<()>(&cmd).await {
            tracing::warn!(error = %err, "cache write failed");
        }
    }

    /// Drops the entries of `product_keys` (`kind:key` pairs) and every listing page. Retries
    /// in the background while Redis is unavailable, for at most one TTL.
    pub async fn invalidate(&self, product_keys: Vec<String>) {
        let announced = self.try_invalidate(&product_keys).await;
        // After the generation moved: a read racing with it either sees the new one or finds
        // the epoch changed and drops what it kept.
        if let Some(local) = &self.local {
            local.clear();
        }
        if announced {
            return;
        }
        self.invalidation_failures.inc();
        let cache = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + cache.ttl;
            let mut delay = Duration::from_millis(100);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(delay).await;
                if cache.try_invalidate(&product_keys).await {
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            tracing::error!(
                "cache invalidation kept failing for a whole TTL; entries have expired by now"
            );
        });
    }

    async fn try_invalidate(&self, product_keys: &[String]) -> bool {
        let mut invocation = self.invalidate.prepare_invoke();
        invocation
            .key(self.generation_key())
            .key(self.invalidation_channel())
            .arg(self.entry_prefix());
        for key in product_keys {
            invocation.arg(format!(":{key}"));
        }
        match self.redis.invoke::<i64>(&invocation).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(error = %err, "cache invalidation failed");
                false
            }
        }
    }

    fn count(&self, kind: &str, lookup: Lookup) {
        match self.counters.iter().find(|(cache, _)| *cache == kind) {
            Some((_, counters)) => counters[lookup as usize].inc(),
            None => self
                .lookups
                .with_label_values(&[kind, lookup.label()])
                .inc(),
        }
    }
}

/// Rebuilds an error shared by a single flight for each of its waiters.
fn shared_error(err: &ApiError) -> ApiError {
    match err {
        ApiError::Unavailable(detail) => ApiError::Unavailable(detail.clone()),
        ApiError::NotFound(detail) => ApiError::NotFound(detail.clone()),
        other => ApiError::Internal(anyhow::anyhow!("loading from the database failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entry = Entry {
            etag: HeaderValue::from_static("\"3\""),
            body: Bytes::from_static(b"{\"a\":\"x\ny\"}"),
        };
        assert_eq!(Entry::decode(entry.encode()), Some(entry));
    }
}
