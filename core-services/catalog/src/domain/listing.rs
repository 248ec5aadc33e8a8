//! Listing and search parameters, and the keyset cursor.
//!
//! A listing is ordered by a sort key plus the product id, so "the next page" is "rows after the
//! last one seen" (keyset pagination): pages stay correct and fast while products are inserted,
//! however deep the client pages. The cursor carries the last row's key and a fingerprint of
//! the query, so a cursor cannot be replayed against different filters or another sort.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use service_kit::ApiError;
use service_kit::money::{Currency, MAX_AMOUNT};
use time::OffsetDateTime;
use uuid::Uuid;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Queries of at most this many words also match by trigram similarity (typo tolerance).
pub const SHORT_QUERY_WORDS: usize = 3;

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first (needs `q`).
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Most recently created first.
    Newest,
}

impl Sort {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "relevance" => Some(Self::Relevance),
            "price_asc" => Some(Self::PriceAsc),
            "price_desc" => Some(Self::PriceDesc),
            "newest" => Some(Self::Newest),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Relevance => "relevance",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Newest => "newest",
        }
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum After {
    /// For [`Sort::Newest`].
    Newest {
        /// Creation time of the last row.
        #[serde(with = "time::serde::rfc3339")]
        created_at: OffsetDateTime,
        /// Id of the last row.
        id: Uuid,
    },
    /// For both price sorts.
    Price {
        /// Price of the last row.
        amount: i64,
        /// Id of the last row.
        id: Uuid,
    },
    /// For [`Sort::Relevance`].
    Relevance {
        /// Rank of the last row (exactly as PostgreSQL computed it, a `real`).
        rank: f32,
        /// Id of the last row.
        id: Uuid,
    },
}

/// Where the next page starts, and how its search words are matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Next {
    /// The position after the last row of this page.
    pub after: After,
    /// Whether the search matched words close to the query's (typos), which it does when the
    /// exact words fill less than the first page; every later page matches the same way.
    pub close_words: bool,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    /// Fingerprint of the query the cursor belongs to.
    f: String,
    /// The position.
    a: After,
    /// Close words matched too ([`Next::close_words`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    w: bool,
}

/// Which products a listing includes (soft-deleted ones never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Active products: all shoppers ever see.
    Active,
    /// Inactive products only (admins).
    Inactive,
    /// Active and inactive (admins).
    All,
}

impl StatusFilter {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// The name used in the query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::All => "all",
        }
    }
}

/// Who lists: shoppers get active products and cannot ask otherwise; admins may filter by
/// status (`status=active|inactive|all`, default `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The public listing.
    Shopper,
    /// The back office.
    Admin,
}

/// A validated listing request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Which products are included.
    pub status: StatusFilter,
    /// Search text.
    pub q: Option<String>,
    /// Category slug (descendants included).
    pub category: Option<String>,
    /// Brands, lower-cased; any of them matches.
    pub brands: Vec<String>,
    /// Lowest price, in minor units.
    pub min_price: Option<i64>,
    /// Highest price, in minor units.
    pub max_price: Option<i64>,
    /// Only prices in this currency.
    pub currency: Option<Currency>,
    /// Attribute equality filters (`attr.color=red`).
    pub attributes: BTreeMap<String, String>,
    /// Order.
    pub sort: Sort,
    /// Page size.
    pub limit: u32,
    /// Where this page starts.
    pub after: Option<After>,
    /// The cursor as received (part of the cache key).
    pub raw_cursor: Option<String>,
    /// Whether the cursor says the search matches close words too ([`Next::close_words`]).
    pub close_words: bool,
}

