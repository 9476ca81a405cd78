//! The paths of an archive being read, and what stands at each.
//!
//! An archive may hold hundreds of thousands of files, whose paths share most of their bytes
//! with their neighbours in the byte order an export writes them in
//! (`projects/<project>/releases/<release>/task-logs/…`): the large sample's 460,125 paths are
//! 49 MB of text. So each path is kept as the number of bytes it shares with the path before it
//! and the rest (front coding), and every [`BLOCK`]th path whole: any path is rebuilt from at
//! most `BLOCK` pieces, and a binary search runs over whole paths.
//!
//! Only the archive's entries are kept (its files, and the folders it has an entry for). The
//! folders that only the paths of their files make are found from those paths once the entries
//! are sorted; while the archive is read, they are known by a table of hashes alone, pointing into
//! the paths that make them.

use std::cell::RefCell;
use std::hash::BuildHasher;

use hashbrown::HashTable;

/// What stands at a path of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Node {
    /// A file, and where its bytes stand in the archive's data.
    File { at: u64, size: u64 },
    /// A folder the archive has an entry for.
    Folder,
    /// A folder that only its files' paths make.
    Implied,
}

/// One path in this many is kept whole.
const BLOCK: usize = 16;

/// The longest path an archive may hold, in bytes: Linux's `PATH_MAX`. An export's paths are a
/// few hundred bytes at most (a stem is at most 43 characters).
pub(super) const MAX_PATH: usize = 4096;

/// A path as kept: where the rest of it ends in [`Paths::rest`], and how many bytes it shares
/// with the path before it (none for the first of a block).
#[derive(Clone, Copy, Debug)]
struct Piece {
    end: u32,
    shared: u16,
}

/// A [`Node`] as kept: where a file's bytes stand and how many they are, in twelve bytes where a
/// `Node` takes twenty-four (an archive may hold hundreds of thousands). A folder is an `at`
/// that no file's bytes start at.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Kept {
    at: u64,
    size: u32,
}

impl Kept {
    const FOLDER: u64 = u64::MAX;
    const IMPLIED: u64 = u64::MAX - 1;

    /// `None` for a file of 4 GiB or more, which no index holds.
    fn of(node: Node) -> Option<Kept> {
        Some(match node {
            Node::File { at, size } => Kept {
                at: (at < Kept::IMPLIED).then_some(at)?,
                size: u32::try_from(size).ok()?,
            },
            Node::Folder => Kept {
                at: Kept::FOLDER,
                size: 0,
            },
            Node::Implied => Kept {
                at: Kept::IMPLIED,
                size: 0,
            },
        })
    }

    fn node(self) -> Node {
        match self.at {
            Kept::FOLDER => Node::Folder,
            Kept::IMPLIED => Node::Implied,
            at => Node::File {
                at,
                size: u64::from(self.size),
            },
        }
    }
}

/// The entries of an archive (the paths and what stands there), front-coded, sorted by the bytes
/// of their paths once [`Index::finish`] has made them.
#[derive(Default)]
pub(super) struct Paths {
    /// The rest of each path (what it does not share with the path before it), one after another.
    rest: String,
    pieces: Vec<Piece>,
    nodes: Vec<Kept>,
}

/// More paths, or more of their text, than an index can hold (4 GiB), or a file of 4 GiB or
/// more: more than any archive within the limits holds.
#[derive(Debug)]
pub(super) struct Full;

impl Paths {
    pub(super) fn len(&self) -> usize {
        self.pieces.len()
    }

    /// What stands at the path at `at`.
    pub(super) fn node(&self, at: usize) -> Node {
        self.nodes[at].node()
    }

