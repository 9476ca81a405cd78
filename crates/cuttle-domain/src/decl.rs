//! The shape of a declaration: what the engine needs to know about a collection, as data.
//!
//! Every collection is declared exactly once, in [`crate::collections`]. Storage, validation,
//! export, closure, plan and apply read these declarations; none of them has per-type code where a
//! declaration can say it.

use serde_json::Value;

use crate::access::{Needs, Permission, ScopeFrom};
use crate::shape::{self, Refused};

/// A collection of documents: the first column of SPEC section 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    Environments,
    Machines,
    Accounts,
    Certificates,
    Feeds,
    Lifecycles,
    ProjectGroups,
    TagSets,
    StepTemplates,
    LibraryVariableSets,
    Projects,
    DeploymentProcesses,
    Channels,
    ProjectVariables,
    Triggers,
    Tenants,
    Users,
    UserRoles,
    Teams,
    Releases,
    Deployments,
    TaskLogs,
}

/// Who owns a document of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A top-level document, owned by the instance.
    Instance,
    /// A part of a project: its natural key is scoped by the project named in its `project` field.
    Project,
}

/// How a reference is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefScope {
    /// By natural key among the target collection's top-level documents (or, for a composite
    /// natural key, by an object holding the key's fields).
    Global,
    /// Among the documents of the target collection that belong to the same project as the
    /// referring document.
    SameProject,
    /// A tenant tag, written `Tag set/Tag`: resolves to the tag set, and the tag must exist in it.
    TenantTag,
}

/// A condition on the object that holds a reference: the reference applies only when `field`
/// holds one of `any_of` (for example a variable's value names an account when its type is an
/// account type).
#[derive(Clone, Copy, Debug)]
pub struct When {
    pub field: &'static str,
    pub any_of: &'static [&'static str],
}

/// A field that refers to another document by its natural key.
#[derive(Clone, Copy, Debug)]
pub struct RefDecl {
    /// Where the reference stands, in [`crate::path`] syntax: `environments[]`,
    /// `steps[]/actions[]/properties/Cuttle.Action.Account`.
    pub path: &'static str,
    pub target: Collection,
    pub scope: RefScope,
    pub when: Option<When>,
}

impl RefDecl {
    pub const fn global(path: &'static str, target: Collection) -> Self {
        RefDecl {
            path,
            target,
            scope: RefScope::Global,
            when: None,
        }
    }
    pub const fn same_project(path: &'static str, target: Collection) -> Self {
        RefDecl {
            path,
            target,
            scope: RefScope::SameProject,
            when: None,
        }
    }
    pub const fn tenant_tag(path: &'static str) -> Self {
        RefDecl {
            path,
            target: Collection::TagSets,
            scope: RefScope::TenantTag,
            when: None,
        }
    }
    pub const fn when(self, field: &'static str, any_of: &'static [&'static str]) -> Self {
        RefDecl {
            when: Some(When { field, any_of }),
            ..self
        }
    }
}

/// Where sensitive values may stand, and what decides that a place holds one.
#[derive(Clone, Copy, Debug)]
pub struct SensitiveField {
    /// In [`crate::path`] syntax. A free-form map (`properties`) may hold sensitive values among
    /// its members.
    pub path: &'static str,
    /// The field beside it, in the same object, that decides whether the place holds a
    /// sensitive value (a variable's `type`, an account's credentials' `kind`); `None` where the
    /// place always does, or (a free-form map) where each member says so itself.
    pub decided_by: Option<&'static str>,
}

impl SensitiveField {
    pub const fn at(path: &'static str) -> Self {
        SensitiveField {
            path,
            decided_by: None,
        }
    }
    pub const fn decided_by(self, field: &'static str) -> Self {
        SensitiveField {
            decided_by: Some(field),
            ..self
        }
    }
}

/// An array whose elements are identified by some of their fields: those fields must be unique
/// within the array, and they are how an element is matched between two versions of a document
/// (a variable by name and scope, a step or an action by name).
#[derive(Clone, Copy, Debug)]
pub struct KeyedArray {
    pub path: &'static str,
    pub key: &'static [&'static str],
}

