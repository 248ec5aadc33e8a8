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
use crate::domain::listing::{After, ListQuery, Sort, StatusFilter};
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
        let sql = format!(
            "select {PRODUCT_COLUMNS} from products p left join categories c on c.id = p.category_id \
             where p.id = $1 and {}",
            visibility.condition()
        );
        let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Product::from))
    }

    /// A live product by SKU.
    #[tracing::instrument(skip_all, fields(product.sku = %sku))]
    pub async fn product_by_sku(
        &self,
        sku: &str,
        visibility: Visibility,
    ) -> Result<Option<Product>, ApiError> {
        let sql = format!(
            "select {PRODUCT_COLUMNS} from products p left join categories c on c.id = p.category_id \
             where p.sku = $1 and {}",
            visibility.condition()
        );
        let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(sku)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Product::from))
    }

    /// One page of a listing or search, and the position after its last row when more follow.
    #[tracing::instrument(skip_all, fields(sort = ?query.sort, q = query.q.is_some()))]
    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<Product>, Option<After>), ApiError> {
        let mut sql = QueryBuilder::<Postgres>::new("select ");
        sql.push(PRODUCT_COLUMNS).push(", ");
        push_rank(&mut sql, query);
        sql.push(" as rank from products p left join categories c on c.id = p.category_id where ");
        sql.push(match query.status {
            StatusFilter::Active => Visibility::Public.condition(),
            StatusFilter::Inactive => "p.deleted_at is null and not p.active",
            StatusFilter::All => Visibility::Admin.condition(),
        });

        if let Some(q) = &query.q {
            sql.push(" and (p.search @@ websearch_to_tsquery('english', ")
                .push_bind(q.clone())
                .push(")");
            if query.is_short_query() {
                // Typo tolerance: `<%` is word similarity, served by the trigram index.
                sql.push(" or ").push_bind(q.clone()).push(" <% p.name");
            }
            sql.push(")");
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
                push_rank(&mut sql, query);
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
        let after = if more {
            rows.last().map(|last| match query.sort {
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
            })
        } else {
            None
        };
        Ok((
            rows.into_iter().map(|r| Product::from(r.product)).collect(),
            after,
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
fn push_rank(sql: &mut QueryBuilder<Postgres>, query: &ListQuery) {
    let Some(q) = &query.q else {
        sql.push("0::real");
        return;
    };
    sql.push(format_args!(
        "(ts_rank_cd({RANK_WEIGHTS}, p.search, websearch_to_tsquery('english', "
    ))
    .push_bind(q.clone())
    .push("))");
    if query.is_short_query() {
        sql.push(" + word_similarity(")
            .push_bind(q.clone())
            .push(", p.name)");
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
