//! Cuttle's domain, declared once (SPEC 3).
//!
//! The bottom of the architecture: pure data. [`collections::COLLECTIONS`] holds one
//! [`decl::CollectionDecl`] per collection (natural key, references, sensitive fields, set-like
//! arrays, merge rule, shape); [`documents`] holds the typed documents that check shapes;
//! [`sensitive`] the self-describing sensitive values; [`names`] the rules for natural keys.

pub mod collections;
pub mod decl;
pub mod documents;
pub mod json;
pub mod names;
pub mod path;
pub mod sensitive;
pub mod shape;

pub use collections::COLLECTIONS;
pub use decl::{
    Collection, CollectionDecl, Ignorable, Layout, MergeRule, Owner, RefDecl, RefScope,
};
pub use path::JsonPath;
pub use shape::ShapeError;

/// The version of this domain: recorded by every instance and every export.
pub const DOMAIN_VERSION: u32 = 1;