/// A set-like array: its order carries no meaning, so it is kept sorted by byte order (of the
/// element itself, or of the field `by` when the elements are objects).
#[derive(Clone, Copy, Debug)]
pub struct SetArray {
    pub path: &'static str,
    pub by: Option<&'static str>,
}

impl SetArray {
    pub const fn of(path: &'static str) -> Self {
        SetArray { path, by: None }
    }
    pub const fn by(path: &'static str, field: &'static str) -> Self {
        SetArray {
            path,
            by: Some(field),
        }
    }
}

/// A collection's large array: the top-level keyed array that holds most of a large document (a
/// variable set's `variables`, a process's `steps`).
///
/// A large document is written, planned, exported and restored one element at a time (its
/// shape, names, sets, references, secrets, merge and changes), so that it costs its text and
/// one element instead of a tree of the whole (`cuttle_instance::large`). What that needs of
/// the declaration:
/// - the array is one of the collection's [`KeyedArray`]s, at the top;
/// - `shape` is the shape of one element; the document's own shape accepts the document with
///   the array empty, and checks each element as `shape` does and nothing across elements
///   (their keys are checked apart);
/// - the element's references, secrets, sets, keyed arrays and scripts are those declared under
///   `<field>[]/` ([`CollectionDecl::element_decl`]).
#[derive(Clone, Copy, Debug)]
pub struct Elements {
    pub field: &'static str,
    pub shape: fn(&str) -> Result<Value, Refused>,
}

/// What an import does with a document that already exists in the destination (SPEC 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeRule {
    /// Skip keeps the destination's document; overwrite replaces it whole.
    Replace,
    /// A project and everything it owns is one unit; its process, channels and triggers come
    /// wholesale on overwrite.
    ProjectUnit,
    /// A part of a project, imported with its project.
    ProjectPart,
    /// Overwrite takes the source's document, but these parts of it merge with the
    /// destination's instead of replacing them.
    Merge(&'static [Merged]),
    /// A user: overwrite replaces it, but never makes an active user inactive (the field
    /// holding whether it is active).
    KeepActive(&'static str),
    /// History: created when missing, never changed.
    CreateOnly,
}

impl MergeRule {
    /// The merged arrays of a [`MergeRule::Merge`] (none for the others).
    pub fn merged(self) -> &'static [Merged] {
        match self {
            MergeRule::Merge(merged) => merged,
            _ => &[],
        }
    }
}

/// An array that an overwrite merges instead of replacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merged {
    /// A keyed array ([`KeyedArray`]): the source's elements replace the destination's with the
    /// same key, the destination's others stay (a variable set's variables).
    ByKey(&'static str),
    /// A set ([`SetArray`]): it only grows (a team's members).
    Union(&'static str),
    /// An array of objects: the destination's all stay, the source's that are new are added
    /// (a team's role assignments).
    Append(&'static str),
    /// A keyed array whose elements hold a set at `set`: elements only grow, and so does each
    /// one's set (a tenant's project connections and their environments).
    Connections {
        path: &'static str,
        set: &'static str,
    },
}

impl Merged {
    /// The array's field.
    pub fn path(self) -> &'static str {
        match self {
            Merged::ByKey(path) | Merged::Union(path) | Merged::Append(path) => path,
            Merged::Connections { path, .. } => path,
        }
    }
}

/// What grants access (a team): adding a member or a role assignment does, and the plan lists
/// such changes first, apart (SPEC 6.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grants {
    /// The set of members (usernames).
    pub members: &'static str,
    /// The array of role assignments.
    pub role_assignments: &'static str,
    /// In a role assignment: the user role it assigns.
    pub role: &'static str,
    /// In a role assignment: the scopes that narrow it, each a set of names, with how people
    /// call it (`("projectGroups", "project groups")`).
    pub scopes: &'static [(&'static str, &'static str)],
}

/// A kind of document that a partial export may leave out (`--ignore-<name>` on the command
/// line); references to it are then resolved against the destination at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ignorable {
    Machines,
    Tenants,
    Certificates,
    /// Releases, deployments and task logs.
    History,
    /// Deployments and task logs (releases stay).
    Deployments,
}