impl ListQuery {
    /// Parses a shopper's query string; every problem answers 400 naming the parameter.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        Self::parse_for(query, Audience::Shopper)
    }

    /// Parses a query string for `audience`; every problem answers 400 naming the parameter.
    pub fn parse_for(query: Option<&str>, audience: Audience) -> Result<Self, ApiError> {
        let mut status = match audience {
            Audience::Shopper => StatusFilter::Active,
            Audience::Admin => StatusFilter::All,
        };
        let mut q = None;
        let mut category = None;
        let mut brands = Vec::new();
        let mut min_price = None;
        let mut max_price = None;
        let mut currency = None;
        let mut attributes = BTreeMap::new();
        let mut sort = None;
        let mut limit = None;
        let mut cursor = None;
        let mut seen = std::collections::HashSet::new();

        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let key = key.into_owned();
            let value = value.trim().to_owned();
            if key != "brand" && !seen.insert(key.clone()) {
                return Err(ApiError::bad_field(&key, "is given more than once"));
            }
            match key.as_str() {
                "q" => {
                    if value.chars().count() > MAX_QUERY_CHARS {
                        return Err(ApiError::bad_field(
                            "q",
                            format!("must be at most {MAX_QUERY_CHARS} characters"),
                        ));
                    }
                    q = Some(value).filter(|v| !v.is_empty());
                }
                "category" => category = Some(value.to_ascii_lowercase()).filter(|v| !v.is_empty()),
                "brand" => brands.extend(
                    value
                        .split(',')
                        .map(|b| b.trim().to_lowercase())
                        .filter(|b| !b.is_empty()),
                ),
                "min_price" => min_price = Some(parse_amount("min_price", &value)?),
                "max_price" => max_price = Some(parse_amount("max_price", &value)?),
                "currency" => {
                    currency = Some(
                        Currency::parse(&value)
                            .map_err(|e| ApiError::bad_field("currency", e.to_string()))?,
                    );
                }
                "sort" => {
                    sort = Some(Sort::parse(&value).ok_or_else(|| {
                        ApiError::bad_field(
                            "sort",
                            "must be one of relevance, price_asc, price_desc, newest",
                        )
                    })?);
                }
                "limit" => {
                    let n: u32 = value.parse().map_err(|_| {
                        ApiError::bad_field(
                            "limit",
                            format!("must be a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?;
                    if !(1..=MAX_LIMIT).contains(&n) {
                        return Err(ApiError::bad_field(
                            "limit",
                            format!("must be from 1 to {MAX_LIMIT}"),
                        ));
                    }
                    limit = Some(n);
                }
                "cursor" => cursor = Some(value).filter(|v| !v.is_empty()),
                "status" if audience == Audience::Admin => {
                    status = StatusFilter::parse(&value).ok_or_else(|| {
                        ApiError::bad_field("status", "must be one of active, inactive, all")
                    })?;
                }
                other => match other.strip_prefix("attr.") {
                    Some(name) if !name.is_empty() && name.len() <= 64 => {
                        attributes.insert(name.to_owned(), value);
                    }
                    _ => {
                        return Err(ApiError::bad_field(
                            other,
                            "is not a known parameter (q, category, brand, min_price, max_price, currency, attr.<name>, sort, cursor, limit)",
                        ));
                    }
                },
            }
        }
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(ApiError::bad_field(
                "min_price",
                "must not be greater than max_price",
            ));
        }
        brands.sort();
        brands.dedup();
        let sort = match (sort, &q) {
            (Some(Sort::Relevance), None) => {
                return Err(ApiError::bad_field(
                    "sort",
                    "relevance needs a search query `q`",
                ));
            }
            (Some(sort), _) => sort,
            (None, Some(_)) => Sort::Relevance,
            (None, None) => Sort::Newest,
        };
        let mut parsed = Self {
            status,
            q,
            category,
            brands,
            min_price,
            max_price,
            currency,
            attributes,
            sort,
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            after: None,
            raw_cursor: None,
            close_words: false,
        };
        if let Some(raw) = cursor {
            let (after, close_words) = parsed.decode_cursor(&raw)?;
            parsed.after = Some(after);
            parsed.close_words = close_words && parsed.is_short_query();
            parsed.raw_cursor = Some(raw);
        }
        Ok(parsed)
    }

    /// Whether the search also matches by trigram similarity: a few plain words. Queries using
    /// web search operators (quotes, `-exclusion`, `or`) mean exactly what they say.
    pub fn is_short_query(&self) -> bool {
        self.q.as_deref().is_some_and(|q| {
            let words: Vec<&str> = q.split_whitespace().collect();
            words.len() <= SHORT_QUERY_WORDS
                && !q.contains('"')
                && words
                    .iter()
                    .all(|w| !w.starts_with('-') && !w.eq_ignore_ascii_case("or"))
        })
    }

    /// A stable fingerprint of everything that selects and orders rows (not the page).
    pub fn fingerprint(&self) -> String {
        let mut canonical = String::new();
        let mut push = |k: &str, v: &str| {
            canonical.push_str(k);
            canonical.push('\u{1f}');
            canonical.push_str(v);
            canonical.push('\u{1e}');
        };
        push("q", self.q.as_deref().unwrap_or_default());
        push("category", self.category.as_deref().unwrap_or_default());
        push("brand", &self.brands.join(","));
        push(
            "min",
            &self.min_price.map(|v| v.to_string()).unwrap_or_default(),
        );
        push(
            "max",
            &self.max_price.map(|v| v.to_string()).unwrap_or_default(),
        );
        push(
            "currency",
            self.currency
                .as_ref()
                .map(Currency::as_str)
                .unwrap_or_default(),
        );
        for (k, v) in &self.attributes {
            push(&format!("attr.{k}"), v);
        }
        push("sort", self.sort.as_str());
        if self.status != StatusFilter::Active {
            // Public fingerprints (and so cached pages and cursors) stay as they were.
            push("status", self.status.as_str());
        }
        format!("{:016x}", fnv1a(canonical.as_bytes()))
    }

    /// The cache key of this page.
    pub fn cache_key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.fingerprint(),
            self.limit,
            self.raw_cursor.as_deref().unwrap_or("-")
        )
    }

    /// The cursor for the page that starts at `next`.
    pub fn encode_cursor(&self, next: Next) -> String {
        let body = CursorBody {
            f: self.fingerprint(),
            a: next.after,
            w: next.close_words,
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
    }

    fn decode_cursor(&self, raw: &str) -> Result<(After, bool), ApiError> {
        let invalid = || ApiError::bad_field("cursor", "is not a cursor this API issued");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if body.f != self.fingerprint() {
            return Err(ApiError::bad_field(
                "cursor",
                "belongs to a different query; repeat the same filters and sort as the first page",
            ));
        }
        let matches_sort = matches!(
            (self.sort, &body.a),
            (Sort::Newest, After::Newest { .. })
                | (Sort::PriceAsc | Sort::PriceDesc, After::Price { .. })
                | (Sort::Relevance, After::Relevance { .. })
        );
        if !matches_sort {
            return Err(invalid());
        }
        if let After::Relevance { rank, .. } = body.a
            && !rank.is_finite()
        {
            return Err(invalid());
        }
        Ok((body.a, body.w))
    }

    /// The search words (letters and digits, lower case) that close-word matching looks up,
    /// at most [`MAX_CLOSE_WORDS`]; empty unless this is a short query.
    pub fn close_word_terms(&self) -> Vec<String> {
        if !self.is_short_query() {
            return Vec::new();
        }
        let mut terms: Vec<String> = self
            .q
            .as_deref()
            .unwrap_or_default()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        terms.dedup();
        terms.truncate(MAX_CLOSE_WORDS);
        terms
    }
}

