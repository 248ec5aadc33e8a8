//! The million-product catalog of `cargo xtask bench read`: the demo catalog grown to
//! [`MILLION`] products with `COPY` (over HTTP this would take the better part of an hour), the
//! way a DBA bulk-loads a table: the GIN indexes dropped first, built again after the load,
//! then fresh statistics. The products continue the demo sequence, so the first 10,000 are the
//! demo's and search terms that find products in the demo find them here too.
//!
//! Kept out of `cargo xtask test`: the load and the index builds take minutes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;
use sqlx::{Connection, PgConnection, Row};

use crate::demo::DemoProducts;
use crate::util::step;

/// Products the search bench runs over.
pub const MILLION: usize = 1_000_000;

/// Bytes sent to PostgreSQL per `COPY` chunk.
const CHUNK: usize = 1 << 20;

/// How the load went.
pub struct Grown {
    /// Products added.
    pub added: usize,
    /// Seconds of `COPY`.
    pub copy_s: f64,
    /// Seconds rebuilding the GIN indexes and analysing.
    pub index_s: f64,
}

/// Grows the catalog in `database_url` to `target` products.
pub async fn grow_catalog(database_url: &str, target: usize) -> anyhow::Result<Grown> {
    let mut db = PgConnection::connect(database_url)
        .await
        .context("connecting to the bench catalog")?;
    let existing: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(&mut db)
        .await?;
    let existing = usize::try_from(existing).unwrap_or(0);
    let categories: HashMap<String, uuid::Uuid> = sqlx::query("select slug, id from categories")
        .fetch_all(&mut db)
        .await?
        .into_iter()
        .map(|row| -> Result<(String, uuid::Uuid), sqlx::Error> {
            Ok((row.try_get("slug")?, row.try_get("id")?))
        })
        .collect::<Result<_, _>>()?;
    if existing >= target {
        return Ok(Grown {
            added: 0,
            copy_s: 0.0,
            index_s: 0.0,
        });
    }
    let add = target - existing;

    // Maintaining an inverted index row by row is what makes a bulk load slow: drop the GIN
    // indexes (keeping their exact definitions) and build each once at the end.
    let gin: Vec<(String, String)> = sqlx::query(
        "select indexname, indexdef from pg_indexes \
         where schemaname = current_schema() and tablename = 'products' \
         and indexdef ilike '% using gin %'",
    )
    .fetch_all(&mut db)
    .await?
    .into_iter()
    .map(|row| -> Result<(String, String), sqlx::Error> {
        Ok((row.try_get("indexname")?, row.try_get("indexdef")?))
    })
    .collect::<Result<_, _>>()?;
    for (name, _) in &gin {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop index \"{name}\"")))
            .execute(&mut db)
            .await?;
    }

    step(&format!(
        "COPY of {add} generated products into the bench catalog ({} GIN indexes dropped)",
        gin.len()
    ));
    let started = Instant::now();
    let mut copy = db
        .copy_in_raw(
            "copy products (id, sku, name, description, brand, category_id, price_amount, \
             currency, attributes, image_urls) from stdin",
        )
        .await?;
    let mut buffer = String::with_capacity(CHUNK + 4096);
    for product in DemoProducts::new().skip(existing).take(add) {
        let category = categories
            .get(product.category)
            .with_context(|| format!("category {} missing", product.category))?;
        let attributes = serde_json::to_string(&product.attributes)?;
        let _ = writeln!(
            buffer,
            "{}\t{}\t{}\t{}\t{}\t{category}\t{}\tEUR\t{}\t{{\"{}\"}}",
            uuid::Uuid::now_v7(),
            copy_text(&product.sku),
            copy_text(&product.name),
            copy_text(&product.description),
            copy_text(product.brand),
            product.price,
            copy_text(&attributes),
            copy_text(&product.image_url),
        );
        if buffer.len() >= CHUNK {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    let copied = copy.finish().await?;
    let copy_s = started.elapsed().as_secs_f64();
    println!("    {copied} rows in {copy_s:.1} s");

    step("building the GIN indexes again, then ANALYZE");
    let started = Instant::now();
    sqlx::raw_sql("set maintenance_work_mem = '1GB'")
        .execute(&mut db)
        .await?;
    for (name, definition) in &gin {
        let one = Instant::now();
        sqlx::raw_sql(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut db)
            .await
            .with_context(|| format!("rebuilding {name}"))?;
        println!("    {name} in {:.1} s", one.elapsed().as_secs_f64());
    }
    sqlx::raw_sql("analyze products").execute(&mut db).await?;
    let index_s = started.elapsed().as_secs_f64();
    db.close().await?;
    Ok(Grown {
        added: add,
        copy_s,
        index_s,
    })
}

/// A value in `COPY`'s text format: backslash, tab and line breaks escaped.
fn copy_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_read_as_structure() {
        assert_eq!(copy_text("a\tb\\c\nd\re"), "a\\tb\\\\c\\nd\\re");
        assert_eq!(copy_text("plain {\"json\": 1}"), "plain {\"json\": 1}");
    }

    #[test]
    fn products_after_the_demo_continue_its_numbering_and_categories() {
        let mut products = DemoProducts::new();
        let first = products.next().map(|p| p.sku);
        assert_eq!(first.as_deref(), Some("ELE-00001"));
        let after_demo = DemoProducts::new()
            .nth(crate::demo::DEMO_PRODUCTS)
            .context("the sequence is endless")
            .map(|p| p.sku);
        assert!(
            after_demo.as_ref().is_ok_and(|sku| sku.ends_with("-10001")),
            "{after_demo:?}"
        );
        let slugs: std::collections::HashSet<String> = crate::demo::DemoCatalog::categories()
            .into_iter()
            .map(|(slug, _, _)| slug)
            .collect();
        assert!(
            DemoProducts::new()
                .take(200)
                .all(|p| slugs.contains(p.category)),
            "every product's category exists"
        );
    }
}