impl Ignorable {
    pub const ALL: [Ignorable; 5] = [
        Ignorable::Machines,
        Ignorable::Tenants,
        Ignorable::Certificates,
        Ignorable::History,
        Ignorable::Deployments,
    ];

    /// Its name: in `--ignore-<name>` and in a manifest's `ignored`.
    pub fn name(self) -> &'static str {
        match self {
            Ignorable::Machines => "machines",
            Ignorable::Tenants => "tenants",
            Ignorable::Certificates => "certificates",
            Ignorable::History => "history",
            Ignorable::Deployments => "deployments",
        }
    }

    /// What leaving it out means, for people.
    pub fn about(self) -> &'static str {
        match self {
            Ignorable::Machines => "deployment targets (resolved by name at import)",
            Ignorable::Tenants => "tenants",
            Ignorable::Certificates => "certificates",
            Ignorable::History => "history: releases, deployments, task logs",
            Ignorable::Deployments => "deployments and task logs (releases stay)",
        }
    }
}

/// Where a collection's documents stand in an export (SPEC 5.1). File names are made from
/// natural keys by the export format's rule; see `cuttle-engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `<collection>/<name>.json`
    TopLevel,
    /// `projects/<project>/project.json`: a project's own document.
    Project,
    /// `projects/<project>/<file>`: a project's singleton part.
    ProjectFile(&'static str),
    /// `projects/<project>/<folder>/<name>.json`
    ProjectFolder(&'static str),
    /// `projects/<project>/releases/<release>/<folder>/<environment>[-<tenant>]-<number>.<extension>`,
    /// named after the deployment whose key fields stand at `key` (the document itself when
    /// empty).
    Deployment {
        folder: &'static str,
        extension: &'static str,
        key: &'static str,
    },
}

/// The declaration of one collection.
///
/// A declaration states only what differs from [`CollectionDecl::DEFAULT`] (a top-level
/// document named by its `name`, with no references, secrets or sets, replaced whole by an
/// overwrite): see `collections.rs`, and the crate's documentation for what a new collection
/// needs.
#[derive(Clone, Copy)]
pub struct CollectionDecl {
    pub collection: Collection,
    /// The collection's name on the command line and in the export.
    pub name: &'static str,
    /// One of its documents, as messages name it ("deployment target").
    pub singular: &'static str,
    /// One line for `--help` and the docs.
    pub about: &'static str,
    pub owner: Owner,
    /// The fields of the natural key, apart from the owning project. Empty for a project's
    /// singleton parts (its deployment process, its variables).
    pub key: &'static [&'static str],
    pub refs: &'static [RefDecl],
    /// Where sensitive values may stand, and what decides it (the values themselves are
    /// self-describing, see [`crate::sensitive`]).
    pub sensitive: &'static [SensitiveField],
    pub keyed_arrays: &'static [KeyedArray],
    pub sets: &'static [SetArray],
    pub merge: MergeRule,
    /// Key fields that hold numbers (all others hold text or references).
    pub numeric_key: &'static [&'static str],
    /// Where the collection's documents go in an export.
    pub layout: Layout,
    /// Where inline scripts stand (`{"syntax", "body"}` objects), extracted to files on export.
    pub scripts: &'static [&'static str],
    /// Release and deployment history.
    pub history: bool,
    /// The kinds whose `--ignore-<kind>` leaves this collection out of a partial export.
    pub left_out_by: &'static [Ignorable],
    /// What grants access, for a collection whose documents do (teams).
    pub grants: Option<Grants>,
    /// What each operation on its documents needs.
    pub needs: Needs,
    /// Where a document's scope comes from (none: it is in no project, environment or tenant).
    pub scope: &'static [ScopeFrom],
    /// Checks a document's text against its shape and gives it its canonical form (field order,
    /// defaults): [`shape::canonical`] of its typed document.
    pub shape: fn(&str) -> Result<Value, Refused>,
    /// The large array that a large document is processed by, an element at a time.
    pub elements: Option<Elements>,
}

