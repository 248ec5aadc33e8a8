//! Categories form a tree; products belong to one, and filtering by a category includes its
//! descendants.

use serde::{Deserialize, Serialize};
use service_kit::FieldError;
use utoipa::ToSchema;
use uuid::Uuid;

/// Whether `s` is a slug: lower-case ASCII words joined by single dashes, at most 64 characters.
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// A category as an admin creates it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    /// URL-safe identifier, e.g. `headphones`: lower-case words joined by `-`.
    #[schema(max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: String,
    /// Display name, 1 to 100 characters.
    #[schema(
        max_length = 100,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// Slug of the parent category, if any.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub parent: Option<String>,
}

impl CategoryInput {
    /// Checks the slug and name.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !is_valid_slug(&self.slug) {
            errors.push(FieldError::new(
                "slug",
                "must be lower-case words joined by '-', at most 64 characters",
            ));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "must be 1 to 100 characters"));
        }
        if self.parent.as_deref().is_some_and(|p| !is_valid_slug(p)) {
            errors.push(FieldError::new("parent", "must be a category slug"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A flat category row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRow {
    /// Id.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Parent id.
    pub parent_id: Option<Uuid>,
}

/// A category with its sub-categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryNode {
    /// Id.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Sub-categories, by name.
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

/// Builds the forest from flat rows (roots and children sorted by name).
pub fn build_tree(rows: &[CategoryRow]) -> Vec<CategoryNode> {
    fn children_of(rows: &[CategoryRow], parent: Option<Uuid>) -> Vec<CategoryNode> {
        let mut nodes: Vec<CategoryNode> = rows
            .iter()
            .filter(|r| r.parent_id == parent)
            .map(|r| CategoryNode {
                id: r.id,
                slug: r.slug.clone(),
                name: r.name.clone(),
                children: children_of(rows, Some(r.id)),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    }
    children_of(rows, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_valid_slug("audio"));
        assert!(is_valid_slug("over-ear-headphones"));
        assert!(!is_valid_slug("Audio"));
        assert!(!is_valid_slug("a--b"));
        assert!(!is_valid_slug("-a"));
        assert!(!is_valid_slug(""));
    }

    #[test]
    fn tree_nests_children_under_parents() {
        let root = Uuid::now_v7();
        let child = Uuid::now_v7();
        let rows = vec![
            CategoryRow {
                id: child,
                slug: "headphones".into(),
                name: "Headphones".into(),
                parent_id: Some(root),
            },
            CategoryRow {
                id: root,
                slug: "audio".into(),
                name: "Audio".into(),
                parent_id: None,
            },
        ];
        let tree = build_tree(&rows);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].children[0].slug, "headphones");
    }
}
