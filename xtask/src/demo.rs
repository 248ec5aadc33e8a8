//! The demo catalog: a category tree and 10,000 realistic products, generated from a fixed seed
//! so every machine gets the same data (the same SKUs, names, prices), and search results and
//! benchmarks are comparable between runs.

use serde_json::{Value, json};

/// Products `cargo xtask up` and `bench` load.
pub const DEMO_PRODUCTS: usize = 10_000;

/// One department: its sub-categories with the product kinds they hold.
struct Department {
    slug: &'static str,
    name: &'static str,
    brands: &'static [&'static str],
    leaves: &'static [Leaf],
}

struct Leaf {
    slug: &'static str,
    name: &'static str,
    /// Product kind and its price range in cents.
    kinds: &'static [(&'static str, i64, i64)],
    /// Attribute name and its possible values.
    attributes: &'static [(&'static str, &'static [&'static str])],
}

const COLORS: &[&str] = &[
    "black", "white", "silver", "blue", "red", "green", "grey", "navy",
];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];

const DEPARTMENTS: &[Department] = &[
    Department {
        slug: "electronics",
        name: "Electronics",
        brands: &["Sonora", "Voltix", "Nimbus", "Kairo", "Lumetra", "Arcwave"],
        leaves: &[
            Leaf {
                slug: "headphones",
                name: "Headphones",
                kinds: &[
                    ("Wireless Headphones", 4900, 39900),
                    ("Noise Cancelling Headphones", 9900, 44900),
                    ("Earbuds", 1900, 24900),
                    ("Studio Headphones", 7900, 29900),
                ],
                attributes: &[
                    ("color", COLORS),
                    ("connectivity", &["bluetooth", "wired", "usb-c"]),
                ],
            },
            Leaf {
                slug: "speakers",
                name: "Speakers",
                kinds: &[
                    ("Bluetooth Speaker", 2900, 29900),
                    ("Soundbar", 9900, 89900),
                    ("Smart Speaker", 4900, 19900),
                    ("Bookshelf Speakers", 12900, 69900),
                ],
                attributes: &[
                    ("color", COLORS),
                    ("connectivity", &["bluetooth", "wifi", "wired"]),
                ],
            },
            Leaf {
                slug: "laptops",
                name: "Laptops",
                kinds: &[
                    ("Ultrabook", 79900, 249900),
                    ("Gaming Laptop", 99900, 329900),
                    ("Chromebook", 24900, 59900),
                ],
                attributes: &[
                    ("memory", &["8GB", "16GB", "32GB"]),
                    ("storage", &["256GB", "512GB", "1TB"]),
                ],
            },
            Leaf {
                slug: "phones",
                name: "Phones",
                kinds: &[
                    ("Smartphone", 19900, 149900),
                    ("Phone Case", 990, 4990),
                    ("Fast Charger", 1490, 5990),
                ],
                attributes: &[("color", COLORS), ("storage", &["64GB", "128GB", "256GB"])],
            },
            Leaf {
                slug: "cameras",
                name: "Cameras",
                kinds: &[
                    ("Mirrorless Camera", 59900, 279900),
                    ("Action Camera", 14900, 49900),
                    ("Camera Lens", 19900, 159900),
                ],
                attributes: &[
                    ("color", &["black", "silver"]),
                    ("mount", &["E", "RF", "Z", "X"]),
                ],
            },
            Leaf {
                slug: "wearables",
                name: "Wearables",
                kinds: &[
                    ("Smartwatch", 9900, 79900),
                    ("Fitness Tracker", 2900, 14900),
                ],
                attributes: &[("color", COLORS), ("size", &["38mm", "42mm", "46mm"])],
            },
        ],
    },
    Department {
        slug: "home-kitchen",
        name: "Home & Kitchen",
        brands: &[
            "Hearthly",
            "Casa Nova",
            "Kiln & Co",
            "Norrland",
            "Ferro",
            "Brightwick",
        ],
        leaves: &[
            Leaf {
                slug: "cookware",
                name: "Cookware",
                kinds: &[
                    ("Cast Iron Skillet", 2490, 8990),
                    ("Nonstick Frying Pan", 1990, 6990),
                    ("Dutch Oven", 4990, 29900),
                    ("Chef Knife", 2990, 19900),
                ],
                attributes: &[
                    (
                        "material",
                        &["cast iron", "stainless steel", "aluminium", "carbon steel"],
                    ),
                    ("color", COLORS),
                ],
            },
            Leaf {
                slug: "small-appliances",
                name: "Small Appliances",
                kinds: &[
                    ("Espresso Machine", 9900, 129900),
                    ("Electric Kettle", 2490, 12900),
                    ("Blender", 3990, 49900),
                    ("Toaster", 2490, 14900),
                    ("Air Fryer", 5990, 24900),
                ],
                attributes: &[
                    ("color", COLORS),
                    ("wattage", &["800", "1200", "1500", "2000"]),
                ],
            },
            Leaf {
                slug: "furniture",
                name: "Furniture",
                kinds: &[
                    ("Oak Dining Table", 39900, 189900),
                    ("Lounge Chair", 19900, 99900),
                    ("Bookcase", 9900, 49900),
                    ("Standing Desk", 29900, 89900),
                ],
                attributes: &[
                    ("material", &["oak", "walnut", "pine", "steel"]),
                    ("color", &["natural", "black", "white"]),
                ],
            },
            Leaf {
                slug: "lighting",
                name: "Lighting",
                kinds: &[
                    ("Desk Lamp", 1990, 14900),
                    ("Floor Lamp", 4990, 39900),
                    ("Pendant Light", 3990, 29900),
                    ("LED Strip", 990, 4990),
                ],
                attributes: &[
                    ("color", COLORS),
                    ("bulb", &["E27", "GU10", "integrated LED"]),
                ],
            },
            Leaf {
                slug: "bedding",
                name: "Bedding",
                kinds: &[
                    ("Linen Duvet Cover", 4990, 19900),
                    ("Down Pillow", 2490, 9900),
                    ("Cotton Sheet Set", 3990, 14900),
                ],
                attributes: &[
                    ("size", &["single", "double", "queen", "king"]),
                    ("color", COLORS),
                ],
            },
        ],
    },
    Department {
        slug: "fashion",
        name: "Fashion",
        brands: &[
            "Atelier North",
            "Brume",
            "Cordell",
            "Velda",
            "Outpost",
            "Maren",
        ],
        leaves: &[
            Leaf {
                slug: "mens-clothing",
                name: "Men's Clothing",
                kinds: &[
                    ("Merino Sweater", 4990, 14900),
                    ("Denim Jacket", 5990, 17900),
                    ("Oxford Shirt", 2990, 8990),
                    ("Chino Trousers", 3990, 9990),
                ],
                attributes: &[("size", SIZES), ("color", COLORS)],
            },
            Leaf {
                slug: "womens-clothing",
                name: "Women's Clothing",
                kinds: &[
                    ("Wrap Dress", 4990, 15900),
                    ("Wool Coat", 12900, 39900),
                    ("Silk Blouse", 3990, 12900),
                    ("Knit Cardigan", 3990, 11900),
                ],
                attributes: &[("size", SIZES), ("color", COLORS)],
            },
            Leaf {
                slug: "shoes",
                name: "Shoes",
                kinds: &[
                    ("Running Shoes", 5990, 19900),
                    ("Leather Boots", 9900, 29900),
                    ("Canvas Sneakers", 3990, 9990),
                ],
                attributes: &[
                    ("size", &["38", "39", "40", "41", "42", "43", "44", "45"]),
                    ("color", COLORS),
                ],
            },
            Leaf {
                slug: "bags",
                name: "Bags",
                kinds: &[
                    ("Leather Backpack", 7990, 29900),
                    ("Tote Bag", 2490, 12900),
                    ("Weekender Duffel", 6990, 24900),
                ],
                attributes: &[
                    ("material", &["leather", "canvas", "nylon"]),
                    ("color", COLORS),
                ],
            },
            Leaf {
                slug: "accessories",
                name: "Accessories",
                kinds: &[
                    ("Leather Belt", 1990, 7990),
                    ("Wool Scarf", 1990, 8990),
                    ("Sunglasses", 2990, 19900),
                ],
                attributes: &[("color", COLORS)],
            },
        ],
    },
    Department {
        slug: "sports-outdoors",
        name: "Sports & Outdoors",
        brands: &[
            "Summitline",
            "Trailforge",
            "Pacer",
            "Northwind",
            "Riva",
            "Basecamp",
        ],
        leaves: &[
            Leaf {
                slug: "fitness",
                name: "Fitness",
                kinds: &[
                    ("Yoga Mat", 1990, 8990),
                    ("Adjustable Dumbbells", 9900, 49900),
                    ("Resistance Bands", 990, 3990),
                    ("Kettlebell", 2490, 9990),
                ],
                attributes: &[
                    ("color", COLORS),
                    ("weight", &["4kg", "8kg", "12kg", "16kg", "24kg"]),
                ],
            },
            Leaf {
                slug: "cycling",
                name: "Cycling",
                kinds: &[
                    ("Road Bike", 79900, 399900),
                    ("Bike Helmet", 3990, 24900),
                    ("Bike Light Set", 1990, 8990),
                ],
                attributes: &[("size", SIZES), ("color", COLORS)],
            },
            Leaf {
                slug: "camping",
                name: "Camping",
                kinds: &[
                    ("Two Person Tent", 9900, 49900),
                    ("Sleeping Bag", 4990, 34900),
                    ("Camping Stove", 2990, 14900),
                    ("Headlamp", 1490, 6990),
                ],
                attributes: &[("season", &["3-season", "4-season"]), ("color", COLORS)],
            },
            Leaf {
                slug: "running",
                name: "Running",
                kinds: &[
                    ("Trail Running Shoes", 7990, 19900),
                    ("Running Vest", 4990, 14900),
                    ("GPS Running Watch", 14900, 59900),
                ],
                attributes: &[("size", SIZES), ("color", COLORS)],
            },
        ],
    },
    Department {
        slug: "books-media",
        name: "Books & Media",
        brands: &["Quire Press", "Longshelf", "Harbor House", "Inkwell"],
        leaves: &[
            Leaf {
                slug: "fiction",
                name: "Fiction",
                kinds: &[
                    ("Hardcover Novel", 1490, 3490),
                    ("Paperback Novel", 799, 1999),
                    ("Short Story Collection", 999, 2499),
                ],
                attributes: &[
                    ("format", &["hardcover", "paperback", "ebook"]),
                    ("language", &["en", "de", "fr", "es"]),
                ],
            },
            Leaf {
                slug: "cookbooks",
                name: "Cookbooks",
                kinds: &[
                    ("Baking Cookbook", 1990, 4490),
                    ("Vegetarian Cookbook", 1790, 3990),
                ],
                attributes: &[
                    ("format", &["hardcover", "paperback"]),
                    ("language", &["en", "de", "fr"]),
                ],
            },
            Leaf {
                slug: "vinyl",
                name: "Vinyl Records",
                kinds: &[
                    ("Jazz Vinyl Record", 1990, 4990),
                    ("Classical Vinyl Record", 1990, 4490),
                ],
                attributes: &[("speed", &["33", "45"])],
            },
        ],
    },
];

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Pro",
    "Essential",
    "Compact",
    "Premium",
    "Everyday",
    "Lightweight",
    "Heritage",
    "Advanced",
    "Urban",
    "Signature",
    "Eco",
];
const SERIES: &[&str] = &[
    "Aria", "Nova", "Terra", "Luna", "Atlas", "Vista", "Orion", "Echo", "Zephyr", "Halo",
];
const QUALITIES: &[&str] = &[
    "durable",
    "sustainably made",
    "easy to care for",
    "designed to last",
    "ergonomic",
    "award-winning",
    "handcrafted",
    "energy efficient",
    "travel friendly",
    "quiet",
];

