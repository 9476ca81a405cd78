//! Cuttle instances: where they are registered, how they are opened with their master key, and
//! the one validated path by which documents are written and shown.
//!
//! - [`home`]: the registry under `CUTTLE_HOME`.
//! - [`files`]: bounded reads of the files Cuttle is given, and the private files it keeps.
//! - [`instance`]: create, open (checking the master key), delete.
//! - [`codec`]: export shape ↔ stored shape, driven by the declarations.
//! - [`documents`]: the validated write path (shape, unique natural key, every reference
//!   resolvable, secrets sealed) and the reads that show documents.

pub mod addresses;
pub mod codec;
pub mod documents;
pub mod error;
pub mod files;
pub mod hashed;
pub mod home;
pub mod instance;
pub mod large;
pub mod parallel;

pub use documents::{Address, Incoming, WriteOptions, WriteReport};
pub use error::{Error, Problem, Problems, Result};
pub use home::{Backend, Backends, Home, Registration};
pub use instance::Instance;