    /// Adds `path`, which comes after `previous` (the path added last, or `""`).
    fn push(&mut self, previous: &str, path: &str, node: Node) -> Result<(), Full> {
        let shared = if self.len().is_multiple_of(BLOCK) {
            0
        } else {
            shared_prefix(previous, path)
        };
        let end = u32::try_from(self.rest.len() + path.len() - shared).map_err(|_| Full)?;
        let shared = u16::try_from(shared).map_err(|_| Full)?;
        if self.len() >= u32::MAX as usize {
            return Err(Full);
        }
        let node = Kept::of(node).ok_or(Full)?;
        self.rest.push_str(&path[usize::from(shared)..]);
        self.pieces.push(Piece { end, shared });
        self.nodes.push(node);
        Ok(())
    }

    /// The rest of the path at `at` (the whole path for the first of a block).
    fn rest_of(&self, at: usize) -> &str {
        let start = at
            .checked_sub(1)
            .map_or(0, |before| self.pieces[before].end);
        &self.rest[start as usize..self.pieces[at].end as usize]
    }

    /// Puts together the paths in turn, rebuilding each from the pieces before it in its block.
    pub(super) fn cursor(&self) -> Cursor<'_> {
        Cursor {
            paths: self,
            at: None,
            path: String::new(),
        }
    }

    /// The first position whose path does not satisfy `before` (which holds for a prefix of the
    /// sorted paths).
    pub(super) fn partition_point(&self, before: impl Fn(&str) -> bool) -> usize {
        // The blocks whose first path (kept whole) is before.
        let (mut low, mut high) = (0, self.len().div_ceil(BLOCK));
        while low < high {
            let mid = low + (high - low) / 2;
            if before(self.rest_of(mid * BLOCK)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        let Some(block) = low.checked_sub(1) else {
            return 0;
        };
        // The point is in the last of them, after its first path.
        let (start, end) = (block * BLOCK, ((block + 1) * BLOCK).min(self.len()));
        let mut cursor = self.cursor();
        (start + 1..end)
            .find(|&at| !before(cursor.path(at)))
            .unwrap_or(end)
    }

    /// What stands at `path`: an entry of the archive, or a folder that the paths of the entries
    /// below it make.
    pub(super) fn find(&self, path: &str) -> Option<Node> {
        let mut cursor = self.cursor();
        let at = self.partition_point(|p| p < path);
        if at < self.len() && cursor.path(at) == path {
            return Some(self.node(at));
        }
        let folder = format!("{path}/");
        let at = self.partition_point(|p| p < folder.as_str());
        (!path.is_empty() && at < self.len() && cursor.path(at).starts_with(&folder))
            .then_some(Node::Implied)
    }

    /// The same entries sorted by the bytes of their paths.
    fn sorted(self) -> Result<Paths, Full> {
        // Every path whole, once, to sort by.
        let mut text = String::with_capacity(self.rest.len());
        let mut ends = Vec::with_capacity(self.len());
        let mut cursor = self.cursor();
        for at in 0..self.len() {
            text.push_str(cursor.path(at));
            ends.push(text.len());
        }
        let whole = |at: usize| &text[at.checked_sub(1).map_or(0, |b| ends[b])..ends[at]];
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by(|&a, &b| whole(a).cmp(whole(b)));
        let mut sorted = Paths::default();
        let mut previous = "";
        for at in order {
            sorted.push(previous, whole(at), self.node(at))?;
            previous = whole(at);
        }
        Ok(sorted)
    }
}

/// Rebuilds the paths of [`Paths`] one at a time, cheaply in order.
pub(super) struct Cursor<'a> {
    paths: &'a Paths,
    /// Which path `path` is.
    at: Option<usize>,
    path: String,
}

impl Cursor<'_> {
    /// The path at `at`.
    pub(super) fn path(&mut self, at: usize) -> &str {
        let block = at - at % BLOCK;
        // From the path it holds when that is before `at` in its block, else from the block's
        // first.
        let from = match self.at {
            Some(held) if held <= at && held >= block => held + 1,
            _ => block,
        };
        for piece in from..=at {
            self.path
                .truncate(usize::from(self.paths.pieces[piece].shared));
            self.path.push_str(self.paths.rest_of(piece));
        }
        self.at = Some(at);
        &self.path
    }
}