/// SplitMix64: tiny, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = u64::try_from(high - low + 1).unwrap_or(1);
        low + i64::try_from(self.next() % span).unwrap_or(0)
    }
}

/// One generated product.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoProduct {
    /// `ELE-00001`, ... (the position in the sequence, from 1).
    pub sku: String,
    /// Brand, series, adjective, kind and model number.
    pub name: String,
    /// One sentence naming the series, kind, brand, two qualities and the category.
    pub description: String,
    /// The brand.
    pub brand: &'static str,
    /// The leaf category's slug.
    pub category: &'static str,
    /// Price in euro cents.
    pub price: i64,
    /// The leaf's attributes with one value each.
    pub attributes: serde_json::Map<String, Value>,
    /// One image URL.
    pub image_url: String,
}

impl DemoProduct {
    /// The body the admin API takes.
    pub fn to_json(&self) -> Value {
        json!({
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "brand": self.brand,
            "category": self.category,
            "price": {"amount": self.price, "currency": "EUR"},
            "attributes": self.attributes,
            "image_urls": [self.image_url],
            "active": true,
        })
    }
}

/// The demo products in order, from the fixed seed: the first `n` are the same whatever is
/// taken after them, so a million-product bench catalog starts with the 10,000 of the demo.
pub struct DemoProducts {
    rng: Rng,
    leaves: Vec<(&'static Department, &'static Leaf)>,
    next: usize,
}

