//! What the instance tests share: a real instance, written through the one write path.

use cuttle_domain::Collection;
use cuttle_instance::Instance;
use cuttle_instance::documents::{self, Incoming, WriteOptions};
use serde_json::Value;

/// Writes `doc` into `collection` of `instance`, in a transaction of its own.
pub fn put(
    instance: &mut Instance,
    collection: Collection,
    doc: Value,
) -> cuttle_instance::Result<()> {
    let (store, sealer) = instance.parts();
    let mut txn = store.write()?;
    let docs = [Incoming {
        collection,
        origin: "test".into(),
        json: doc.to_string(),
    }];
    documents::write_documents(
        &mut *txn,
        sealer,
        &docs[..],
        WriteOptions::default(),
        &mut |_| {},
    )?;
    txn.commit()?;
    Ok(())
}
