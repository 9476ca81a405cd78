//! The plan (SPEC 6.3, 6.5): every combined document matched by natural key against the
//! destination, inside the import's write transaction, and given its action under the policy
//! and its collection's merge rule.
//!
//! - Documents are taken a collection at a time, in declaration order, with one batched key
//!   lookup per collection, so that the cost follows the size of the import and not of the
//!   destination; the destination's version of a document is read only when it must be compared
//!   (an overwrite).
//! - Teams are planned first, so that the changes that grant access lead the plan.
//! - A project and everything it owns is one unit: skipped whole when it exists and the policy is
//!   skip; on overwrite its channels and triggers come wholesale (the destination's others are
//!   removed) and the import stops before writing where a removal would orphan history or widen
//!   the scope of a variable that the merge keeps.
//! - History is create-only.
//!
//! Sensitive values are compared by a keyed digest of their plaintext (a random key for each
//! run), so the plan says "changed" or nothing, and no plaintext is ever in a view.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::sync::Mutex;

use cuttle_crypto::export::ExportKey;
use cuttle_crypto::{Fingerprints, Place, Sealer};
use cuttle_domain::decl::{CollectionDecl, Grants, MergeRule, RefScope};
use cuttle_domain::json::JsonError;
use cuttle_domain::path::{self, At, JsonPath};
use cuttle_domain::{COLLECTIONS, Collection};
use cuttle_instance::Problem;
use cuttle_instance::codec::{self, Addresses, Fail, Lookup, Names};
use cuttle_instance::error::Hint;
use cuttle_instance::parallel;
use cuttle_store::{DocId, NO_OWNER, StoreError, WriteTxn};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::diff::{self, DIGEST};
use super::sources::{self, SourceDoc};
use super::spool::{self, Span, Spool, Spooled};
use super::{
    Action, Blocker, Conflict, DocumentPlan, Grant, ImportError, ImportOptions, PlanEvent,
    PlanSink, Progress,
};

mod compare;
mod large;

use compare::{Compared, Comparing, DestVersion, Unopened};

/// At most this many problems are collected before planning stops.
const MAX_PROBLEMS: usize = cuttle_instance::documents::MAX_PROBLEMS;
/// Documents are planned this many at a time (one key lookup, one read of the destination's
/// versions), or fewer, as many as hold [`CHUNK_BYTES`] of text: few enough that their parsed
/// values (and the destination's) take little memory.
const CHUNK: usize = 1024;
const CHUNK_BYTES: usize = 1 << 20;
/// Documents read into canonical form at a time on the other cores, ahead of the decisions,
/// where the plan compares them whole: at most this many, or as many as hold
/// [`CANONICAL_BYTES`] of text. Elsewhere a whole chunk is read ahead: of each document, only
/// its identifying fields are kept.
const CANONICAL_CHUNK: usize = 512;
const CANONICAL_BYTES: usize = 1 << 20;

/// What the plan decided, for the apply.
pub(super) struct Planned {
    /// The documents to write, in the export shape (sensitive values encrypted under a source's
    /// key, or `{"masked": true}` where the destination's value stays).
    pub writes: Vec<Spooled>,
    pub removals: Vec<DocId>,
    pub blockers: Vec<Blocker>,
    pub problems: Vec<Problem>,
    pub counts: Vec<(&'static str, Action, u64)>,
    pub grants: u64,
}

/// One document's decision.
struct Decision {
    plan: DocumentPlan,
    write: Option<Spooled>,
}

/// What an overwritten project brings and keeps, for the checks made once all its parts are
/// planned.
#[derive(Default)]
struct Unit {
    /// The project's id in the destination.
    id: DocId,
    /// The source's channels and triggers (by name).
    channels: BTreeSet<String>,
    triggers: BTreeSet<String>,
    /// Steps of the destination's process that the source's process does not have.
    removed_steps: BTreeSet<String>,
    /// Whether the source brings the project's variables (otherwise all the destination's stay).
    has_variables: bool,
    /// The destination's variables that the merge keeps.
    kept_variables: Vec<Value>,
    /// Whether the source brings the project's deployment process (otherwise the destination's
    /// stays, and must not refer to a removed channel).
    has_process: bool,
    /// Channels that the source's documents of the project refer to and the source does not
    /// bring (the removals check whether the destination has them).
    channel_refs: Vec<ChannelRef>,
}

/// A channel a source's document refers to: the channel, the document, where the document came
/// from (its origin in the spool) and the path.
type ChannelRef = (String, String, Span, JsonPath);

/// A chunk of one collection's documents, their owners and keys resolved and what the
/// destination has of them known ([`Planner::keyed`]): what [`Planner::decided`] decides. The
/// problems found keying it wait here, so that they are reported in the documents' order.
struct Keyed {
    decl: &'static CollectionDecl,
    entries: Vec<Entry>,
    /// What the destination has of each entry.
    existing: Vec<Option<DocId>>,
    /// Where the text of each entry that the plan checks stands.
    checked: Vec<Option<Span>>,
    /// Whether the plan compares the entries it checks with the destination's versions (an
    /// overwrite of what is not history), which it needs whole for; otherwise it needs their
    /// identifying fields only.
    compared: bool,
    problems: Vec<Problem>,
}

/// A document of a chunk being planned: its identifying fields (normalised), its project, and
/// its owner and stored key where they resolve in the destination.
struct Entry {
    doc: SourceDoc,
    value: Value,
    project: Option<String>,
    owner: Option<DocId>,
    key: Option<String>,
    /// Skipped whatever the destination has of it ([`Planner::skipped`]): its key is neither
    /// resolved nor looked up.
    skipped: bool,
}

/// What checking a document ahead of its decision gave ([`Planner::checks`]), or why its text
/// has no canonical form; `None` for a document the plan does not check.
type Check = Option<io::Result<Result<Checked, codec::Refused>>>;

/// A document checked: its canonical form, whole where the decision compares it
/// ([`Keyed::compared`]) and did not ahead, otherwise its identifying fields; and where it was
/// compared with the destination's version ahead, what that found.
struct Checked {
    value: Value,
    compared: Option<Result<Compared, Unopened>>,
}

/// A document the plan checks ahead: where its text stands, the source it came from, and the
/// destination's version it is compared with there, if it is: its id and its stored body,
/// parsed (taken by the core that compares them).
struct ToCheck {
    span: Span,
    source: u32,
    dest: Mutex<Option<(DocId, Value)>>,
}

/// Passes of [`Planner::stored_keys`] at most: a pass for each reference a key reaches
/// through another (a task log's deployment, its release, environment and tenant), and one more.
const MAX_KEY_DEPTH: usize = 8;

/// What the plan knows of the destination's keys: the id at each address (collection, owner,
/// stored key), or `None` where the destination has nothing. An address is found from the
/// key's text as it is: a plan looks up each reference of each key, on every core (see
/// [`Planner::stored_keys`]), and making an address of each cost an allocation.
///
/// Only a memo of the destination, which the plan does not change: it is emptied when it holds
/// more than [`KeyIds::MAX`] addresses ([`KeyIds::bound`]), and what a chunk needs is looked up
/// again. History's keys refer to one another (a deployment's release, a task log's deployment),
/// and kept whole it held an address for every release and deployment of the sources.
#[derive(Default)]
struct KeyIds {
    ids: HashMap<(Collection, DocId), HashMap<Box<str>, Option<DocId>>>,
    len: usize,
}

impl KeyIds {
    /// Addresses held at most between chunks: a few chunks' worth.
    const MAX: usize = 16 * CHUNK;

