//! Cuttle's migration engine (SPEC 5 and 6), generic over the declarations of `cuttle-domain`
//! and built on `cuttle-instance`'s validated write path:
//!
//! - [`format`]: the export format (layout, file names, ownership, manifest);
//! - [`export`]: one read snapshot to a deterministic directory tree, secrets re-encrypted under
//!   a password;
//! - closure, and the import stages (read, upgrade, validate, plan, apply), arrive with their
//!   issues.

pub mod export;
pub mod format;
