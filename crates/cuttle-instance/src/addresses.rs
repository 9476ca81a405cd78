//! Many documents' addresses, held compactly for rendering without reading.
//!
//! Rendering a document in the export shape turns every id it holds into a name, so an export
//! (or a backup being imported) first gathers the address (collection, owner, stored key) of
//! every document something may refer to: hundreds of thousands on a large instance. A hash map
//! of owned keys costs about a hundred bytes for each; an [`AddressBook`] holds each in one
//! 32-byte entry, with every key in one shared text, and [sealed](AddressBook::seal) into a
//! [`SealedBook`] sorted by id, which finds them.

use cuttle_domain::{COLLECTIONS, Collection};
use cuttle_store::{DocId, StoreError};

/// Addresses being gathered: fill it with [`push`](AddressBook::push), then
/// [`seal`](AddressBook::seal) it into a [`SealedBook`] that finds them.
#[derive(Default)]
pub struct AddressBook {
    entries: Vec<Entry>,
    /// Every entry's key, one after the other.
    keys: String,
}

/// Addresses by id, sorted: what [`AddressBook::seal`] makes.
#[derive(Default)]
pub struct SealedBook {
    /// Sorted by id, each id once.
    entries: Vec<Entry>,
    keys: String,
    /// Where the ids are dense (a database's ids mostly are): for each id from the first, one
    /// more than the place of its entry, or 0. A lookup is then one read where a binary search
    /// over hundreds of thousands of entries was some twenty, each likely a cache miss; a
    /// rendering looks up every id that a document holds.
    slots: Vec<u32>,
}

/// The ids that [`SealedBook::slots`] covers at most, per entry: beyond, the ids are sparse and
/// the entries are searched.
const SLOTS_PER_ENTRY: usize = 4;

/// One address; its key is `keys[key_start..key_start + key_len]`.
struct Entry {
    id: DocId,
    owner: DocId,
    key_start: usize,
    key_len: u32,
    collection: Collection,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl AddressBook {
    /// An empty book with room for `documents` entries.
    pub fn with_capacity(documents: usize) -> Self {
        AddressBook {
            entries: Vec::with_capacity(documents),
            ..AddressBook::default()
        }
    }

    /// Adds an address. An id given twice is refused by [`seal`](AddressBook::seal).
    pub fn push(
        &mut self,
        collection: Collection,
        id: DocId,
        owner: DocId,
        key: &str,
    ) -> Result<(), StoreError> {
        let key_len = u32::try_from(key.len()).map_err(|_| {
            StoreError::Corrupt(format!(
                "the stored key of document {id} is {} bytes long",
                key.len()
            ))
        })?;
        self.entries.push(Entry {
            id,
            owner,
            key_start: self.keys.len(),
            key_len,
            collection,
        });
        self.keys.push_str(key);
        Ok(())
    }

    /// The entries sorted for lookups. An id given to two addresses is returned as the error.
    pub fn seal(mut self) -> Result<SealedBook, DocId> {
        self.entries.sort_unstable_by_key(|entry| entry.id);
        if let Some(pair) = self.entries.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(pair[0].id);
        }
        let slots = slots(&self.entries);
        Ok(SealedBook {
            entries: self.entries,
            keys: self.keys,
            slots,
        })
    }
}

impl SealedBook {
    /// The address of document `id`: its collection, owner and stored key; `None` for an id the
    /// book does not hold.
    pub fn get(&self, id: DocId) -> Option<(Collection, DocId, &str)> {
        let at = match self.slots.is_empty() {
            true => self
                .entries
                .binary_search_by_key(&id, |entry| entry.id)
                .ok()?,
            false => {
                let slot = id.checked_sub(self.entries[0].id)?;
                (*self.slots.get(usize::try_from(slot).ok()?)? as usize).checked_sub(1)?
            }
        };
        let entry = &self.entries[at];
        let key = &self.keys[entry.key_start..entry.key_start + entry.key_len as usize];
        Some((entry.collection, entry.owner, key))
    }

