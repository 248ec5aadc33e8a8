//! The route table: which public path prefix goes to which upstream path, who may call it and
//! which rate-limit class it belongs to.

use serde::Deserialize;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone.
    Public,
    /// Any signed-in user (shoppers and admins).
    Shopper,
    /// Signed-in users with the `admin` role.
    Admin,
}

/// Rate-limit class of a route (signed-in callers use `authenticated` unless the route names a
/// stricter class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateClass {
    /// The caller's default quota.
    Default,
    /// Login and registration.
    Auth,
    /// Checkout.
    Checkout,
}

/// One route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Public path prefix (matches itself and anything below it).
    pub prefix: String,
    /// Upstream name (a key of `upstreams`).
    pub upstream: String,
    /// The upstream path the prefix maps to.
    pub target: String,
    /// Who may call it.
    pub access: Access,
    /// Rate-limit class.
    #[serde(default = "default_class")]
    pub rate_class: RateClass,
}

fn default_class() -> RateClass {
    RateClass::Default
}

/// Parses and checks a route table against the known upstreams.
pub fn parse(json: &str, upstreams: &[&str]) -> anyhow::Result<Vec<Route>> {
    let routes: Vec<Route> = serde_json::from_str(json)?;
    for route in &routes {
        if !route.prefix.starts_with('/') || !route.target.starts_with('/') {
            anyhow::bail!(
                "route {}: prefix and target must start with '/'",
                route.prefix
            );
        }
        if !upstreams.contains(&route.upstream.as_str()) {
            anyhow::bail!(
                "route {}: unknown upstream `{}`",
                route.prefix,
                route.upstream
            );
        }
    }
    Ok(routes)
}

impl Route {
    /// The upstream path for a public path under this route's prefix.
    pub fn upstream_path(&self, public_path: &str) -> String {
        let rest = public_path.strip_prefix(&self.prefix).unwrap_or_default();
        format!("{}{rest}", self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_parses_and_maps_paths() {
        let routes = parse(
            crate::config::DEFAULT_ROUTES,
            &[
                "catalog",
                "users",
                "inventory",
                "orders",
                "payments",
                "bridge",
                "webhooks",
            ],
        )
        .unwrap();
        let products = routes
            .iter()
            .find(|r| r.prefix == "/api/v1/products")
            .unwrap();
        assert_eq!(
            products.upstream_path("/api/v1/products/by-sku/X-1"),
            "/products/by-sku/X-1"
        );
        assert_eq!(products.upstream_path("/api/v1/products"), "/products");
        let login = routes
            .iter()
            .find(|r| r.prefix == "/api/v1/auth/login")
            .unwrap();
        assert_eq!(login.rate_class, RateClass::Auth);
        assert!(parse(crate::config::DEFAULT_ROUTES, &["catalog"]).is_err());
    }
}
