//! `cuttle sample`: realistic data into an instance, refused where documents already are unless
//! asked to overwrite.

use std::time::{Duration, Instant};

use cuttle_instance::documents::{self, Incoming, WriteOptions, WriteReport};
use cuttle_store::ReadTxn;
use serde::Serialize;

use crate::Session;
use crate::access::Access;
use crate::audit::{Audit, Outcome};
use crate::error::{Error, ErrorKind, Hint, Result};
use crate::request::Sample;
use cuttle_domain::access::Permission;

/// What a sample wrote.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleReport {
    #[serde(skip)]
    pub written: WriteReport,
    pub documents: u64,
    #[serde(skip)]
    pub generating: Duration,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Session {
    /// Fills the instance with the sample; for whoever may do everything (the host's
    /// administrator, a system administrator). Recorded in the audit log.
    pub fn sample(&mut self, request: &Sample, access: &Access) -> Result<SampleReport> {
        self.serves(&request.instance)?;
        access.require(
            Permission::AdministerSystem,
            "fill the instance with the sample",
        )?;
        if !request.overwrite {
            // Before the sample is made (a large one takes a while).
            refuse_populated(&mut *self.instance.store().read()?, &request.instance)?;
        }
        let started = Instant::now();
        let mut docs = Vec::new();
        cuttle_sample::generate(
            request.size.generator(),
            request.seed,
            &mut |collection, value| {
                docs.push(Incoming {
                    collection,
                    origin: String::new(),
                    json: value.to_string(),
                });
            },
        );
        let generating = started.elapsed();
        let (store, sealer) = self.instance.parts();
        let mut txn = store.write()?;
        // Checked again in the transaction that writes: no writer can fill the instance in
        // between.
        if !request.overwrite {
            refuse_populated(&mut *txn, &request.instance)?;
        }
        let written = documents::write_documents(
            &mut *txn,
            sealer,
            docs.as_slice(),
            WriteOptions::default(),
            &mut |_| {},
        )?;
        Audit::new(access.actor(), "sample", Outcome::Succeeded).write(&mut *txn)?;
        txn.commit()?;
        Ok(SampleReport {
            written,
            documents: docs.len() as u64,
            generating,
            elapsed: started.elapsed(),
        })
    }
}

/// A sample goes into an instance that holds documents only when asked to overwrite.
fn refuse_populated<T: ReadTxn + ?Sized>(txn: &mut T, instance: &str) -> Result<()> {
    let mut held = 0;
    for decl in cuttle_domain::COLLECTIONS {
        held += txn.count(decl.collection)?;
    }
    if held > 0 {
        return Err(Error::new(
            ErrorKind::Populated,
            format!(
                "instance {instance:?} already holds {held} document{}, and the sample would replace those that have its names: \
                 nothing was changed",
                if held == 1 { "" } else { "s" }
            ),
        )
        .with_hint(Some(Hint::SampleOverwrite)));
    }
    Ok(())
}