    /// How many addresses it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// [`SealedBook::slots`] of `entries` (sorted by id, each once), or none where their ids are
/// sparse.
fn slots(entries: &[Entry]) -> Vec<u32> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Vec::new();
    };
    let span = last
        .id
        .checked_sub(first.id)
        .and_then(|span| usize::try_from(span).ok());
    let Some(span) = span.filter(|&span| span < entries.len().saturating_mul(SLOTS_PER_ENTRY))
    else {
        return Vec::new();
    };
    let Ok(len) = u32::try_from(entries.len()) else {
        return Vec::new();
    };
    let mut slots = vec![0; span + 1];
    for (at, entry) in (1..=len).zip(entries) {
        slots[(entry.id - first.id) as usize] = at;
    }
    slots
}

/// Whether a rendering may need the name of a document of `collection`: some reference targets
/// the collection, or it is the projects', which own documents. Closed under keys: a document
/// whose key holds a reference needs that one's name too, and it is among the targets of that
/// document's own references. Documents of the other collections (task logs among them) are
/// never named by another, and make a large share of an instance.
pub fn may_be_named(collection: Collection) -> bool {
    collection == Collection::Projects
        || COLLECTIONS
            .iter()
            .any(|decl| decl.refs.iter().any(|r| r.target == collection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_pushed_once_sealed() {
        let mut book = AddressBook::with_capacity(3);
        book.push(Collection::Projects, 30, 0, "Web").unwrap();
        book.push(Collection::Channels, 7, 30, "Default").unwrap();
        book.push(Collection::Environments, 12, 0, "").unwrap();
        let book = book.seal().unwrap();
        assert_eq!(book.len(), 3);
        assert_eq!(book.get(7), Some((Collection::Channels, 30, "Default")));
        assert_eq!(book.get(30), Some((Collection::Projects, 0, "Web")));
        assert_eq!(book.get(12), Some((Collection::Environments, 0, "")));
        assert_eq!(book.get(8), None);
    }

    /// Dense ids are found by their slot, sparse ones by a search: the same answers.
    #[test]
    fn finds_dense_and_sparse_ids_alike() {
        for step in [1, 3, 1_000_000_007] {
            let mut book = AddressBook::default();
            let ids: Vec<DocId> = (0..500).map(|n| -40 + n * step).collect();
            for &id in ids.iter().rev() {
                book.push(Collection::Environments, id, 0, &format!("e{id}"))
                    .unwrap();
            }
            let book = book.seal().unwrap();
            assert_eq!(book.slots.is_empty(), step > 3, "step {step}");
            for &id in &ids {
                let key = format!("e{id}");
                assert_eq!(
                    book.get(id),
                    Some((Collection::Environments, 0, key.as_str()))
                );
            }
            for missing in [ids[0] - 1, ids[1] - 1, ids[499] + 1, DocId::MIN, DocId::MAX] {
                if !ids.contains(&missing) {
                    assert_eq!(book.get(missing), None, "{missing}");
                }
            }
        }
        assert_eq!(SealedBook::default().get(1), None);
    }

    #[test]
    fn refuses_an_id_given_twice() {
        let mut book = AddressBook::default();
        book.push(Collection::Projects, 5, 0, "A").unwrap();
        book.push(Collection::Projects, 9, 0, "B").unwrap();
        book.push(Collection::Feeds, 5, 0, "C").unwrap();
        assert_eq!(book.seal().err(), Some(5));
    }

    #[test]
    fn task_logs_are_never_named_and_projects_are() {
        assert!(!may_be_named(Collection::TaskLogs));
        assert!(may_be_named(Collection::Projects));
        assert!(
            may_be_named(Collection::Deployments),
            "a task log names its deployment"
        );
        assert!(may_be_named(Collection::Environments));
    }
}