/// How many bytes `path` shares with `previous` from its start, up to a character's boundary.
fn shared_prefix(previous: &str, path: &str) -> usize {
    let mut shared = previous
        .bytes()
        .zip(path.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !path.is_char_boundary(shared) {
        shared -= 1;
    }
    shared
}

/// A path known to the [`Index`]: the path at `at` in its [`Paths`], or the first `len` bytes of
/// it (a folder that only the paths of its files make).
#[derive(Clone, Copy)]
struct Known {
    at: u32,
    len: u16,
    implied: bool,
}

/// The entries of an archive as it is read: what stands at each path read so far (and at the
/// folders above them), to refuse a path twice.
pub(super) struct Index {
    paths: Paths,
    /// Every path known, by its hash. The paths are the archive's (chosen by whoever made it):
    /// the hasher is seeded at random.
    known: HashTable<Known>,
    hasher: foldhash::fast::RandomState,
    /// The path added last, whole.
    last: String,
    /// Whether the paths were added in their bytes' order (an export's are).
    sorted: bool,
    /// Where a known path is rebuilt to be compared or hashed.
    scratch: String,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            paths: Paths::default(),
            known: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            last: String::new(),
            sorted: true,
            scratch: String::new(),
        }
    }
}

impl Index {
    /// What stands at `path` (`/`-separated), of what was added so far.
    pub(super) fn get(&mut self, path: &str) -> Option<Node> {
        let known = *self.find(path)?;
        Some(if known.implied {
            Node::Implied
        } else {
            self.paths.node(known.at as usize)
        })
    }

    fn find(&mut self, path: &str) -> Option<&mut Known> {
        let hash = self.hasher.hash_one(path);
        let (paths, scratch) = (&self.paths, &mut self.scratch);
        self.known
            .find_mut(hash, |known| rebuilt(paths, scratch, *known) == path)
    }

    /// Adds the entry `path` (`/`-separated), where `node` (a file or a folder) stands, and
    /// `folders`: the folders above it not known yet (as lengths of `path`, which ends at each).
    /// A folder known only as the path of a file's folder becomes the folder's entry.
    pub(super) fn add(&mut self, path: &str, node: Node, folders: &[usize]) -> Result<(), Full> {
        debug_assert!(!matches!(node, Node::Implied) && path.len() <= MAX_PATH);
        let at = self.paths.len();
        self.paths.push(&self.last, path, node)?;
        self.sorted &= at == 0 || self.last.as_str() < path;
        self.last.clear();
        self.last.push_str(path);
        let entry = Known {
            at: at as u32,
            len: path.len() as u16,
            implied: false,
        };
        if let Some(known) = self.find(path) {
            *known = entry;
        } else {
            self.insert(path, entry);
        }
        for &len in folders {
            let known = Known {
                len: len as u16,
                implied: true,
                ..entry
            };
            self.insert(&path[..len], known);
        }
        Ok(())
    }

    fn insert(&mut self, path: &str, known: Known) {
        let (paths, hasher) = (&self.paths, &self.hasher);
        // Growing the table hashes every path again.
        let scratch = RefCell::new(std::mem::take(&mut self.scratch));
        self.known
            .insert_unique(hasher.hash_one(path), known, |known| {
                hasher.hash_one(rebuilt(paths, &mut scratch.borrow_mut(), *known))
            });
        self.scratch = scratch.into_inner();
    }

    /// The archive's entries, sorted by the bytes of their paths.
    pub(super) fn finish(self) -> Result<Paths, Full> {
        if self.sorted {
            Ok(self.paths)
        } else {
            self.paths.sorted()
        }
    }
}

