//! What the engine's tests share: an instance with the small sample, and documents written
//! through the validated write path (decrypting exported values with an export key).

#![allow(dead_code)]

use cuttle_crypto::export::ExportKey;
use cuttle_instance::documents::{self, Incoming, WriteOptions};
use cuttle_instance::{Home, Instance};

/// A new instance (embedded, or in the PostgreSQL `database`) with the small sample of seed 1.
pub fn sampled(home: &Home, name: &str, database: Option<&str>) -> Instance {
    let mut instance = Instance::create(home, name, database, None).unwrap();
    let mut docs = Vec::new();
    cuttle_sample::generate(cuttle_sample::Size::Small, 1, &mut |collection, value| {
        docs.push(Incoming {
            collection,
            origin: String::new(),
            json: value.to_string(),
        });
    });
    write(&mut instance, &docs, None).unwrap();
    instance
}

/// Writes `docs` in one transaction, values `{"encrypted": …}` opened with `key`.
pub fn write(
    instance: &mut Instance,
    docs: &[Incoming],
    key: Option<&ExportKey>,
) -> cuttle_instance::Result<()> {
    let decrypt = |text: &str| {
        key.unwrap()
            .decrypt(text)
            .map(|plain| zeroize::Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()))
            .map_err(|e| e.to_string())
    };
    let (store, sealer) = instance.parts();
    let mut txn = store.write()?;
    documents::write_documents(
        &mut *txn,
        sealer,
        docs,
        WriteOptions {
            decrypt: Some(&decrypt),
        },
        &mut |_| {},
    )?;
    txn.commit()?;
    Ok(())
}