    /// What is known of an address: `None` when nothing is.
    fn get(&self, collection: Collection, owner: DocId, key: &str) -> Option<Option<DocId>> {
        self.ids.get(&(collection, owner))?.get(key).copied()
    }

    fn insert(&mut self, collection: Collection, owner: DocId, key: &str, id: Option<DocId>) {
        let known = self.ids.entry((collection, owner)).or_default();
        if known.insert(key.into(), id).is_none() {
            self.len += 1;
        }
    }

    /// Empties the memo if it holds more than [`KeyIds::MAX`] addresses.
    fn bound(&mut self) {
        if self.len > Self::MAX {
            *self = Self::default();
        }
    }
}

/// A [`Lookup`] that answers from the planner's cache and notes what it lacks.
struct Noting<'c> {
    cache: &'c KeyIds,
    lacking: BTreeMap<Collection, BTreeSet<(DocId, String)>>,
}

impl Lookup for Noting<'_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        if let Some(found) = self.cache.get(collection, owner, key) {
            return Ok(found);
        }
        self.lacking
            .entry(collection)
            .or_default()
            .insert((owner, key.to_owned()));
        Ok(None)
    }
    fn has_tag(&mut self, _: DocId, _: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

struct Planner<'a> {
    txn: &'a mut dyn WriteTxn,
    sealer: &'a Sealer,
    spool: &'a mut Spool,
    labels: &'a [String],
    options: &'a ImportOptions,
    digest_key: Zeroizing<[u8; 32]>,
    /// What an overwrite's comparisons need, on any core.
    comparing: Comparing<'a>,
    cache: KeyIds,
    problems: Vec<Problem>,
    counts: HashMap<(Collection, Action), u64>,
    /// Projects of the sources, by name: their id in the destination, if they exist there.
    projects: HashMap<String, Option<DocId>>,
    /// Overwritten projects, by name.
    units: BTreeMap<String, Unit>,
    /// Deployments skipped, by a digest of their identity ([`Planner::deployment_digest`]), so
    /// that their task logs are skipped too.
    skipped_deployments: HashSet<u128>,
    /// What [`Planner::deployment_digest`] digests under.
    prints: Fingerprints,
    grants: u64,
    /// The destination's documents of the collection being planned whose versions are large: an
    /// overwrite reads and compares them an element at a time ([`Planner::decide_large`]).
    large_dests: HashSet<DocId>,
}

impl Lookup for Planner<'_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        if let Some(found) = self.cache.get(collection, owner, key) {
            return Ok(found);
        }
        let found = self.txn.find_id(collection, owner, key)?;
        self.cache.insert(collection, owner, key, found);
        Ok(found)
    }
    fn has_tag(&mut self, _: DocId, _: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    txn: &mut dyn WriteTxn,
    sealer: &Sealer,
    spool: &mut Spool,
    docs: Vec<SourceDoc>,
    conflicts: &[Conflict],
    keys: &[ExportKey],
    labels: &[String],
    options: &ImportOptions,
    sink: &mut dyn PlanSink,
    progress: Progress<'_>,
) -> Result<Planned, ImportError> {
    let mut digest_key = Zeroizing::new([0u8; 32]);
    cuttle_crypto::random_bytes(digest_key.as_mut())
        .map_err(|e| ImportError::Source(e.to_string()))?;
    let prints = Fingerprints::new().map_err(|e| ImportError::Source(e.to_string()))?;
    let comparing = Comparing {
        sealer,
        keys,
        digest_key: digest_key.clone(),
        keep_destination_secrets: options.keep_destination_secrets,
    };
    let mut planner = Planner {
        txn,
        sealer,
        spool,
        labels,
        options,
        digest_key,
        comparing,
        cache: KeyIds::default(),
        problems: Vec::new(),
        counts: HashMap::new(),
        projects: HashMap::new(),
        units: BTreeMap::new(),
        skipped_deployments: HashSet::new(),
        prints,
        grants: 0,
        large_dests: HashSet::new(),
    };
    let total = docs.len() as u64;
    let mut docs = docs;
    debug_assert!(
        docs.is_sorted_by_key(|d| d.doc.collection.rank()),
        "the sources give their documents in declaration order"
    );
    planner.find_projects(&docs)?;

    progress(0, total);
    // What grants access (teams) first: the grants lead the plan; the documents take their place
    // in order.
    let mut granting: HashMap<Collection, Vec<Decision>> = HashMap::new();
    for decl in COLLECTIONS.iter().filter(|d| d.grants.is_some()) {
        let first = docs.partition_point(|d| d.doc.collection.rank() < decl.collection.rank());
        let end = docs.partition_point(|d| d.doc.collection.rank() <= decl.collection.rank());
        let these: Vec<SourceDoc> = docs.drain(first..end).collect();
        let decisions = planner.collection(decl, these)?;
        for decision in &decisions {
            for grant in grants_of(&decision.plan) {
                planner.grants += 1;
                sink.event(PlanEvent::Grant(&grant))?;
            }
        }
        granting.insert(decl.collection, decisions);
    }
    let mut docs = docs.into_iter();
    for conflict in conflicts {
        sink.event(PlanEvent::Conflict(conflict))?;
    }
    // A chunk at a time, so that only a chunk's documents are parsed at once. Each chunk is
    // keyed while the one before it is checked on the other cores, and that one is decided
    // next. A chunk whose documents are compared with the destination's versions is compared
    // with them as it is checked, and decided before the next is keyed: holding two chunks'
    // versions would cost memory.
    let mut reported = Reported {
        writes: Vec::new(),
        done: 0,
        total,
    };
    std::thread::scope(|scope| -> Result<(), ImportError> {
        let mut waiting: Option<(Keyed, parallel::Ahead<'_, Check>)> = None;
        let mut decided = Vec::new();
        'collections: for decl in COLLECTIONS {
            loop {
                if decl.grants.is_some() {
                    let Some(decisions) = granting.remove(&decl.collection) else {
                        break;
                    };
                    planner.decide_waiting(&mut waiting, &mut decided)?;
                    decided.push((decl, decisions));
                } else {
                    let rest = docs.as_slice();
                    let here = rest
                        .iter()
                        .take(CHUNK)
                        .take_while(|d| d.doc.collection == decl.collection)
                        .count();
                    let n = parallel::chunk_len(&rest[..here], CHUNK, CHUNK_BYTES, |d| {
                        d.doc.span.len()
                    });
                    if n == 0 {
                        break;
                    }
                    let keyed = planner.keyed(decl, docs.by_ref().take(n).collect())?;
                    if keyed.compared {
                        // The destination's versions it is compared with are read for its
                        // checks: the chunk before is decided first.
                        planner.decide_waiting(&mut waiting, &mut decided)?;
                        let checks = planner.checks(scope, &keyed)?;
                        decided.push((decl, planner.decided(keyed, checks)?));
                    } else {
                        let checks = planner.checks(scope, &keyed)?;
                        planner.decide_waiting(&mut waiting, &mut decided)?;
                        waiting = Some((keyed, checks));
                    }
                }
                if !reported.report(&mut planner, sink, &mut decided, progress)? {
                    break 'collections;
                }
            }
        }
        planner.decide_waiting(&mut waiting, &mut decided)?;
        if !decided.is_empty() {
            reported.report(&mut planner, sink, &mut decided, progress)?;
        }
        Ok(())
    })?;
    let writes = reported.writes;
    let (removals, blockers) = planner.removals(sink)?;
    let counts = COLLECTIONS
        .iter()
        .flat_map(|d| {
            Action::ALL.iter().filter_map(|a| {
                planner
                    .counts
                    .get(&(d.collection, *a))
                    .map(|n| (d.name, *a, *n))
            })
        })
        .collect();
    Ok(Planned {
        writes,
        removals,
        blockers,
        problems: planner.problems,
        counts,
        grants: planner.grants,
    })
}

