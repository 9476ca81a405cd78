//! Cuttle's migration engine (SPEC 5 and 6), generic over the declarations of `cuttle-domain`
//! and built on `cuttle-instance`'s validated write path:
//!
//! - [`format`]: the export format (file names, manifest);
//! - [`layout`]: where each file of an export stands, and which files the format owns;
//! - [`archive`]: an export as one deterministic tar, and a tar read in place without trusting
//!   it;
//! - [`export`]: one read snapshot to a deterministic directory tree, secrets re-encrypted under
//!   a password;
//! - [`closure`]: what a partial export of some projects must carry;
//! - [`reader`]: an export (a directory, or an archive read in place) read back into documents,
//!   the import's first stage;
//! - [`import`]: the import's other stages: sources combined, upgraded, planned, applied;
//! - [`spool`]: byte strings kept in an anonymous temporary file instead of memory.

pub mod archive;
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
pub mod spool;
mod unnamed;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A request to stop a long piece of work before it commits, shared between the work and
/// whoever may ask for it to stop (a task's cancel). The default can never be cancelled.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Option<Arc<AtomicBool>>);

impl Cancel {
    /// One that [`Cancel::cancel`] can set.
    pub fn new() -> Cancel {
        Cancel(Some(Arc::new(AtomicBool::new(false))))
    }

    /// Asks the work to stop (it stops at its next check, and never after it committed).
    pub fn cancel(&self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::SeqCst);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }
}
