//! Cuttle's domain, declared once (SPEC 3).
//!
//! The bottom of the architecture: pure data. [`collections::COLLECTIONS`] holds one
//! [`decl::CollectionDecl`] per collection (natural key, references, sensitive fields, set-like
//! arrays, merge rule, shape); [`documents`] holds the typed documents that check shapes;
//! [`sensitive`] the self-describing sensitive values; [`names`] the rules for natural keys.
//!
//! # Adding a collection
//!
//! 1. **Its typed shape**, in [`documents`]: a `serde` struct (camelCase, `deny_unknown_fields`)
//!    that implements [`shape::Document`] (with `check` for what a type alone cannot say).
//! 2. **Its declaration**, in [`collections::COLLECTIONS`], in dependency order: its
//!    [`Collection`] variant, names (`name`, `singular`, `about`) and `shape`, then only what
//!    differs from [`CollectionDecl::DEFAULT`]: its natural key, owner and [`Layout`], the fields
//!    that refer to other documents ([`RefDecl`]), where sensitive values stand, keyed arrays and
//!    sets, its [`MergeRule`] (and the arrays an overwrite merges), scripts, whether it is
//!    history, which `--ignore-*` kind leaves it out of a partial export, what in it grants
//!    access, and its large array ([`decl::Elements`]: the top-level keyed array that a large
//!    document is processed by, an element at a time, with the element's typed shape). The engine, the plan, the closure, the export layout and the command line's
//!    collection arguments read these; none of them names a collection where a declaration can
//!    say it.
//! 3. **Its sample data**, in `cuttle-sample`, so that every test and benchmark meets it (and
//!    every sensitive value it may hold, spelt `sample-secret-…`).
//! 4. **An upgrade step**, in `cuttle-engine`'s import upgrade chain, with a committed fixture of
//!    the format version before it, since an older export lacks the collection (and a new
//!    format version in `cuttle-engine::format`).

pub mod access;
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
