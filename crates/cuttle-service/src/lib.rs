//! Cuttle's service layer: every operation a surface offers (the command line, the terminal
//! wizard, and the HTTP API and web pages that build on it), as a typed request in and a typed,
//! serialisable result or [`Error`] out.
//!
//! ```text
//!   surfaces      cuttle-cli (command line, wizard)        the server (HTTP API, web pages)
//!                   parse, prompt, authorise, render  │  │
//!   service       cuttle-service: requests ([`request`]) → results, errors with hints ([`error`])
//!   engine        cuttle-engine: export, closure, reader, upgrade, plan, apply, backup
//!   documents     cuttle-instance: registry, the validated write path, codec
//!   bottom        cuttle-domain (declarations)   cuttle-crypto   cuttle-store (trait)
//!   backends      cuttle-store-sqlite, cuttle-store-postgres: chosen once, by the binary
//!                 (cuttle-backends), and handed to the registry ([`cuttle_instance::Home`])
//! ```
//!
//! A surface parses what a person gave into a [`Request`] (or one of its parts), obtains what
//! only it can (a password typed at a prompt), calls the [`Service`], and renders the result or
//! the error in its own words: an error's [`Hint`](error::Hint) is data, which the command line
//! says with its options and a web page with its fields. A request also renders itself as the
//! `cuttle` command line that does the same ([`Request::command_line`]), which is how the wizard
//! (and later the web pages) show their script.
//!
//! Each request checks its own options ([`Request::check`]): what contradicts itself is a
//! [`ErrorKind::Usage`](error::ErrorKind::Usage) error, whichever surface it came from.

pub mod access;
pub mod audit;
pub mod error;
pub mod inspect;
pub mod keys;
pub mod plan;
pub mod request;
pub mod script;
pub mod tasks;

mod documents;
mod export;
mod gate;
mod import;
mod instances;
mod sample;

use cuttle_instance::{Home, Instance};

pub use access::{Access, Actor};
pub use documents::{DocumentInput, Fetched, Precondition, PutReport, Written, etag};
pub use error::{Error, ErrorKind, Hint, Result};
pub use import::{ImportControl, Imported, PlanFailure, PlanSummary, Preview};
pub use instances::InstanceListing;
pub use plan::SavedPlan;
pub use request::*;
pub use sample::SampleReport;

/// Progress: documents done out of a total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The operations, over the instances registered in a [`Home`].
#[derive(Clone, Debug)]
pub struct Service {
    home: Home,
    /// See [`Service::alone`].
    alone: bool,
}

impl Service {
    pub fn new(home: Home) -> Self {
        Service { home, alone: false }
    }

    /// The service of a process that writes each instance it opens alone (a command, not a
    /// server, whose other requests read alongside): an import may then hold the database for
    /// itself while it writes, which is faster ([`cuttle_store::Store::write_alone`]); anything
    /// else that opens the instance meanwhile waits for its commit.
    pub fn alone(self) -> Self {
        Service {
            alone: true,
            ..self
        }
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Opens a registered instance (checking its master key), for the operations on it.
    pub fn session(&self, name: &str) -> Result<Session> {
        Ok(Session {
            instance: Instance::open(&self.home, name)?,
            access: access::Cache::default(),
            alone: self.alone,
        })
    }
}

/// An open instance, and the operations on it. A request names its instance: a session runs
/// only requests for its own ([`ErrorKind::Usage`] otherwise).
#[derive(Debug)]
pub struct Session {
    instance: Instance,
    /// The instance's teams as grants, as of an access generation.
    access: access::Cache,
    /// Imports may hold the database alone ([`Service::alone`]).
    alone: bool,
}

impl Session {
    pub fn name(&self) -> &str {
        self.instance.name()
    }

    pub fn instance(&mut self) -> &mut Instance {
        &mut self.instance
    }

    /// Refuses a request for another instance.
    fn serves(&self, instance: &str) -> Result<()> {
        if instance == self.name() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the request is for instance {instance:?}, and this is instance {:?}",
                    self.name()
                ),
            ))
        }
    }
}