/// What the plan has reported so far: the documents to write, and how many are decided.
struct Reported {
    writes: Vec<Spooled>,
    done: u64,
    total: u64,
}

impl Reported {
    /// Reports the chunks `decided` (in order, each with its collection's declaration): their
    /// documents to the sink, their counts, their writes. `false` when the plan stops there,
    /// with as many problems as it reports.
    fn report(
        &mut self,
        planner: &mut Planner<'_>,
        sink: &mut dyn PlanSink,
        decided: &mut Vec<(&'static CollectionDecl, Vec<Decision>)>,
        progress: Progress<'_>,
    ) -> Result<bool, ImportError> {
        for (decl, decisions) in decided.drain(..) {
            for mut decision in decisions {
                self.done += 1;
                planner.count(decl.collection, decision.plan.action);
                // The grant stand-ins served their purpose.
                decision.plan.changes.retain(|c| c.path != GRANTS);
                sink.event(PlanEvent::Document(&decision.plan))?;
                if let Some(write) = decision.write {
                    self.writes.push(write);
                }
            }
        }
        progress(self.done, self.total);
        if planner.options.cancel.is_cancelled() {
            return Err(ImportError::Cancelled);
        }
        Ok(planner.problems.len() < MAX_PROBLEMS)
    }
}

/// A pseudo-path under which a team's plan carries the grants it makes (removed before the plan
/// is shown).
const GRANTS: &str = "$grants";

fn grants_of(plan: &DocumentPlan) -> Vec<Grant> {
    plan.changes
        .iter()
        .filter(|c| c.path == GRANTS)
        .filter_map(|c| c.new.clone())
        .filter_map(|g| {
            Some(Grant {
                team: plan.key.clone(),
                member: g.get("member").and_then(Value::as_str).map(str::to_owned),
                role_assignment: g.get("roleAssignment").cloned(),
            })
            .filter(|g| g.member.is_some() || g.role_assignment.is_some())
        })
        .collect()
}

fn grant_changes(grants: &Grants, dest: Option<&Value>, merged: &Value) -> Vec<diff::Change> {
    let list = |v: Option<&Value>, field: &str| -> Vec<Value> {
        v.and_then(|v| v.get(field))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    // A new team is shown before the write path has checked its shape: what it holds is shown
    // redacted, however it is spelt.
    let mut out = Vec::new();
    let before = list(dest, grants.members);
    for member in list(Some(merged), grants.members) {
        if !before.contains(&member) {
            out.push(json!({ "member": cuttle_domain::sensitive::redacted(&member) }));
        }
    }
    let before = list(dest, grants.role_assignments);
    for assignment in list(Some(merged), grants.role_assignments) {
        if !before.contains(&assignment) {
            out.push(json!({ "roleAssignment": cuttle_domain::sensitive::redacted(&assignment) }));
        }
    }
    out.into_iter()
        .map(|g| diff::Change {
            path: GRANTS.into(),
            change: diff::ChangeKind::Added,
            sensitive: false,
            old: None,
            new: Some(g),
        })
        .collect()
}

/// The natural key within the project, as people read it.
fn key_text(decl: &CollectionDecl, value: &Value) -> String {
    decl.key
        .iter()
        .map(|f| codec::display(value.get(*f).unwrap_or(&Value::Null)))
        .collect::<Vec<_>>()
        .join(codec::DISPLAY_SEPARATOR)
}

impl<'a> Planner<'a> {
    fn count(&mut self, collection: Collection, action: Action) {
        *self.counts.entry((collection, action)).or_default() += 1;
    }

    /// Notes a problem of the document that came from `origin` (a span of the spool).
    fn problem(&mut self, origin: Span, document: String, path: JsonPath, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                origin: Some(spool::origin(self.spool, origin)),
                line: None,
                column: None,
                document,
                path,
                message,
            });
        }
    }

    /// The sources' projects (named by a project document or by anything a project owns), and
    /// whether the destination has them.
    fn find_projects(&mut self, docs: &[SourceDoc]) -> Result<(), ImportError> {
        let names: BTreeSet<&str> = docs.iter().filter_map(|d| d.project.as_deref()).collect();
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        let asked: Vec<(DocId, &str)> = names.iter().map(|n| (NO_OWNER, n.as_str())).collect();
        let found = self.txn.find_ids(Collection::Projects, &asked)?;
        for (name, id) in names.into_iter().zip(found) {
            self.cache.insert(Collection::Projects, NO_OWNER, &name, id);
            if let (Some(id), true) = (id, self.options.overwrite) {
                self.units.insert(
                    name.clone(),
                    Unit {
                        id,
                        ..Unit::default()
                    },
                );
            }
            self.projects.insert(name, id);
        }
        Ok(())
    }

    /// A source document read whole ([`codec::parse`]), its key fields normalised. `None` (a
    /// problem noted) when it is not JSON.
    fn read(&mut self, doc: &Spooled) -> Result<Option<Value>, ImportError> {
        let text = self.spool.read(doc.span).map_err(sources::spool_error)?;
        Ok(self.parsed(
            doc,
            Self::parse(doc.collection.decl(), &text, codec::Part::Whole),
        ))
    }

    /// `part` of `text`, its key fields normalised.
    fn parse(decl: &CollectionDecl, text: &str, part: codec::Part) -> Result<Value, JsonError> {
        let mut value = codec::parse(decl, text, part)?;
        codec::normalize_key_fields(decl, &mut value);
        Ok(value)
    }

    /// A document parsed; `None` (and the problem noted) when it is not JSON.
    fn parsed(&mut self, doc: &Spooled, parsed: Result<Value, JsonError>) -> Option<Value> {
        parsed
            .map_err(|e| {
                self.problem(
                    doc.origin,
                    String::new(),
                    JsonPath::root(),
                    format!("this is not valid JSON: {e}"),
                );
            })
            .ok()
    }

    /// Whether a document of `project` is skipped with its project: the project exists in the
    /// destination and the policy is not overwrite.
    fn skips_part_of(&self, project: Option<&str>) -> bool {
        !self.options.overwrite
            && project.is_some_and(|p| self.projects.get(p).copied().flatten().is_some())
    }

    /// `doc` read whole into its canonical form; `None` (and the problems noted, the document
    /// named by `identity`, its identifying fields) when it cannot be. `ahead`: the same, already
    /// checked on another core.
    fn read_canonical(
        &mut self,
        decl: &CollectionDecl,
        doc: &Spooled,
        identity: &Value,
        ahead: Check,
    ) -> Result<Option<Checked>, ImportError> {
        let checked = match ahead {
            Some(read) => read.map_err(sources::spool_error)?,
            None => {
                let text = self.spool.read(doc.span).map_err(sources::spool_error)?;
                codec::canonicalize(decl, &text).map(|value| Checked {
                    value,
                    compared: None,
                })
            }
        };
        let problems = match checked {
            Ok(checked) => return Ok(Some(checked)),
            Err(codec::Refused::Json(e)) => vec![(
                String::new(),
                JsonPath::root(),
                format!("this is not valid JSON: {e}"),
            )],
            Err(codec::Refused::Shape(problems)) => {
                let named = cuttle_instance::documents::describe(decl, identity);
                problems
                    .into_iter()
                    .map(|(path, message)| (named.clone(), path, message))
                    .collect()
            }
        };
        for (named, path, message) in problems {
            self.problem(doc.origin, named, path, message);
        }
        Ok(None)
    }

    /// The stored keys of `docs` (each: its owner, where the destination has it, and its
    /// identifying fields); `None` where there is no owner, or the key names what the destination
    /// lacks (the document is new there) or cannot be made. References are resolved a batch at a
    /// time, so that no key makes a lookup of its own: a pass on every core answers from the
    /// cache and notes what it lacks; one lookup per collection finds everything lacking; and
    /// the documents that lacked something are passed over again, until none does (a reference
    /// inside a referenced key, such as a task log's deployment's release, takes one pass more).
    fn stored_keys(
        &mut self,
        decl: &CollectionDecl,
        docs: &[(Option<DocId>, &Value)],
    ) -> Result<Vec<Option<String>>, ImportError> {
        let mut keys: Vec<Option<String>> = vec![None; docs.len()];
        let mut waiting: Vec<(usize, DocId)> = (docs.iter().enumerate())
            .filter_map(|(at, (owner, _))| Some((at, (*owner)?)))
            .collect();
        for _ in 0..MAX_KEY_DEPTH {
            if waiting.is_empty() {
                break;
            }
            let cache = &self.cache;
            let passed = parallel::map_in_order(&waiting, |(at, owner)| {
                let mut noting = Noting {
                    cache,
                    lacking: BTreeMap::new(),
                };
                let key = codec::stored_key(decl, docs[*at].1, *owner, &mut noting, &At::ROOT);
                (key.ok(), noting.lacking)
            });
            let mut lacking: BTreeMap<Collection, BTreeSet<(DocId, String)>> = BTreeMap::new();
            let mut still = Vec::new();
            for ((at, owner), (key, lacked)) in waiting.into_iter().zip(passed) {
                if lacked.is_empty() {
                    keys[at] = key;
                    continue;
                }
                still.push((at, owner));
                for (target, names) in lacked {
                    lacking.entry(target).or_default().extend(names);
                }
            }
            waiting = still;
            for (target, names) in lacking {
                self.look_up(target, names)?;
            }
        }
        // A key that still lacks something after as many passes as a key reaches, one lookup at
        // a time.
        for (at, owner) in waiting {
            keys[at] = match codec::stored_key(decl, docs[at].1, owner, self, &At::ROOT) {
                Ok(key) => Some(key),
                Err(Fail::At(..)) => None,
                Err(Fail::Store(e)) => return Err(e.into()),
            };
        }
        Ok(keys)
    }

    /// Plans a chunk of one collection's documents, each stage after the one before (see
    /// [`plan`] for the stages of chunks overlapping).
    fn collection(
        &mut self,
        decl: &'static CollectionDecl,
        docs: Vec<SourceDoc>,
    ) -> Result<Vec<Decision>, ImportError> {
        let keyed = self.keyed(decl, docs)?;
        std::thread::scope(|scope| {
            let checks = self.checks(scope, &keyed)?;
            self.decided(keyed, checks)
        })
    }

    /// Marks the entries of a chunk of `decl`'s documents that are skipped whatever the
    /// destination has of them, so that their keys are neither resolved nor looked up: the parts
    /// of a project that is skipped, and history that hangs from history the destination keeps
    /// (a deployment of a release the destination has, a task log of a deployment skipped).
    /// The releases of a chunk of deployments are looked up at once.
    fn skipped(&mut self, decl: &CollectionDecl, entries: &mut [Entry]) -> Result<(), ImportError> {
        if decl.collection == Collection::Deployments {
            let lacking: BTreeSet<(DocId, String)> = (entries.iter())
                .filter_map(|entry| {
                    let (owner, release) = (entry.owner?, release_of(&entry.value));
                    let known = self.cache.get(Collection::Releases, owner, &release);
                    known.is_none().then_some((owner, release))
                })
                .collect();
            self.look_up(Collection::Releases, lacking)?;
        }
        for entry in entries {
            entry.skipped = self.skips_part_of(entry.project.as_deref())
                || match decl.collection {
                    Collection::Deployments => self.has_release(entry.owner, &entry.value)?,
                    Collection::TaskLogs => self.is_skipped_deployment(&entry.value),
                    _ => false,
                };
        }
        Ok(())
    }

    /// Finds what the destination has at `names` (owners and stored keys of `target`'s
    /// documents) in one lookup, into the cache.
    fn look_up(
        &mut self,
        target: Collection,
        names: BTreeSet<(DocId, String)>,
    ) -> Result<(), ImportError> {
        let asked: Vec<(DocId, &str)> = names.iter().map(|(o, n)| (*o, n.as_str())).collect();
        let found = self.txn.find_ids(target, &asked)?;
        for ((owner, name), id) in asked.into_iter().zip(found) {
            self.cache.insert(target, owner, name, id);
        }
        Ok(())
    }

    /// Whether the destination has the release of a deployment (`value`: at least its
    /// identifying fields) of the project `owner`.
    fn has_release(&mut self, owner: Option<DocId>, value: &Value) -> Result<bool, ImportError> {
        let Some(owner) = owner else {
            return Ok(false);
        };
        Ok(self
            .id_of(Collection::Releases, owner, &release_of(value))?
            .is_some())
    }

    /// The owners and keys of a chunk of `decl`'s documents, and what the destination has of
    /// them, in one lookup for the chunk.
    fn keyed(
        &mut self,
        decl: &'static CollectionDecl,
        docs: Vec<SourceDoc>,
    ) -> Result<Keyed, ImportError> {
        let problems_before = self.problems.len();
        self.cache.bound();
        let mut entries = Vec::with_capacity(docs.len());
        // Owners and keys need only the identifying fields, normalised (read on every core); the
        // document is read whole where the plan needs more, and its whole shape is checked for a
        // document the destination has, and by the write path for a new one.
        let reader = self.spool.reader().map_err(sources::spool_error)?;
        let identities = parallel::map_in_order(&docs, |doc| {
            let text = doc.doc.identity_by(&reader)?;
            Ok(Self::parse(decl, &text, codec::Part::Identity))
        });
        for (doc, identity) in docs.into_iter().zip(identities) {
            let identity = identity.map_err(sources::spool_error)?;
            let Some(value) = self.parsed(&doc.doc, identity) else {
                continue;
            };
            let project = decl
                .is_project_owned()
                .then(|| super::text_of(value.get("project")));
            let owner = match &project {
                Some(name) => self.projects.get(name).copied().flatten(),
                None => Some(NO_OWNER),
            };
            entries.push(Entry {
                doc,
                value,
                project,
                owner,
                key: None,
                skipped: false,
            });
        }
        // What is skipped whatever the destination has of it: its shape is still checked.
        self.skipped(decl, &mut entries)?;
        let owners: Vec<(Option<DocId>, &Value)> = (entries.iter())
            .map(|entry| (entry.owner.filter(|_| !entry.skipped), &entry.value))
            .collect();
        // A key that names something the destination lacks: the document is new there (its
        // references are checked when it is written).
        let keys = self.stored_keys(decl, &owners)?;
        for (entry, key) in entries.iter_mut().zip(keys) {
            entry.key = key;
        }
        let asked: Vec<(DocId, &str)> = entries
            .iter()
            .filter_map(|e| Some((e.owner?, e.key.as_deref()?)))
            .collect();
        let mut found = self.txn.find_ids(decl.collection, &asked)?.into_iter();
        let existing: Vec<Option<DocId>> = entries
            .iter()
            .map(|e| match (e.owner, &e.key) {
                (Some(_), Some(_)) => found.next().flatten(),
                _ => None,
            })
            .collect();
        // What will not go through the write path is checked by the plan: what the destination
        // has, and the parts of a project that is skipped (a large one, an element at a time,
        // when it is decided).
        let checked = (entries.iter().zip(&existing))
            .map(|(entry, existing)| {
                let span = entry.doc.doc.span;
                ((existing.is_some() || entry.skipped)
                    && !cuttle_instance::large::is_large(decl, span.len()))
                .then_some(span)
            })
            .collect();
        Ok(Keyed {
            decl,
            entries,
            existing,
            checked,
            compared: self.options.overwrite && decl.merge != MergeRule::CreateOnly,
            problems: self.problems.split_off(problems_before),
        })
    }

    /// Starts checking what `keyed` has to check, on the other cores, ahead of
    /// [`Planner::decided`]: each document read whole into its canonical form. Where the plan
    /// compares the whole form with the destination's version, the versions are read first (in
    /// batches), each document is compared there too, and at most two parts of the chunk are
    /// held at once; otherwise the plan needs only the form's identifying fields, and the whole
    /// chunk is checked ahead.
    fn checks<'scope>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        keyed: &Keyed,
    ) -> Result<parallel::Ahead<'scope, Check>, ImportError>
    where
        'a: 'scope,
    {
        let decl = keyed.decl;
        let compared = keyed.compared;
        // What is not compared ahead (a version that is large, or whose source is) is decided
        // with the transaction.
        let (mut bodies, names) = match compared {
            true => {
                let ids: Vec<DocId> = keyed.existing.iter().flatten().copied().collect();
                self.dest_bodies(decl, &ids)?
            }
            false => Default::default(),
        };
        let checked: Vec<Option<ToCheck>> = (keyed.checked.iter())
            .zip(&keyed.existing)
            .zip(&keyed.entries)
            .map(|((span, id), entry)| {
                let dest = id.and_then(|id| Some((id, bodies.remove(&id)?)));
                span.map(|span| ToCheck {
                    span,
                    source: entry.doc.source,
                    dest: Mutex::new(dest),
                })
            })
            .collect();
        drop(bodies);
        let reader = self.spool.reader().map_err(sources::spool_error)?;
        let comparing = self.comparing.clone();
        let check = move |item: &Option<ToCheck>| {
            let item = item.as_ref()?;
            Some(reader.read(item.span).map(|text| {
                let dest = item.dest.lock().ok().and_then(|mut dest| dest.take());
                let (true, Some((id, body))) = (compared, dest) else {
                    let canonical = codec::canonicalize(decl, &text)?;
                    return Ok(Checked {
                        value: match compared {
                            true => canonical,
                            false => codec::identity_of(decl, &canonical),
                        },
                        compared: None,
                    });
                };
                let mut names = Names::shared(names.clone());
                let dest = comparing.dest_version(decl, id, body, &mut names, item.source, &text);
                let view = match dest {
                    // The destination's version, exactly: nothing to read or compare.
                    Some(DestVersion::Written(checked)) => return Ok(checked),
                    Some(DestVersion::View(view)) => Some(view),
                    None => None,
                };
                let canonical = codec::canonicalize(decl, &text)?;
                Ok(match view {
                    Some(view) => Checked {
                        value: codec::identity_of(decl, &canonical),
                        compared: Some(comparing.compare(decl, view, canonical)),
                    },
                    None => Checked {
                        value: canonical,
                        compared: None,
                    },
                })
            }))
        };
        Ok(parallel::ahead(scope, move |feed| {
            let mut at = 0;
            while at < checked.len() {
                let rest = &checked[at..];
                let n = match compared {
                    true => parallel::chunk_len(rest, CANONICAL_CHUNK, CANONICAL_BYTES, |item| {
                        item.as_ref().map_or(0, |item| item.span.len())
                    }),
                    false => rest.len(),
                };
                let end = at + n.max(1);
                if !feed.send(parallel::map_in_order(&checked[at..end], &check)) {
                    return;
                }
                at = end;
            }
        }))
    }

    /// Decides the chunk that `waiting` holds, if it holds one, after the chunks `decided`.
    fn decide_waiting(
        &mut self,
        waiting: &mut Option<(Keyed, parallel::Ahead<'_, Check>)>,
        decided: &mut Vec<(&'static CollectionDecl, Vec<Decision>)>,
    ) -> Result<(), ImportError> {
        if let Some((keyed, checks)) = waiting.take() {
            decided.push((keyed.decl, self.decided(keyed, checks)?));
        }
        Ok(())
    }

    /// Decides each document of `keyed`, taking what was checked of it from `checks`.
    fn decided(
        &mut self,
        keyed: Keyed,
        checks: impl Iterator<Item = Check>,
    ) -> Result<Vec<Decision>, ImportError> {
        let Keyed {
            decl,
            entries,
            existing,
            problems,
            ..
        } = keyed;
        // What keying the chunk found comes first, as the documents come.
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(problems.into_iter().take(room));
        let mut decisions = Vec::with_capacity(entries.len());
        for ((mut entry, existing), ahead) in entries.into_iter().zip(existing).zip(checks) {
            let skipped = entry.skipped;
            let whole = existing.is_some()
                || skipped
                || decl.grants.is_some()
                || entry
                    .project
                    .as_ref()
                    .is_some_and(|p| self.units.contains_key(p));
            let plan_of = |value: &Value| DocumentPlan {
                collection: decl.name,
                project: entry.project.clone(),
                key: key_text(decl, value),
                action: Action::Create,
                reason: None,
                hint: None,
                source: Some(self.labels[entry.doc.source as usize].clone()),
                changes: Vec::new(),
                notes: Vec::new(),
            };
            // A large document's overwrite, planned an element at a time.
            if let Some(id) = existing
                && self.options.overwrite
                && self.is_large(decl, &entry.doc.doc, id)
            {
                let plan = plan_of(&entry.value);
                if let Some(decision) =
                    self.decide_large(decl, &entry.doc.doc, &entry.value, id, plan)?
                {
                    decisions.push(decision);
                    continue;
                }
            }
            let mut compared = None;
            if existing.is_some() || skipped {
                // Compared with what the destination has: in canonical form, straight from the
                // text. A large document that is not overwritten is only checked, an element at
                // a time: its head is all the plan needs.
                let checked = match self.options.overwrite && !skipped {
                    false => self.check_large(decl, &entry.doc.doc)?,
                    true => None,
                };
                let value = match checked {
                    Some(head) => head,
                    None => match self.read_canonical(decl, &entry.doc.doc, &entry.value, ahead)? {
                        Some(checked) => {
                            compared = checked.compared;
                            checked.value
                        }
                        None => continue,
                    },
                };
                entry.value = value;
            } else if whole {
                let Some(value) = self.read(&entry.doc.doc)? else {
                    continue;
                };
                entry.value = value;
            }
            let plan = plan_of(&entry.value);
            let checked = Checked {
                value: entry.value,
                compared,
            };
            let decision =
                self.decide(decl, entry.doc.doc, checked, entry.owner, existing, plan)?;
            decisions.push(decision);
        }
        self.large_dests.clear();
        Ok(decisions)
    }

    /// Decides a document of `decl`, `checked` as [`Planner::decided`] has it.
    fn decide(
        &mut self,
        decl: &'static CollectionDecl,
        incoming: Spooled,
        checked: Checked,
        owner: Option<DocId>,
        existing: Option<DocId>,
        mut plan: DocumentPlan,
    ) -> Result<Decision, ImportError> {
        let Checked { value, compared } = checked;
        let skip = |mut plan: DocumentPlan, reason: String, hint: Option<Hint>| Decision {
            plan: {
                plan.action = Action::Skip;
                plan.reason = Some(reason);
                plan.hint = hint;
                plan
            },
            write: None,
        };
        // A project that exists is skipped whole unless the policy is overwrite.
        let in_skipped_project = self.skips_part_of(plan.project.as_deref())
            || (!self.options.overwrite
                && decl.collection == Collection::Projects
                && existing.is_some());
        if in_skipped_project {
            return Ok(skip(
                plan,
                "the project exists in the destination; a project is skipped with everything it owns".into(),
                Some(Hint::Overwrite),
            ));
        }
        // History is create-only.
        if decl.merge == MergeRule::CreateOnly
            && let Some(reason) = self.history_skip(decl, &value, owner, existing)?
        {
            if decl.collection == Collection::Deployments {
                let key = sources::identity(decl.collection, &value).2;
                let digest = self.deployment_digest(plan.project.as_deref().unwrap_or(""), &key);
                self.skipped_deployments.insert(digest);
            }
            return Ok(skip(plan, reason, None));
        }
        self.note_part(decl, &plan, &value);
        let Some(id) = existing else {
            // New in the destination.
            if let Some(grants) = &decl.grants {
                plan.changes = grant_changes(grants, None, &value);
            }
            let refs = self.channel_refs(decl, &plan, &value, incoming.origin);
            self.record_channel_refs(&plan, refs);
            return Ok(Decision {
                plan,
                write: Some(incoming),
            });
        };
        if !self.options.overwrite {
            return Ok(skip(
                plan,
                "exists in the destination".into(),
                Some(Hint::Overwrite),
            ));
        }

        // Overwrite: compare the destination's version with what the merge rule makes of both
        // (ahead, on another core, unless the version is rendered only here).
        let compared = match compared {
            Some(compared) => compared,
            None => {
                let stored = self.stored(id)?;
                let dest = self.stored_view(decl, id, &stored.body)?;
                self.comparing.compare(decl, dest, value)
            }
        };
        let compared = match compared {
            Ok(compared) => compared,
            Err(unopened) => {
                for (path, message) in unopened {
                    self.problem(incoming.origin, plan.title(), path, message);
                }
                return Ok(Decision { plan, write: None });
            }
        };
        if let Some(unit) = plan.project.as_ref().and_then(|p| self.units.get_mut(p)) {
            match decl.collection {
                Collection::DeploymentProcesses => unit.removed_steps = compared.removed_steps,
                Collection::ProjectVariables => unit.kept_variables = compared.kept_variables,
                _ => {}
            }
        }
        plan.notes = compared.notes;
        plan.changes = compared.changes;
        // What the source brings, changed or not, must not refer to a removed channel; what the
        // merge keeps of the destination's is checked with the removals (a blocker: its scope
        // would widen).
        let refs = self.unit_channel_refs(&plan, compared.channel_refs, incoming.origin);
        self.record_channel_refs(&plan, refs);
        let Some(merged) = compared.merged else {
            plan.action = Action::Unchanged;
            return Ok(Decision { plan, write: None });
        };
        plan.action = match decl.merge {
            MergeRule::Merge(_) => Action::Merge,
            _ => Action::Overwrite,
        };
        let write = incoming
            .replaced(self.spool, &merged)
            .map_err(sources::spool_error)?;
        Ok(Decision {
            plan,
            write: Some(write),
        })
    }

    /// What an overwritten project's unit learns from a source's document of it (`value`, or
    /// its identifying fields): the channels and triggers it brings, whether it brings variables
    /// and a process.
    fn note_part(&mut self, decl: &CollectionDecl, plan: &DocumentPlan, value: &Value) {
        if let Some(unit) = plan.project.as_ref().and_then(|p| self.units.get_mut(p)) {
            match decl.collection {
                Collection::Channels => {
                    unit.channels.insert(super::text_of(value.get("name")));
                }
                Collection::Triggers => {
                    unit.triggers.insert(super::text_of(value.get("name")));
                }
                Collection::ProjectVariables => unit.has_variables = true,
                Collection::DeploymentProcesses => unit.has_process = true,
                _ => {}
            }
        }
    }

    /// Why a history document is skipped, if it is: it exists, or (a deployment) its release
    /// exists, or (a task log) its deployment was skipped.
    fn history_skip(
        &mut self,
        decl: &CollectionDecl,
        value: &Value,
        owner: Option<DocId>,
        existing: Option<DocId>,
    ) -> Result<Option<String>, ImportError> {
        // What it hangs from first: the reason is the same whether or not the destination has
        // it (and whether or not the plan looked: see [`Planner::skipped`]).
        match decl.collection {
            Collection::Deployments if self.has_release(owner, value)? => {
                return Ok(Some(format!(
                    "its release {:?} exists in the destination and is kept as it is; history is create-only",
                    release_of(value)
                )));
            }
            Collection::TaskLogs if self.is_skipped_deployment(value) => {
                return Ok(Some("its deployment is skipped".into()));
            }
            _ => {}
        }
        Ok(existing
            .map(|_| "the destination has it; history is create-only and is never changed".into()))
    }

    /// Whether the deployment of a task log (`value`: at least its identifying fields) is
    /// skipped.
    fn is_skipped_deployment(&self, value: &Value) -> bool {
        let project = super::text_of(value.get("project"));
        let deployment = value.get("deployment");
        let key = Collection::Deployments
            .decl()
            .key
            .iter()
            .map(|f| deployment.and_then(|d| d.get(*f)).unwrap_or(&Value::Null))
            .collect::<Vec<_>>();
        let key = serde_json::to_string(&key).expect("JSON serializes");
        self.skipped_deployments
            .contains(&self.deployment_digest(&project, &key))
    }

    /// A deployment's identity (its project, and its key as [`sources::identity`] writes it) as
    /// the 128 bits that [`Planner::skipped_deployments`] holds.
    fn deployment_digest(&self, project: &str, key: &str) -> u128 {
        self.prints.of([project.as_bytes(), key.as_bytes()])
    }

    /// For an overwritten project, the channels a source's document refers to: the channel, the
    /// document, where it came from and the path (empty for any other document).
    fn channel_refs(
        &self,
        decl: &CollectionDecl,
        plan: &DocumentPlan,
        value: &Value,
        origin: Span,
    ) -> Vec<ChannelRef> {
        match self.is_unit(plan) {
            true => self.unit_channel_refs(plan, compare::channel_refs(decl, value), origin),
            false => Vec::new(),
        }
    }

    /// Whether `plan`'s document is part of an overwritten project.
    fn is_unit(&self, plan: &DocumentPlan) -> bool {
        plan.project
            .as_ref()
            .is_some_and(|p| self.units.contains_key(p))
    }

    /// [`Planner::channel_refs`], of the channels found in the document (`found`). Only the
    /// references to a channel the source's project does not bring are kept: a channel it brings
    /// is not removed, and the project's channels are all planned before any document that
    /// refers to them (references within a project point at collections declared before). An
    /// overwrite of identical data keeps none, where it kept one for each reference.
    fn unit_channel_refs(
        &self,
        plan: &DocumentPlan,
        found: Vec<(String, JsonPath)>,
        origin: Span,
    ) -> Vec<ChannelRef> {
        let Some(unit) = plan.project.as_ref().and_then(|p| self.units.get(p)) else {
            return Vec::new();
        };
        let title = plan.title();
        found
            .into_iter()
            .filter(|(name, _)| !unit.channels.contains(name))
            .map(|(name, at)| (name, title.clone(), origin, at))
            .collect()
    }

    /// Records what [`Planner::channel_refs`] found, for the checks made with the removals.
    fn record_channel_refs(&mut self, plan: &DocumentPlan, refs: Vec<ChannelRef>) {
        if let Some(unit) = plan.project.as_ref().and_then(|p| self.units.get_mut(p)) {
            unit.channel_refs.extend(refs);
        }
    }

    /// The destination's version in the export shape, each sensitive value a digest stand-in
    /// (`{"masked": true, "$digest": …}`). `stored` stands at `at` in its document: the root,
    /// or an element of its large array (declared by `decl`, the element's declarations).
    fn dest_view(
        sealer: &Sealer,
        digest_key: &[u8; 32],
        names: &mut Names<'_>,
        decl: &CollectionDecl,
        id: DocId,
        stored: Value,
        at: &JsonPath,
    ) -> Result<Value, ImportError> {
        let mut digest_of = |slot: &mut Value, place: Place<'_>| {
            let plain = codec::open_sealed(sealer, slot, place).map_err(|e| {
                StoreError::Corrupt(format!(
                    "a sensitive value of {} document {id} at {} does not open under this instance's master key: {e}",
                    place.collection, place.pointer
                ))
            })?;
            *slot = masked_stand_in(digest(digest_key, &plain));
            Ok(())
        };
        Ok(codec::render_part(
            decl,
            id,
            stored,
            at,
            names,
            &mut digest_of,
        )?)
    }

    /// The destination's document `id`, read with the transaction.
    fn stored(&mut self, id: DocId) -> Result<cuttle_store::StoredDoc, ImportError> {
        Ok((self.txn.get(id)?)
            .ok_or_else(|| StoreError::Corrupt(format!("document {id} vanished")))?)
    }

    /// The view ([`Planner::dest_view`]) of the destination's document `id` of `decl`, whose
    /// stored body is `body`, rendered whole with the transaction (which reads the names it
    /// needs).
    fn stored_view(
        &mut self,
        decl: &CollectionDecl,
        id: DocId,
        body: &str,
    ) -> Result<Value, ImportError> {
        let (sealer, key) = (self.sealer, self.digest_key.clone());
        let body = codec::parse_stored(decl, id, body)?;
        let mut names = Names::new(&mut *self.txn);
        Self::dest_view(sealer, &key, &mut names, decl, id, body, &JsonPath::root())
    }

    /// The destination's versions of `ids` (documents of `decl`), each its stored body parsed
    /// (on every core), and the names of what they refer to, read in one batch: enough for any
    /// core to render them. A large version is left out (and noted): it is compared an element
    /// at a time.
    fn dest_bodies(
        &mut self,
        decl: &CollectionDecl,
        ids: &[DocId],
    ) -> Result<(HashMap<DocId, Value>, Addresses), ImportError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let mut docs = self.txn.get_many(ids)?;
        docs.retain(|doc| {
            let large = cuttle_instance::large::is_large(decl, doc.body.len());
            if large {
                self.large_dests.insert(doc.id);
            }
            !large
        });
        let parsed = parallel::map_in_order(&docs, |doc| {
            codec::parse_stored(decl, doc.id, &doc.body).map(|body| {
                let mut refers = Vec::new();
                for r in decl.refs {
                    let _ = path::for_each::<()>(&body, r.path, r.when.as_ref(), &mut |v, _| {
                        let id = match (r.scope, v) {
                            (RefScope::TenantTag, Value::String(s)) => {
                                s.split_once('/').and_then(|(set, _)| set.parse().ok())
                            }
                            (_, v) => v.as_i64(),
                        };
                        refers.extend(id);
                        Ok(())
                    });
                }
                (body, refers)
            })
        });
        let mut bodies = HashMap::with_capacity(docs.len());
        let mut referenced: BTreeSet<DocId> = BTreeSet::new();
        for (doc, parsed) in docs.iter().zip(parsed) {
            if doc.owner != NO_OWNER {
                referenced.insert(doc.owner);
            }
            let (body, refers) = parsed?;
            referenced.extend(refers);
            bodies.insert(doc.id, body);
        }
        drop(docs);
        let referenced: Vec<DocId> = referenced.into_iter().collect();
        let addresses = self.txn.addresses(&referenced)?;
        let mut names = Names::new(&mut *self.txn);
        names.seed(addresses);
        Ok((bodies, names.addresses()))
    }

    /// Once every document is planned: the destination's channels and triggers that overwritten
    /// projects do not bring are removed, unless that would orphan history or widen the scope of
    /// a kept variable.
    fn removals(
        &mut self,
        sink: &mut dyn PlanSink,
    ) -> Result<(Vec<DocId>, Vec<Blocker>), ImportError> {
        let mut removals = Vec::new();
        let mut blockers = Vec::new();
        let units = std::mem::take(&mut self.units);
        for (project, unit) in &units {
            let mut removed_channels: BTreeMap<DocId, String> = BTreeMap::new();
            for (collection, brought) in [
                (Collection::Channels, &unit.channels),
                (Collection::Triggers, &unit.triggers),
            ] {
                let mut rows = Vec::new();
                self.txn.scan(collection, Some(unit.id), &mut |doc| {
                    rows.push((doc.id, doc.key));
                    Ok(())
                })?;
                for (id, key) in rows {
                    let name = Names::new(&mut *self.txn).key_text(collection, &key)?;
                    if brought.contains(&name) {
                        continue;
                    }
                    if collection == Collection::Channels {
                        removed_channels.insert(id, name.clone());
                    }
                    removals.push(id);
                    self.count(collection, Action::Remove);
                    sink.event(PlanEvent::Document(&DocumentPlan {
                        collection: collection.decl().name,
                        project: Some(project.clone()),
                        key: name,
                        action: Action::Remove,
                        reason: Some(
                            "the destination's project has it and the imported project does not; a project's channels and triggers come whole".into(),
                        ),
                        hint: None,
                        source: None,
                        changes: Vec::new(),
                        notes: Vec::new(),
                    }))?;
                }
            }
            // History that uses a removed channel would be orphaned.
            if !removed_channels.is_empty() {
                let mut users: BTreeMap<DocId, Vec<String>> = BTreeMap::new();
                let mut rows = Vec::new();
                self.txn
                    .scan(Collection::Releases, Some(unit.id), &mut |doc| {
                        rows.push(doc);
                        Ok(())
                    })?;
                for doc in rows {
                    let body: Value = serde_json::from_str(&doc.body)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    if let Some(channel) = body.get("channel").and_then(Value::as_i64)
                        && removed_channels.contains_key(&channel)
                    {
                        let version =
                            Names::new(&mut *self.txn).key_text(Collection::Releases, &doc.key)?;
                        users.entry(channel).or_default().push(version);
                    }
                }
                for (channel, versions) in users {
                    let shown: Vec<String> =
                        versions.iter().take(5).map(|v| format!("{v:?}")).collect();
                    blockers.push(Blocker {
                        collection: "channels",
                        hint: None,
                        project: Some(project.clone()),
                        key: removed_channels[&channel].clone(),
                        message: format!(
                            "the imported project does not have this channel, so overwriting would remove it, but {} destination release{} use{} it ({}{}): that would orphan history. \
                             Add the channel to the source project and export again, or import without overwriting",
                            versions.len(),
                            if versions.len() == 1 { "" } else { "s" },
                            if versions.len() == 1 { "s" } else { "" },
                            shown.join(", "),
                            if versions.len() > 5 { ", …" } else { "" },
                        ),
                    });
                }
            }
            let removed_names: BTreeSet<&String> = removed_channels.values().collect();
            // A written document must not refer to a channel that is removed.
            for (channel, document, origin, at) in &unit.channel_refs {
                if removed_names.contains(channel) {
                    self.problems.push(Problem {
                        origin: Some(spool::origin(self.spool, *origin)),
                        line: None,
                        column: None,
                        document: document.clone(),
                        path: at.clone(),
                        message: format!(
                            "refers to the channel {channel:?}, which the imported project does not have: the overwrite would remove the destination's; add the channel to the export"
                        ),
                    });
                }
            }
            // A process the source does not bring stays, and must not refer to a removed channel.
            if !unit.has_process && !removed_channels.is_empty() {
                blockers.extend(self.kept_process_refs(project, unit.id, &removed_channels)?);
            }
            // A kept variable must not be scoped to what is removed.
            let kept = if unit.has_variables {
                unit.kept_variables.clone()
            } else {
                self.destination_variables(unit.id)?
            };
            for variable in kept {
                let scoped = |kind: &str| -> Vec<String> {
                    variable
                        .get("scope")
                        .and_then(|s| s.get(kind))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                };
                let lost_channels: Vec<String> = scoped("channels")
                    .into_iter()
                    .filter(|c| removed_names.contains(c))
                    .collect();
                let lost_steps: Vec<String> = scoped("steps")
                    .into_iter()
                    .filter(|s| unit.removed_steps.contains(s))
                    .collect();
                if lost_channels.is_empty() && lost_steps.is_empty() {
                    continue;
                }
                let mut what = Vec::new();
                if !lost_channels.is_empty() {
                    what.push(format!("channel {}", quoted(&lost_channels)));
                }
                if !lost_steps.is_empty() {
                    what.push(format!("step {}", quoted(&lost_steps)));
                }
                blockers.push(Blocker {
                    collection: "project-variables",
                    hint: None,
                    project: Some(project.clone()),
                    key: super::text_of(variable.get("name")),
                    message: format!(
                        "the destination's variable {:?} stays (the import does not bring it) but is scoped to {}, which the overwrite removes: its scope would widen. \
                         Bring the variable in the export, or change its scope in the destination first",
                        super::text_of(variable.get("name")),
                        what.join(" and ")
                    ),
                });
            }
        }
        Ok((removals, blockers))
    }

    /// Blockers for the destination's process of project `id`, which stays, where it refers to a
    /// channel that the overwrite removes.
    fn kept_process_refs(
        &mut self,
        project: &str,
        id: DocId,
        removed: &BTreeMap<DocId, String>,
    ) -> Result<Vec<Blocker>, ImportError> {
        let decl = Collection::DeploymentProcesses.decl();
        let mut rows = Vec::new();
        self.txn.scan(decl.collection, Some(id), &mut |doc| {
            rows.push(doc);
            Ok(())
        })?;
        let mut blockers = Vec::new();
        for doc in rows {
            let body: Value =
                serde_json::from_str(&doc.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for r in decl
                .refs
                .iter()
                .filter(|r| r.scope == RefScope::SameProject && r.target == Collection::Channels)
            {
                let _ = path::for_each::<()>(&body, r.path, r.when.as_ref(), &mut |v, at| {
                    if let Some(channel) = v.as_i64().and_then(|c| removed.get(&c)) {
                        blockers.push(Blocker {
                            collection: decl.name,
                            hint: None,
                            project: Some(project.to_owned()),
                            key: String::new(),
                            message: format!(
                                "the destination's deployment process stays (the import does not bring one), but at {at} it refers to the channel {channel:?}, which the overwrite removes. \
                                 Bring the project's deployment process in the export, or remove the channel from the destination's process first"
                            ),
                        });
                    }
                    Ok(())
                });
            }
        }
        Ok(blockers)
    }

    /// The destination's project variables of the project `id`, in the export shape.
    fn destination_variables(&mut self, id: DocId) -> Result<Vec<Value>, ImportError> {
        let mut rows = Vec::new();
        self.txn
            .scan(Collection::ProjectVariables, Some(id), &mut |doc| {
                rows.push(doc);
                Ok(())
            })?;
        let mut out = Vec::new();
        for doc in rows {
            let mut names = Names::new(&mut *self.txn);
            let view = codec::render(
                Collection::ProjectVariables.decl(),
                doc.id,
                &doc.body,
                &mut names,
                &mut codec::mask,
            )?;
            out.extend(
                view.get("variables")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }
}

/// The digest stand-in of a source's `{"masked": true}` before it is resolved.
const MASKED_DIGEST: &str = "=";

/// A source's `{"masked": true}` keeps the destination's value at the same place: its stand-in
/// takes the destination's digest.
fn resolve_masked(decl: &CollectionDecl, dest: &Value, merged: &mut Value) {
    let masked =
        |v: &Value| (v.get(DIGEST).and_then(Value::as_str) == Some(MASKED_DIGEST)).then_some(());
    for (at, ()) in codec::find_all(merged, &masked) {
        let pointer = at.pointer();
        let theirs = cuttle_instance::codec::locate(decl, merged, dest, &at)
            .and_then(|(v, _)| v.get(DIGEST).cloned());
        if let (Some(digest), Some(slot)) = (theirs, merged.pointer_mut(&pointer)) {
            slot[DIGEST] = digest;
        }
    }
}

/// The version of the release of a deployment (`value`: at least its identifying fields).
/// The stand-in of a destination's sensitive value in its view: masked, with the digest of its
/// plaintext.
fn masked_stand_in(digest: String) -> Value {
    json!({ "masked": true, DIGEST: digest })
}

fn release_of(value: &Value) -> String {
    super::text_of(value.get("release"))
}

/// Names for a message: `"A", "B"`.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn digest(key: &[u8; 32], plaintext: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(plaintext);
    hex_lower(&mac.finalize().into_bytes())
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_memo_is_emptied_past_its_bound_and_counts_each_address_once() {
        let mut memo = KeyIds::default();
        for _ in 0..3 {
            memo.insert(Collection::Releases, 7, "1.0.0", Some(9));
        }
        assert_eq!(memo.len, 1, "the same address, inserted again, is one");
        memo.bound();
        assert_eq!(
            memo.get(Collection::Releases, 7, "1.0.0"),
            Some(Some(9)),
            "under the bound, kept"
        );
        for n in 0..KeyIds::MAX {
            memo.insert(Collection::Deployments, 7, &n.to_string(), None);
        }
        assert_eq!(memo.len, KeyIds::MAX + 1);
        memo.bound();
        assert_eq!(memo.len, 0);
        assert_eq!(memo.get(Collection::Releases, 7, "1.0.0"), None);
    }
}