/// The path `known` stands for, rebuilt into `scratch`.
fn rebuilt<'s>(paths: &Paths, scratch: &'s mut String, known: Known) -> &'s str {
    let mut cursor = Cursor {
        paths,
        at: None,
        path: std::mem::take(scratch),
    };
    cursor.path(known.at as usize);
    *scratch = cursor.path;
    &scratch[..usize::from(known.len)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_stands_at_a_path_is_kept_in_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Kept>(), 12);
        let file = Node::File {
            at: (1 << 40) + 7,
            size: crate::reader::MAX_FILE,
        };
        for node in [file, Node::Folder, Node::Implied] {
            assert_eq!(Kept::of(node).unwrap().node(), node);
        }
        let huge = Node::File {
            at: 0,
            size: 1 << 32,
        };
        assert!(
            Kept::of(huge).is_none(),
            "a file of 4 GiB is more than an index holds"
        );
    }

    fn file(at: u64) -> Node {
        Node::File { at, size: 1 }
    }

    fn index_of(paths: &[&str]) -> Paths {
        let mut index = Index::default();
        for (n, path) in paths.iter().enumerate() {
            index.add(path, file(n as u64), &[]).unwrap();
        }
        index.finish().unwrap()
    }

    #[test]
    fn paths_read_back_whole_in_any_order() {
        // Many blocks, sharing prefixes, with characters of several bytes where they part.
        let mut added: Vec<String> = (0..100)
            .map(|n| format!("projects/wéb-{}/releases/{n}é/x.json", n % 7))
            .collect();
        added.push("zz".into());
        added.push("a".into());
        let refs: Vec<&str> = added.iter().map(String::as_str).collect();
        let paths = index_of(&refs);
        let mut sorted = refs.clone();
        sorted.sort_unstable();
        let mut cursor = paths.cursor();
        let read: Vec<String> = (0..paths.len())
            .map(|at| cursor.path(at).to_owned())
            .collect();
        assert_eq!(read, sorted);
        // Out of order, one path at a time.
        for at in (0..paths.len()).rev() {
            assert_eq!(paths.cursor().path(at), sorted[at]);
            assert_eq!(cursor.path(at), sorted[at]);
        }
        for (n, path) in refs.iter().enumerate() {
            assert_eq!(paths.find(path), Some(file(n as u64)), "{path}");
        }
        assert_eq!(paths.find("projects/wéb-3"), Some(Node::Implied));
        assert_eq!(paths.find("projects/wéb"), None);
        assert_eq!(paths.find("projects/wéb-3/releases/3é/x"), None);
        assert_eq!(paths.find(""), None);
        assert_eq!(paths.find("zzz"), None);
    }

    #[test]
    fn an_index_knows_what_stands_at_each_path_and_folder() {
        let mut index = Index::default();
        index.add("a/b/c.json", file(0), &[1, 3]).unwrap();
        index.add("a/b-c", file(1), &[]).unwrap();
        assert_eq!(index.get("a"), Some(Node::Implied));
        assert_eq!(index.get("a/b"), Some(Node::Implied));
        assert_eq!(index.get("a/b/c.json"), Some(file(0)));
        assert_eq!(index.get("a/b-c"), Some(file(1)));
        assert_eq!(index.get("a/b/c"), None);
        // A folder's own entry after its files.
        index.add("a/b", Node::Folder, &[]).unwrap();
        assert_eq!(index.get("a/b"), Some(Node::Folder));
        let paths = index.finish().unwrap();
        let mut cursor = paths.cursor();
        let read: Vec<(String, Node)> = (0..paths.len())
            .map(|at| (cursor.path(at).to_owned(), paths.node(at)))
            .collect();
        assert_eq!(
            read,
            [
                ("a/b".to_owned(), Node::Folder),
                ("a/b-c".to_owned(), file(1)),
                ("a/b/c.json".to_owned(), file(0)),
            ]
        );
        assert_eq!(paths.find("a"), Some(Node::Implied));
        assert_eq!(paths.find("a/b"), Some(Node::Folder));
    }
}
