//! Cuttle's migration engine (SPEC 5 and 6), generic over the declarations of `cuttle-domain`
//! and built on `cuttle-instance`'s validated write path:
//!
//! - [`format`]: the export format (file names, manifest);
//! - [`layout`]: where each file of an export stands, and which files the format owns;
//! - [`export`]: one read snapshot to a deterministic directory tree, secrets re-encrypted under
//!   a password;
//! - [`closure`]: what a partial export of some projects must carry;
//! - [`reader`]: an export directory read back into documents (the import's first stage); the
//!   other import stages (upgrade, validate, plan, apply) arrive with their issue.

pub mod backup;
pub mod closure;
pub mod export;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod import;
pub mod jsonpos;
pub mod layout;
pub mod reader;