/// Query words close-word matching looks up at most.
pub const MAX_CLOSE_WORDS: usize = 6;

/// The `to_tsquery` texts of a search that tolerates typos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseWords {
    /// Every term as typed, as a prefix when it has at least three letters (someone still
    /// typing): ranks what starts with the typed words above what is merely close.
    pub typed: String,
    /// Every term (all of them, as the exact search does), each as typed or by one of its
    /// known close words: what the search matches.
    pub any: String,
}

/// The [`CloseWords`] of `terms`, each with its known close words. Terms and close words are
/// letters and digits only, so quoting each in `'...'` is all the escaping `to_tsquery`
/// needs; anything else is left out.
pub fn close_word_tsquery(terms: &[(String, Vec<String>)]) -> Option<CloseWords> {
    let quoted = |w: &str| -> Option<String> {
        (!w.is_empty() && w.chars().all(char::is_alphanumeric)).then(|| format!("'{w}'"))
    };
    let mut typed = Vec::new();
    let mut any = Vec::new();
    for (term, close) in terms {
        let Some(own) = quoted(term) else { continue };
        let own = if term.chars().count() >= 3 {
            format!("{own}:*")
        } else {
            own
        };
        let mut options = vec![own.clone()];
        options.extend(
            close
                .iter()
                .filter(|w| *w != term)
                .filter_map(|w| quoted(w)),
        );
        typed.push(own);
        any.push(format!("({})", options.join(" | ")));
    }
    (!any.is_empty()).then(|| CloseWords {
        typed: typed.join(" & "),
        any: any.join(" & "),
    })
}