impl std::fmt::Debug for CollectionDecl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionDecl")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The shape of a collection that declares none: refuses every document. (Every declaration
/// states its own.)
impl CollectionDecl {
    /// What a declaration says when it says nothing: a top-level document named by its `name`,
    /// with no references, sensitive values, keyed arrays, sets or scripts, that an overwrite
    /// replaces whole, stored in `<collection>/<name>.json`. Every declaration states its
    /// collection, names and shape.
    pub const DEFAULT: CollectionDecl = CollectionDecl {
        collection: Collection::Environments,
        name: "",
        singular: "",
        about: "",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        left_out_by: &[],
        grants: None,
        needs: Needs::view_edit(Permission::AdministerSystem, Permission::AdministerSystem),
        scope: &[],
        shape: shape::undeclared,
        elements: None,
    };

    /// The field that names a document (`name`, `username`, `version`), if it has one.
    pub fn name_field(&self) -> Option<&'static str> {
        match self.key {
            [single] => Some(single),
            _ => None,
        }
    }

    pub fn is_project_owned(&self) -> bool {
        self.owner == Owner::Project
    }

    /// The declaration of the place `pattern` (a path in [`crate::path`] syntax, `[]` for every
    /// index) where a sensitive value stands: the place itself, or a member of a free-form map.
    pub fn sensitive_at(&self, pattern: &str) -> Option<&'static SensitiveField> {
        self.sensitive.iter().find(|s| {
            pattern == s.path
                || pattern
                    .strip_prefix(s.path)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|member| !member.contains('/'))
        })
    }

    /// The declaration of one element of the collection's large array ([`Elements`]): the
    /// references, secrets, sets, keyed arrays and scripts declared under `<field>[]/`, relative
    /// to the element, and the element's shape. It has no key and no owner; its collection and
    /// name are the collection's (a sealed value is bound to them).
    pub fn element_decl(&self) -> Option<&'static CollectionDecl> {
        static DERIVED: std::sync::OnceLock<Vec<CollectionDecl>> = std::sync::OnceLock::new();
        self.elements?;
        DERIVED
            .get_or_init(|| {
                crate::collections::COLLECTIONS
                    .iter()
                    .filter_map(|decl| Some(decl.derive_element(decl.elements?)))
                    .collect()
            })
            .iter()
            .find(|d| d.collection == self.collection)
    }

    /// See [`CollectionDecl::element_decl`]. Called once per collection; what it builds lives
    /// as long as the declarations do.
    fn derive_element(&self, elements: Elements) -> CollectionDecl {
        let prefix = format!("{}[]/", elements.field);
        let under = |path: &'static str| path.strip_prefix(prefix.as_str());
        fn kept<T: Copy>(all: &[T], keep: impl FnMut(&T) -> Option<T>) -> &'static [T] {
            Vec::leak(all.iter().filter_map(keep).collect())
        }
        CollectionDecl {
            key: &[],
            owner: Owner::Instance,
            refs: kept(self.refs, |r| {
                Some(RefDecl {
                    path: under(r.path)?,
                    ..*r
                })
            }),
            sensitive: kept(self.sensitive, |s| {
                Some(SensitiveField {
                    path: under(s.path)?,
                    ..*s
                })
            }),
            keyed_arrays: kept(self.keyed_arrays, |k| {
                Some(KeyedArray {
                    path: under(k.path)?,
                    ..*k
                })
            }),
            sets: kept(self.sets, |s| {
                Some(SetArray {
                    path: under(s.path)?,
                    ..*s
                })
            }),
            scripts: kept(self.scripts, |s| under(s)),
            merge: MergeRule::Replace,
            numeric_key: &[],
            grants: None,
            scope: &[],
            shape: elements.shape,
            elements: None,
            ..*self
        }
    }

    /// The reference declared at a key field, if that key field is a reference.
    pub fn key_ref(&self, field: &str) -> Option<&'static RefDecl> {
        self.refs.iter().find(|r| r.path == field)
    }
}
