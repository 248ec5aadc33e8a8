//! SQL for products and categories. Runtime-checked queries, each covered by the integration
//! tests; every read of the public catalog filters out deleted and inactive products.

use serde_json::{Map, Value};
use service_kit::{ApiError, FieldError};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row as _, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::category::{CategoryInput, CategoryRow};
use crate::domain::listing::{
    After, CloseWords, ListQuery, Next, Sort, StatusFilter, close_word_tsquery,
};
use crate::domain::product::{Price, Product, ProductDraft};

const PRODUCT_COLUMNS: &str = "p.id, p.sku, p.name, p.description, p.brand, c.slug as category, \
     p.price_amount, p.currency, p.attributes, p.image_urls, p.active, p.version, \
     p.created_at, p.updated_at";

/// Rank weights for D, C, B, A: name (A) outranks brand (B) outranks description (C).
const RANK_WEIGHTS: &str = "'{0.05, 0.2, 0.4, 1.0}'";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    sku: String,
    name: String,
    description: String,
    brand: Option<String>,
    category: Option<String>,
    price_amount: i64,
    currency: String,
    attributes: Json<Map<String, Value>>,
    image_urls: Vec<String>,
    active: bool,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Self {
            id: row.id,
            sku: row.sku,
            name: row.name,
            description: row.description,
            brand: row.brand,
            category: row.category,
            price: Price {
                amount: row.price_amount,
                currency: row.currency.trim().to_owned(),
            },
            attributes: row.attributes.0,
            image_urls: row.image_urls,
            active: row.active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Matches ranked for relevance at most: beyond a common word's first 500 matches a
/// search ranks no further (see `Store::list_matching`). Over the million-product bench
/// catalog the first page's ranks were those of a full ranking for every word sampled, and
/// 500 rather than 1,000 halved the slowest searches (short typos, for which PostgreSQL reads
/// the table until it has found the window).
const RANK_WINDOW: i64 = 500;

/// Known words close to one query word that a search also tries.
const CLOSE_WORDS_PER_TERM: i64 = 3;

/// How a search matches text: the query's own words, or those and their close words.
#[derive(Debug, Clone, Copy)]
struct TextMatch<'a> {
    /// The query as typed.
    q: &'a str,
    /// The query words or their close words.
    close: Option<&'a CloseWords>,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    product: ProductRow,
    rank: f32,
}

/// Who is reading: shoppers see only live, active products; admins also inactive ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Active and not deleted.
    Public,
    /// Not deleted.
    Admin,
}

impl Visibility {
    fn condition(self) -> &'static str {
        match self {
            Self::Public => "p.deleted_at is null and p.active",
            Self::Admin => "p.deleted_at is null",
        }
    }
}

/// Outcome of a bulk import.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Products created.
    pub created: usize,
    /// Existing products (same SKU) replaced.
    pub updated: usize,
    /// Rows refused.
    pub failed: usize,
    /// Why each refused row was refused.
    pub errors: Vec<ImportRowError>,
}

/// A refused import row.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// Position in the request's `products` array.
    pub index: usize,
    /// The row's SKU as sent, if any.
    pub sku: Option<String>,
    /// What is wrong, by field.
    pub errors: Vec<FieldError>,
}