impl DemoProducts {
    /// The sequence from its first product.
    pub fn new() -> Self {
        let leaves = DEPARTMENTS
            .iter()
            .flat_map(|department| department.leaves.iter().map(move |leaf| (department, leaf)))
            .collect();
        Self {
            rng: Rng(0x5eed_0f4e_7a11),
            leaves,
            next: 0,
        }
    }
}

impl Default for DemoProducts {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for DemoProducts {
    type Item = DemoProduct;

    fn next(&mut self) -> Option<DemoProduct> {
        let i = self.next;
        self.next += 1;
        let rng = &mut self.rng;
        let (department, leaf) = self.leaves[i % self.leaves.len()];
        let (kind, low, high) = *rng.pick(leaf.kinds);
        let brand = *rng.pick(department.brands);
        let adjective = *rng.pick(ADJECTIVES);
        let series = *rng.pick(SERIES);
        let model = 100 + rng.below(900);
        // Prices end in 9 or 0, like shop prices do.
        let price = (rng.between(low, high) / 10) * 10 + if rng.below(2) == 0 { 9 } else { 0 };
        let mut attributes = serde_json::Map::new();
        for (name, values) in leaf.attributes {
            attributes.insert((*name).to_owned(), json!(rng.pick(values)));
        }
        let quality = rng.pick(QUALITIES);
        let sku = format!("{}-{:05}", department.slug[..3].to_ascii_uppercase(), i + 1);
        Some(DemoProduct {
            name: format!("{brand} {series} {adjective} {kind} {model}"),
            description: format!(
                "The {series} {kind} {model} by {brand}: {quality} and {second}. Part of our {leaf} range in {dept}.",
                second = rng.pick(QUALITIES),
                leaf = leaf.name.to_lowercase(),
                dept = department.name,
            ),
            brand,
            category: leaf.slug,
            price,
            attributes,
            image_url: format!(
                "https://images.retail-platform.example/products/{}.jpg",
                sku.to_lowercase()
            ),
            sku,
        })
    }
}

/// The generated catalog.
pub struct DemoCatalog {
    /// (slug, name, parent slug) in creation order: parents first.
    pub categories: Vec<(String, String, Option<String>)>,
    /// Product bodies as the admin API takes them.
    pub products: Vec<Value>,
}

impl DemoCatalog {
    /// `count` products spread over every leaf category.
    pub fn generate(count: usize) -> Self {
        let categories = Self::categories();
        let products = DemoProducts::new()
            .take(count)
            .map(|p| p.to_json())
            .collect();
        Self {
            categories,
            products,
        }
    }