fn parse_amount(field: &str, value: &str) -> Result<i64, ApiError> {
    let amount: i64 = value
        .parse()
        .map_err(|_| ApiError::bad_field(field, "must be a whole number of minor units (cents)"))?;
    if !(0..=MAX_AMOUNT).contains(&amount) {
        return Err(ApiError::bad_field(
            field,
            format!("must be from 0 to {MAX_AMOUNT}"),
        ));
    }
    Ok(amount)
}

/// FNV-1a, 64 bit: stable across processes and releases (unlike `DefaultHasher`), which cursors
/// and cache keys shared by several replicas need.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::BadRequest { errors, .. } => errors[0].field.clone(),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn defaults_depend_on_the_query() {
        assert_eq!(ListQuery::parse(None).unwrap().sort, Sort::Newest);
        let search = ListQuery::parse(Some("q=wireless+headphones")).unwrap();
        assert_eq!(search.sort, Sort::Relevance);
        assert_eq!(search.limit, DEFAULT_LIMIT);
        assert!(search.is_short_query());
        assert!(
            !ListQuery::parse(Some("q=headphones+-wired"))
                .unwrap()
                .is_short_query()
        );
        assert!(
            !ListQuery::parse(Some("q=%22desk+lamp%22"))
                .unwrap()
                .is_short_query()
        );
        assert!(
            !ListQuery::parse(Some("q=a+b+c+d"))
                .unwrap()
                .is_short_query()
        );
    }

    #[test]
    fn close_word_queries_keep_every_term_and_quote_only_plain_words() {
        let query = ListQuery::parse(Some("q=Hedphones+t-shirt")).unwrap();
        assert_eq!(query.close_word_terms(), ["hedphones", "t", "shirt"]);
        assert!(
            ListQuery::parse(Some("q=a+b+c+d"))
                .unwrap()
                .close_word_terms()
                .is_empty()
        );
        let terms = vec![
            ("hedphones".to_owned(), vec!["headphones".to_owned()]),
            ("tv".to_owned(), vec!["tv".to_owned()]),
            ("it's".to_owned(), vec![]),
        ];
        assert_eq!(
            close_word_tsquery(&terms).unwrap(),
            CloseWords {
                typed: "'hedphones':* & 'tv'".to_owned(),
                any: "('hedphones':* | 'headphones') & ('tv')".to_owned(),
            }
        );
        assert_eq!(close_word_tsquery(&[]), None);
    }

    #[test]
    fn a_cursor_keeps_whether_close_words_matched() {
        let query = ListQuery::parse(Some("q=kettel&limit=3")).unwrap();
        let after = After::Relevance {
            rank: 0.5,
            id: Uuid::nil(),
        };
        for close_words in [false, true] {
            let cursor = query.encode_cursor(Next { after, close_words });
            let next =
                ListQuery::parse(Some(&format!("q=kettel&limit=3&cursor={cursor}"))).unwrap();
            assert_eq!(next.after, Some(after));
            assert_eq!(next.close_words, close_words);
        }
    }

    #[test]
    fn bad_parameters_name_themselves() {
        assert_eq!(
            field_of(ListQuery::parse(Some("limit=0")).unwrap_err()),
            "limit"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("limit=101")).unwrap_err()),
            "limit"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("limit=abc")).unwrap_err()),
            "limit"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("min_price=-1")).unwrap_err()),
            "min_price"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("min_price=9&max_price=1")).unwrap_err()),
            "min_price"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("sort=cheap")).unwrap_err()),
            "sort"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("sort=relevance")).unwrap_err()),
            "sort"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("colour=red")).unwrap_err()),
            "colour"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("currency=EURO")).unwrap_err()),
            "currency"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("cursor=%%%")).unwrap_err()),
            "cursor"
        );
        assert_eq!(
            field_of(ListQuery::parse(Some("limit=1&limit=2")).unwrap_err()),
            "limit"
        );
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_query() {
        let first = ListQuery::parse(Some("sort=price_asc&brand=Acme")).unwrap();
        let after = After::Price {
            amount: 1999,
            id: Uuid::now_v7(),
        };
        let cursor = first.encode_cursor(Next {
            after,
            close_words: false,
        });
        let next =
            ListQuery::parse(Some(&format!("sort=price_asc&brand=acme&cursor={cursor}"))).unwrap();
        assert_eq!(next.after, Some(after));
        let other = ListQuery::parse(Some(&format!("sort=price_desc&brand=acme&cursor={cursor}")));
        assert_eq!(field_of(other.unwrap_err()), "cursor");
    }

    #[test]
    fn only_admins_filter_by_status_and_their_cursors_stay_theirs() {
        assert_eq!(
            field_of(ListQuery::parse(Some("status=inactive")).unwrap_err()),
            "status"
        );
        assert_eq!(ListQuery::parse(None).unwrap().status, StatusFilter::Active);
        let admin = ListQuery::parse_for(None, Audience::Admin).unwrap();
        assert_eq!(admin.status, StatusFilter::All);
        let inactive = ListQuery::parse_for(Some("status=inactive"), Audience::Admin).unwrap();
        assert_eq!(inactive.status, StatusFilter::Inactive);
        assert_eq!(
            field_of(ListQuery::parse_for(Some("status=gone"), Audience::Admin).unwrap_err()),
            "status"
        );
        // An admin's `status=active` lists what shoppers see, with the same fingerprint.
        let active = ListQuery::parse_for(Some("status=active"), Audience::Admin).unwrap();
        assert_eq!(
            active.fingerprint(),
            ListQuery::parse(None).unwrap().fingerprint()
        );
        // A cursor for all products does not continue a listing of inactive ones.
        let cursor = admin.encode_cursor(Next {
            after: After::Newest {
                created_at: time::OffsetDateTime::UNIX_EPOCH,
                id: Uuid::now_v7(),
            },
            close_words: false,
        });
        let other = ListQuery::parse_for(
            Some(&format!("status=inactive&cursor={cursor}")),
            Audience::Admin,
        );
        assert_eq!(field_of(other.unwrap_err()), "cursor");
    }

    #[test]
    fn attributes_and_repeated_brands_are_collected() {
        let q = ListQuery::parse(Some("attr.color=red&brand=b&brand=a,b")).unwrap();
        assert_eq!(q.attributes["color"], "red");
        assert_eq!(q.brands, ["a", "b"]);
    }
}