/// The catalog's tables.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool (readiness checks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A product by id.
    #[tracing::instrument(skip_all, fields(product.id = %id))]
    pub async fn product_by_id(
        &self,
        id: Uuid,
        visibility: Visibility,
    ) -> Result<Option<Product>, ApiError> {
        self.product_where("p.id", id, visibility).await
    }

    /// A live product by SKU.
    #[tracing::instrument(skip_all, fields(product.sku = %sku))]
    pub async fn product_by_sku(
        &self,
        sku: &str,
        visibility: Visibility,
    ) -> Result<Option<Product>, ApiError> {
        self.product_where("p.sku", sku, visibility).await
    }

    /// The product whose `column` (a fixed column name, never input) equals `value`.
    async fn product_where<'v, T>(
        &self,
        column: &'static str,
        value: T,
        visibility: Visibility,
    ) -> Result<Option<Product>, ApiError>
    where
        T: sqlx::Encode<'v, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'v,
    {
        let sql = format!(
            "select {PRODUCT_COLUMNS} from products p left join categories c on c.id = p.category_id \
             where {column} = $1 and {}",
            visibility.condition()
        );
        let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Product::from))
    }

    /// One page of a listing or search, and where the next page starts when more follow.
    ///
    /// A search matches the query's words exactly (full text, stemmed). When a short query's
    /// exact words fill less than the first page, the page is searched again with the known
    /// words close to each query word (typos, a word still being typed), and the cursor keeps
    /// that choice for the pages after it.
    #[tracing::instrument(skip_all, fields(sort = ?query.sort, q = query.q.is_some()))]
    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<Product>, Option<Next>), ApiError> {
        let Some(q) = query.q.as_deref() else {
            return self.list_matching(query, None).await;
        };
        if !query.close_words {
            let exact = self
                .list_matching(query, Some(TextMatch { q, close: None }))
                .await?;
            let page_filled = exact.0.len() >= query.limit as usize;
            if query.after.is_some() || page_filled || !query.is_short_query() {
                return Ok(exact);
            }
        }
        // No words to look up (only punctuation) leaves the exact search.
        let close = self.close_words(query).await?;
        self.list_matching(
            query,
            Some(TextMatch {
                q,
                close: close.as_ref(),
            }),
        )
        .await
    }

    /// The query words and the known words close to each (see `search_words` in the
    /// migrations); `None` when the query has no words to look up.
    async fn close_words(&self, query: &ListQuery) -> Result<Option<CloseWords>, ApiError> {
        let terms = query.close_word_terms();
        if terms.is_empty() {
            return Ok(None);
        }
        // `<%` is word similarity above `pg_trgm.word_similarity_threshold` (set on the pool),
        // served by the lexicon's trigram index.
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "select q.ord, s.word from unnest($1::text[]) with ordinality as q(term, ord) \
             cross join lateral (select word from search_words where q.term <% word \
             order by word_similarity(q.term, word) desc, similarity(q.term, word) desc, word \
             limit $2) s",
        )
        .bind(&terms)
        .bind(CLOSE_WORDS_PER_TERM)
        .fetch_all(&self.pool)
        .await?;
        let mut close: Vec<(String, Vec<String>)> =
            terms.into_iter().map(|t| (t, Vec::new())).collect();
        for (ord, word) in rows {
            let slot = usize::try_from(ord - 1).ok().and_then(|i| close.get_mut(i));
            if let Some((_, words)) = slot {
                words.push(word);
            }
        }
        Ok(close_word_tsquery(&close))
    }

    async fn list_matching(
        &self,
        query: &ListQuery,
        text: Option<TextMatch<'_>>,
    ) -> Result<(Vec<Product>, Option<Next>), ApiError> {
        // Ranking reads every matching row's tsvector: over a million products a common word
        // matches tens of thousands. Relevance is ranked within the first RANK_WINDOW matches
        // the index finds, which bounds the work.
        let windowed = text.is_some() && query.sort == Sort::Relevance;
        let mut sql = QueryBuilder::<Postgres>::new("select ");
        sql.push(PRODUCT_COLUMNS).push(", ");
        push_rank(&mut sql, text);
        sql.push(" as rank from ");
        if windowed {
            sql.push("(select * from products p where ");
        } else {
            sql.push("products p left join categories c on c.id = p.category_id where ");
        }
        sql.push(match query.status {
            StatusFilter::Active => Visibility::Public.condition(),
            StatusFilter::Inactive => "p.deleted_at is null and not p.active",
            StatusFilter::All => Visibility::Admin.condition(),
        });
        match text {
            Some(TextMatch { q, close: None }) => {
                sql.push(" and p.search @@ websearch_to_tsquery('english', ")
                    .push_bind(q.to_owned())
                    .push(")");
            }
            Some(TextMatch {
                close: Some(close), ..
            }) => {
                sql.push(" and p.search @@ to_tsquery('english', ")
                    .push_bind(close.any.clone())
                    .push(")");
            }
            None => {}
        }
        if let Some(category) = &query.category {
            sql.push(
                " and p.category_id in (with recursive tree as (\
                 select id from categories where slug = ",
            )
            .push_bind(category.clone())
            .push(
                " union all select child.id from categories child join tree on child.parent_id = tree.id\
                 ) select id from tree)",
            );
        }
        if !query.brands.is_empty() {
            sql.push(" and lower(p.brand) = any(")
                .push_bind(query.brands.clone())
                .push(")");
        }
        if let Some(min) = query.min_price {
            sql.push(" and p.price_amount >= ").push_bind(min);
        }
        if let Some(max) = query.max_price {
            sql.push(" and p.price_amount <= ").push_bind(max);
        }
        if let Some(currency) = &query.currency {
            sql.push(" and p.currency = ")
                .push_bind(currency.as_str().to_owned());
        }
        for (name, value) in &query.attributes {
            sql.push(" and p.attributes ->> ")
                .push_bind(name.clone())
                .push(" = ")
                .push_bind(value.clone());
        }
        if windowed {
            sql.push(" limit ")
                .push_bind(RANK_WINDOW)
                .push(") p left join categories c on c.id = p.category_id where true");
        }
        match query.after {
            Some(After::Newest { created_at, id }) => {
                sql.push(" and (p.created_at, p.id) < (")
                    .push_bind(created_at)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            Some(After::Price { amount, id }) => {
                let op = if query.sort == Sort::PriceDesc {
                    "<"
                } else {
                    ">"
                };
                sql.push(format_args!(" and (p.price_amount, p.id) {op} ("))
                    .push_bind(amount)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            Some(After::Relevance { rank, id }) => {
                sql.push(" and (");
                push_rank(&mut sql, text);
                sql.push(", p.id) < (")
                    .push_bind(rank)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            None => {}
        }
        sql.push(match query.sort {
            Sort::Newest => " order by p.created_at desc, p.id desc",
            Sort::PriceAsc => " order by p.price_amount asc, p.id asc",
            Sort::PriceDesc => " order by p.price_amount desc, p.id desc",
            Sort::Relevance => " order by rank desc, p.id desc",
        });
        sql.push(" limit ").push_bind(i64::from(query.limit) + 1);

        let mut rows: Vec<ListedRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let next = if more {
            rows.last().map(|last| Next {
                after: match query.sort {
                    Sort::Newest => After::Newest {
                        created_at: last.product.created_at,
                        id: last.product.id,
                    },
                    Sort::PriceAsc | Sort::PriceDesc => After::Price {
                        amount: last.product.price_amount,
                        id: last.product.id,
                    },
                    Sort::Relevance => After::Relevance {
                        rank: last.rank,
                        id: last.product.id,
                    },
                },
                close_words: text.is_some_and(|t| t.close.is_some()),
            })
        } else {
            None
        };
        Ok((
            rows.into_iter().map(|r| Product::from(r.product)).collect(),
            next,
        ))
    }

    /// Creates a product.
    #[tracing::instrument(skip_all, fields(product.sku = %draft.sku))]
    pub async fn create(&self, draft: &ProductDraft) -> Result<Product, ApiError> {
        let mut tx = self.pool.begin().await?;
        let category_id = category_id(&mut tx, draft.category.as_deref()).await?;
        let id = Uuid::now_v7();
        bind_product(
            sqlx::query(
                "insert into products (id, sku, name, description, brand, category_id, price_amount, \
                 currency, attributes, image_urls, active) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            ),
            id,
            draft,
            category_id,
        )
        .execute(&mut *tx)
        .await
        .map_err(sku_conflict)?;
        let product = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(product)
    }

    /// Replaces a product if it is still at `expected_version`; returns the new state and the
    /// SKU it had before (its cache entries must go).
    #[tracing::instrument(skip_all, fields(product.id = %id))]
    pub async fn update(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        draft: &ProductDraft,
    ) -> Result<(Product, String), ApiError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<(i64, String)> = sqlx::query_as(
            "select version, sku from products where id = $1 and deleted_at is null for update",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((version, old_sku)) = current else {
            return Err(ApiError::NotFound(format!("no product with id {id}")));
        };
        if let Some(expected) = expected_version.filter(|expected| *expected != version) {
            return Err(ApiError::PreconditionFailed(format!(
                "the product is at version {version}, not {expected}; read it again and reapply the change"
            )));
        }
        let category_id = category_id(&mut tx, draft.category.as_deref()).await?;
        bind_product(
            sqlx::query(
                "update products set sku = $2, name = $3, description = $4, brand = $5, \
                 category_id = $6, price_amount = $7, currency = $8, attributes = $9, \
                 image_urls = $10, active = $11, version = version + 1, updated_at = now() \
                 where id = $1",
            ),
            id,
            draft,
            category_id,
        )
        .execute(&mut *tx)
        .await
        .map_err(sku_conflict)?;
        let product = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok((product, old_sku))
    }

    /// Soft-deletes a product (checking `expected_version` when given); returns its SKU.
    #[tracing::instrument(skip_all, fields(product.id = %id))]
    pub async fn delete(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<String, ApiError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<(i64, String)> = sqlx::query_as(
            "select version, sku from products where id = $1 and deleted_at is null for update",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((version, sku)) = current else {
            return Err(ApiError::NotFound(format!("no product with id {id}")));
        };
        if expected_version.is_some_and(|expected| expected != version) {
            return Err(ApiError::PreconditionFailed(format!(
                "the product is at version {version}"
            )));
        }
        sqlx::query(
            "update products set deleted_at = now(), active = false, version = version + 1, \
             updated_at = now() where id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(sku)
    }

    /// Creates or replaces (by SKU) every valid row in one transaction; returns the ids written.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    pub async fn import(
        &self,
        rows: &[(usize, ProductDraft)],
        report: &mut ImportReport,
    ) -> Result<Vec<Uuid>, ApiError> {
        let mut written = Vec::with_capacity(rows.len());
        let mut tx = self.pool.begin().await?;
        let slugs: Vec<String> = rows
            .iter()
            .filter_map(|(_, d)| d.category.clone())
            .collect();
        let known: Vec<(String, Uuid)> =
            sqlx::query_as("select slug, id from categories where slug = any($1)")
                .bind(&slugs)
                .fetch_all(&mut *tx)
                .await?;
        let known: std::collections::HashMap<String, Uuid> = known.into_iter().collect();
        for (index, draft) in rows {
            let category_id = match &draft.category {
                Some(slug) => match known.get(slug) {
                    Some(id) => Some(*id),
                    None => {
                        report.failed += 1;
                        report.errors.push(ImportRowError {
                            index: *index,
                            sku: Some(draft.sku.to_string()),
                            errors: vec![FieldError::new(
                                "category",
                                format!("no category `{slug}`"),
                            )],
                        });
                        continue;
                    }
                },
                None => None,
            };
            let row = bind_product(sqlx::query(
                "insert into products (id, sku, name, description, brand, category_id, price_amount, \
                 currency, attributes, image_urls, active) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 on conflict (sku) where deleted_at is null do update set \
                 name = excluded.name, description = excluded.description, brand = excluded.brand, \
                 category_id = excluded.category_id, price_amount = excluded.price_amount, \
                 currency = excluded.currency, attributes = excluded.attributes, \
                 image_urls = excluded.image_urls, active = excluded.active, \
                 version = products.version + 1, updated_at = now() \
                 returning id, (xmax = 0)",
            ), Uuid::now_v7(), draft, category_id)
            .fetch_one(&mut *tx)
            .await?;
            let (id, inserted): (Uuid, bool) = (row.try_get(0)?, row.try_get(1)?);
            written.push(id);
            if inserted {
                report.created += 1;
            } else {
                report.updated += 1;
            }
        }
        tx.commit().await?;
        // A bulk load changes the data's shape; fresh statistics keep the planner on the search
        // indexes instead of waiting for autovacuum's next round.
        sqlx::query("analyze products").execute(&self.pool).await?;
        Ok(written)
    }

    /// Every category, flat.
    pub async fn categories(&self) -> Result<Vec<CategoryRow>, ApiError> {
        let rows: Vec<(Uuid, String, String, Option<Uuid>)> =
            sqlx::query_as("select id, slug, name, parent_id from categories order by name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, slug, name, parent_id)| CategoryRow {
                id,
                slug,
                name,
                parent_id,
            })
            .collect())
    }

    /// Creates a category under its parent.
    pub async fn create_category(&self, input: &CategoryInput) -> Result<CategoryRow, ApiError> {
        let mut tx = self.pool.begin().await?;
        let parent_id = match &input.parent {
            Some(parent) => Some(
                category_id(&mut tx, Some(parent))
                    .await
                    .map_err(|_| {
                        ApiError::invalid_field("parent", format!("no category `{parent}`"))
                    })?
                    .ok_or_else(|| ApiError::invalid_field("parent", "no such category"))?,
            ),
            None => None,
        };
        let id = Uuid::now_v7();
        let name = input.name.trim().to_owned();
        sqlx::query("insert into categories (id, slug, name, parent_id) values ($1, $2, $3, $4)")
            .bind(id)
            .bind(&input.slug)
            .bind(&name)
            .bind(parent_id)
            .execute(&mut *tx)
            .await
            .map_err(|err| match ApiError::from(err) {
                ApiError::Conflict(_) => {
                    ApiError::Conflict(format!("a category `{}` exists", input.slug))
                }
                other => other,
            })?;
        tx.commit().await?;
        Ok(CategoryRow {
            id,
            slug: input.slug.clone(),
            name,
            parent_id,
        })
    }
}

/// The rank expression; constant zero without a search query so every listing has a `rank`.
/// With close words, a product that has the exact words, or words that start as typed, ranks
/// above one that has only close ones.
fn push_rank(sql: &mut QueryBuilder<Postgres>, text: Option<TextMatch<'_>>) {
    let Some(text) = text else {
        sql.push("0::real");
        return;
    };
    sql.push(format_args!(
        "(ts_rank_cd({RANK_WEIGHTS}, p.search, websearch_to_tsquery('english', "
    ))
    .push_bind(text.q.to_owned())
    .push("))");
    if let Some(close) = text.close {
        for tsquery in [&close.typed, &close.any] {
            sql.push(format_args!(
                " + ts_rank_cd({RANK_WEIGHTS}, p.search, to_tsquery('english', "
            ))
            .push_bind(tsquery.clone())
            .push("))");
        }
    }
    sql.push(")::real");
}

async fn category_id(
    tx: &mut Transaction<'_, Postgres>,
    slug: Option<&str>,
) -> Result<Option<Uuid>, ApiError> {
    let Some(slug) = slug else { return Ok(None) };
    let id: Option<Uuid> = sqlx::query_scalar("select id from categories where slug = $1")
        .bind(slug)
        .fetch_optional(&mut **tx)
        .await?;
    id.map(Some)
        .ok_or_else(|| ApiError::invalid_field("category", format!("no category `{slug}`")))
}

async fn fetch_in(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Product, ApiError> {
    let sql = format!(
        "select {PRODUCT_COLUMNS} from products p left join categories c on c.id = p.category_id where p.id = $1"
    );
    let row: ProductRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.into())
}

/// Binds `$1` = id and `$2..$11` = the draft's columns, the order every product write uses.
fn bind_product<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    id: Uuid,
    draft: &'q ProductDraft,
    category_id: Option<Uuid>,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    query
        .bind(id)
        .bind(draft.sku.as_str())
        .bind(&draft.name)
        .bind(&draft.description)
        .bind(&draft.brand)
        .bind(category_id)
        .bind(draft.price.amount())
        .bind(draft.price.currency().as_str())
        .bind(Json(&draft.attributes))
        .bind(&draft.image_urls)
        .bind(draft.active)
}

fn sku_conflict(err: sqlx::Error) -> ApiError {
    match ApiError::from(err) {
        ApiError::Conflict(_) => ApiError::Conflict("a live product with this SKU exists".into()),
        other => other,
    }
}