    /// (slug, name, parent slug) of every category, parents first.
    pub fn categories() -> Vec<(String, String, Option<String>)> {
        let mut categories = Vec::new();
        for department in DEPARTMENTS {
            categories.push((department.slug.to_owned(), department.name.to_owned(), None));
            for leaf in department.leaves {
                categories.push((
                    leaf.slug.to_owned(),
                    leaf.name.to_owned(),
                    Some(department.slug.to_owned()),
                ));
            }
        }
        categories
    }

    /// The catalog as one JSON document.
    pub fn to_json(&self) -> Value {
        let categories: Vec<Value> = self
            .categories
            .iter()
            .map(|(slug, name, parent)| json!({"slug": slug, "name": name, "parent": parent}))
            .collect();
        json!({"categories": categories, "products": self.products})
    }

    /// Words shoppers would search for: product kinds, brands, and a few typos.
    pub fn search_terms() -> Vec<String> {
        let mut terms = Vec::new();
        for department in DEPARTMENTS {
            for brand in department.brands {
                terms.push((*brand).to_owned());
            }
            for leaf in department.leaves {
                for (kind, _, _) in leaf.kinds {
                    terms.push((*kind).to_lowercase());
                    if let Some(last) = kind.split_whitespace().last() {
                        terms.push(last.to_lowercase());
                        // A typo: drop the third letter ("headphones" -> "hedphones").
                        let typo: String = last
                            .chars()
                            .enumerate()
                            .filter(|(i, _)| *i != 2)
                            .map(|(_, c)| c)
                            .collect();
                        terms.push(typo.to_lowercase());
                    }
                }
            }
        }
        terms.sort();
        terms.dedup();
        terms
    }
}

/// Loads the demo catalog through the catalog's admin API (idempotent: import upserts by SKU).
pub async fn load(client: &reqwest::Client, catalog_url: &str, count: usize) -> anyhow::Result<()> {
    let catalog = DemoCatalog::generate(count);
    for (slug, name, parent) in &catalog.categories {
        let response = admin(client.post(format!("{catalog_url}/admin/categories")))
            .json(&json!({"slug": slug, "name": name, "parent": parent}))
            .send()
            .await?;
        let status = response.status();
        if !(status.is_success() || status == reqwest::StatusCode::CONFLICT) {
            anyhow::bail!(
                "creating category {slug}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    for chunk in catalog.products.chunks(1000) {
        let response = admin(client.post(format!("{catalog_url}/admin/products/import")))
            .json(&json!({"products": chunk}))
            .send()
            .await?;
        let status = response.status();
        let report: Value = response.json().await?;
        if !status.is_success() || report["failed"].as_u64() != Some(0) {
            anyhow::bail!("importing demo products: {status} {report}");
        }
    }
    Ok(())
}

/// Counts deterministic stock for every demo product (0 to 120 units; some sold out) through
/// the inventory admin API.
pub async fn load_stock(
    client: &reqwest::Client,
    inventory_url: &str,
    count: usize,
) -> anyhow::Result<()> {
    let catalog = DemoCatalog::generate(count);
    let items: Vec<Value> = catalog
        .products
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"sku": p["sku"], "on_hand": (i * 37) % 121}))
        .collect();
    for chunk in items.chunks(5000) {
        let response = admin(client.post(format!("{inventory_url}/admin/inventory")))
            .json(&json!({"reason": "demo stock", "items": chunk}))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!(
                "loading demo stock: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// The demo administrator (for the admin dashboard at `/admin`).
pub const ADMIN_EMAIL: &str = "admin@retail-platform.dev";
/// The demo administrator's password (local development only).
pub const ADMIN_PASSWORD: &str = "demo-admin-password";

/// Registers the demo administrator through the users service (idempotent) and grants it the
/// `admin` role in the users database (there is no API that makes admins).
pub async fn load_admin(client: &reqwest::Client, users_url: &str) -> anyhow::Result<()> {
    let response = client
        .post(format!("{users_url}/auth/register"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "name": "Demo Admin"}))
        .send()
        .await?;
    let status = response.status();
    if !(status.is_success() || status == reqwest::StatusCode::CONFLICT) {
        anyhow::bail!(
            "registering the demo admin: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
    crate::infra::psql(
        "users",
        &format!("update users set roles = '{{admin,shopper}}' where email = '{ADMIN_EMAIL}'"),
    )?;
    Ok(())
}

/// The identity headers the gateway would set for an administrator.
pub fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("x-auth-subject", "xtask")
        .header("x-auth-roles", "admin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_deterministic_and_valid_looking() {
        let a = DemoCatalog::generate(500);
        let b = DemoCatalog::generate(500);
        assert_eq!(a.products, b.products);
        let skus: std::collections::HashSet<_> = a
            .products
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(skus.len(), 500);
        assert!(
            a.products
                .iter()
                .all(|p| p["price"]["amount"].as_i64().unwrap() > 0)
        );
        assert!(a.categories.len() > 25);
        assert!(DemoCatalog::search_terms().contains(&"hedphones".to_owned()));
    }
}
