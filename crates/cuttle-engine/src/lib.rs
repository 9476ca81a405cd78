//! Cuttle's migration engine (SPEC 5 and 6), generic over the declarations of `cuttle-domain`
//! and built on `cuttle-instance`'s validated write path:
//!
//! - export: one read snapshot to a deterministic directory tree, secrets re-encrypted under a
//!   password;
//! - closure: what a partial export of some projects must carry;
//! - read, upgrade, validate, plan, apply: an import, in one write transaction.
//!
//! The stages arrive with the export and import issues; this crate is their place in the
//! architecture.
