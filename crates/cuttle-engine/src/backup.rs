//! Instance backups (SPEC 7).
