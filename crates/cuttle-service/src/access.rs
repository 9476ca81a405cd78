//! Who is asking, and what they may do: the grants of the teams a user belongs to, from the
//! instance's own teams and user roles (SPEC 9), checked against a document's scope.
//!
//! [`Access::host`] is the host's administrator at the command line: everything is allowed, and
//! writes are audited as theirs. A user's access ([`Session::access_of`]) is every role
//! assignment of every team that has the user among its members, each with its role's
//! permissions and its scope; nothing is allowed that none of them allows. A read-only API key
//! keeps only the permissions that read ([`Needs::view`] of some collection, `AuditView`,
//! `TaskView`).

use std::collections::{BTreeMap, BTreeSet};

use cuttle_domain::access::{Dimension, Operation, Permission, ScopeFrom};
use cuttle_domain::{COLLECTIONS, Collection, CollectionDecl};
use cuttle_instance::documents;
use cuttle_store::{ReadTxn, Store};
use serde::Serialize;
use serde_json::Value;

use crate::Session;
use crate::error::{Error, ErrorKind, Result};

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Actor {
    /// The host's administrator, at the command line (the operating system's user).
    Host { user: String },
    /// An instance's user, through an API key (its id) or a web session.
    User {
        username: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        api_key: Option<i64>,
    },
}

impl Actor {
    /// The host's administrator: the operating system's user running the command.
    pub fn host() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(os_user_id);
        Actor::Host { user }
    }

    /// How the audit log names them.
    pub fn name(&self) -> String {
        match self {
            Actor::Host { user } => format!("host:{user}"),
            Actor::User { username, .. } => username.clone(),
        }
    }
}

/// The process's user id, where no variable names the user.
fn os_user_id() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return format!("uid {}", meta.uid());
        }
    }
    "unknown".into()
}

/// A role assignment, as it applies to its team's members.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Grant {
    team: String,
    role: String,
    permissions: BTreeSet<Permission>,
    /// The names each dimension is narrowed to (a dimension absent is not narrowed).
    scope: BTreeMap<Dimension, BTreeSet<String>>,
}

impl Grant {
    fn covers(&self, scope: &Scope) -> bool {
        let narrowed = |d: Dimension| self.scope.get(&d).filter(|names| !names.is_empty());
        // Projects and project groups narrow one thing: the document's project.
        let projects = narrowed(Dimension::Projects);
        let groups = narrowed(Dimension::ProjectGroups);
        if (projects.is_some() || groups.is_some()) && scope.has(Dimension::Projects) {
            let by_project = projects.is_some_and(|p| scope.meets(Dimension::Projects, p));
            let by_group = groups.is_some_and(|g| scope.meets(Dimension::ProjectGroups, g));
            if !by_project && !by_group {
                return false;
            }
        } else if let Some(groups) = groups
            && scope.has(Dimension::ProjectGroups)
            && !scope.meets(Dimension::ProjectGroups, groups)
        {
            // A project group's own document.
            return false;
        }
        [Dimension::Environments, Dimension::Tenants]
            .into_iter()
            .all(|d| match narrowed(d) {
                Some(names) if scope.has(d) => scope.meets(d, names),
                _ => true,
            })
    }
}

/// Where a document stands: for each dimension it has, the names it is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(BTreeMap<Dimension, BTreeSet<String>>);

impl Scope {
    fn has(&self, d: Dimension) -> bool {
        self.0.contains_key(&d)
    }
    fn meets(&self, d: Dimension, names: &BTreeSet<String>) -> bool {
        self.0.get(&d).is_some_and(|mine| !mine.is_disjoint(names))
    }

    /// The scope of `value`, a document of `decl` in the export shape; `group_of` gives a
    /// project's group.
    pub fn of(
        decl: &CollectionDecl,
        value: &Value,
        group_of: &mut dyn FnMut(&str) -> Result<Option<String>>,
    ) -> Result<Scope> {
        let mut scope: BTreeMap<Dimension, BTreeSet<String>> = BTreeMap::new();
        for from in decl.scope {
            match *from {
                ScopeFrom::Itself(d) => {
                    let name = decl
                        .name_field()
                        .and_then(|f| value.get(f))
                        .and_then(Value::as_str);
                    scope.entry(d).or_default().extend(name.map(str::to_owned));
                }
                ScopeFrom::Field(path, d) => {
                    // No names there (an account usable in every environment, an untenanted
                    // deployment): the document is not narrowed in that dimension.
                    let mut names = BTreeSet::new();
                    let _ = cuttle_domain::path::for_each::<()>(value, path, None, &mut |v, _| {
                        names.extend(v.as_str().map(str::to_owned));
                        Ok(())
                    });
                    if !names.is_empty() {
                        scope.entry(d).or_default().extend(names);
                    }
                }
                ScopeFrom::Project => {
                    let project = value.get("project").and_then(Value::as_str);
                    let group = match project {
                        Some(p) => group_of(p)?,
                        None => None,
                    };
                    scope
                        .entry(Dimension::Projects)
                        .or_default()
                        .extend(project.map(str::to_owned));
                    scope
                        .entry(Dimension::ProjectGroups)
                        .or_default()
                        .extend(group);
                }
            }
        }
        // A project's group narrows its project, as for its parts.
        if scope.contains_key(&Dimension::Projects) {
            scope.entry(Dimension::ProjectGroups).or_default();
        }
        Ok(Scope(scope))
    }

    /// Puts the document in dimension `d`: under `name`, or (`None`) under a name not known,
    /// which only a grant not narrowed in `d` covers.
    pub(crate) fn add(&mut self, d: Dimension, name: Option<&str>) {
        self.0.entry(d).or_default().extend(name.map(str::to_owned));
    }

    /// The names, for a message: `project "Web", environments "Production"`.
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(_, names)| !names.is_empty())
            .map(|(d, names)| {
                let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                format!("{} {}", d.field(), names.join(", "))
            })
            .collect();
        if parts.is_empty() {
            "any scope".into()
        } else {
            parts.join("; ")
        }
    }
}

/// What an actor may do.
#[derive(Clone, Debug)]
pub struct Access {
    actor: Actor,
    /// `None`: everything (the host's administrator, or `AdministerSystem`).
    grants: Option<Vec<Grant>>,
    read_only: bool,
}

/// Why a request is refused: the permission missing, in which scope, and which teams would
/// grant it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub permission: Permission,
    pub scope: String,
    /// Teams with a role assignment that grants the permission in that scope (their members
    /// may do it).
    pub teams: Vec<String>,
}

impl Access {
    /// The host's administrator: everything.
    pub fn host() -> Access {
        Access {
            actor: Actor::host(),
            grants: None,
            read_only: false,
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Whether the actor may do everything (no scope to check).
    pub fn sees_everything(&self) -> bool {
        self.grants.is_none() && !self.read_only
    }

    /// Whether this is an API key that only reads.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    fn permits(&self, permission: Permission) -> bool {
        !self.read_only || is_reading(permission)
    }

    /// Whether the actor holds `permission` in some scope: what a route checks before it looks
    /// at any document.
    pub fn may_at_all(&self, permission: Permission) -> bool {
        self.permits(permission)
            && self
                .grants
                .as_ref()
                .is_none_or(|grants| grants.iter().any(|g| g.permissions.contains(&permission)))
    }

    /// Whether the actor holds `permission` for a document in `scope`.
    pub fn may(&self, permission: Permission, scope: &Scope) -> bool {
        self.permits(permission)
            && self.grants.as_ref().is_none_or(|grants| {
                grants
                    .iter()
                    .any(|g| g.permissions.contains(&permission) && g.covers(scope))
            })
    }

    /// The permissions the actor holds somewhere, for `whoami`.
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.may_at_all(*p))
            .collect()
    }

    /// Refuses `what` unless the actor holds `permission` at all.
    pub fn require(&self, permission: Permission, what: &str) -> Result<()> {
        if self.may_at_all(permission) {
            return Ok(());
        }
        Err(self.refused(permission, &Scope::default(), what, Vec::new()))
    }

    fn refused(
        &self,
        permission: Permission,
        scope: &Scope,
        what: &str,
        teams: Vec<String>,
    ) -> Error {
        let refusal = Refusal {
            permission,
            scope: scope.describe(),
            teams,
        };
        let mut message = format!(
            "{} may not {what}: that needs the permission {permission} in {}",
            self.actor.name(),
            refusal.scope
        );
        if self.read_only && !is_reading(permission) {
            message.push_str(" (and the API key used only reads)");
        } else if refusal.teams.is_empty() {
            message.push_str("; no team's role assignment grants it there");
        } else {
            message.push_str(&format!(
                "; a member of {} would have it",
                refusal
                    .teams
                    .iter()
                    .map(|t| format!("{t:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Error {
            refusal: Some(Box::new(refusal)),
            ..Error::new(ErrorKind::Forbidden, message)
        }
    }
}

/// Whether a permission only lets one read.
fn is_reading(permission: Permission) -> bool {
    matches!(
        permission,
        Permission::AuditView | Permission::TaskView | Permission::ExportData
    ) || COLLECTIONS.iter().any(|d| d.needs.view == permission)
}

/// The teams and user roles of an instance, as grants (every team's, members or not).
#[derive(Debug)]
struct Teams {
    /// (members, grants) per team.
    teams: Vec<(BTreeSet<String>, Vec<Grant>)>,
}

/// The teams of a session's instance as of an access generation (see
/// [`cuttle_instance::documents::affects_access`]): loaded again only when a write changed what
/// they are computed from, on any server of the instance.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    generation: Option<String>,
    teams: Option<std::sync::Arc<Teams>>,
    /// The access of API keys seen (by their hash), and when each key expires.
    keys: std::collections::HashMap<String, (Access, Option<i64>)>,
}

/// Keys remembered at most per session (beyond, the cache starts over).
const KEYS_REMEMBERED: usize = 10_000;

impl Cache {
    /// Forgets everything if the instance's access generation moved on.
    pub(crate) fn sync(&mut self, txn: &mut dyn ReadTxn) -> Result<()> {
        let generation = txn.meta(cuttle_store::meta::ACCESS_GENERATION)?;
        self.sync_to(generation.unwrap_or_default());
        Ok(())
    }

    /// [`Cache::sync`], with the generation as of now, read on its own: one round trip to a
    /// server database where a read transaction takes four.
    pub(crate) fn sync_now(&mut self, store: &mut dyn Store) -> Result<()> {
        let generation = store.peek_meta(cuttle_store::meta::ACCESS_GENERATION)?;
        self.sync_to(generation.unwrap_or_default());
        Ok(())
    }

    fn sync_to(&mut self, generation: String) {
        if self.generation.as_deref() != Some(generation.as_str()) {
            *self = Cache {
                generation: Some(generation),
                ..Cache::default()
            };
        }
    }

    fn teams(&mut self, txn: &mut dyn ReadTxn) -> Result<std::sync::Arc<Teams>> {
        self.sync(txn)?;
        if let Some(teams) = &self.teams {
            return Ok(teams.clone());
        }
        let teams = std::sync::Arc::new(load_teams(txn)?);
        self.teams = Some(teams.clone());
        Ok(teams)
    }

    /// The access of the key with this hash, if known and not expired at `now`.
    pub(crate) fn key(&self, hash: &str, now: i64) -> Option<Access> {
        self.keys
            .get(hash)
            .filter(|(_, expires)| expires.is_none_or(|e| now < e))
            .map(|(access, _)| access.clone())
    }

    pub(crate) fn remember(&mut self, hash: String, access: Access, expires: Option<i64>) {
        if self.keys.len() >= KEYS_REMEMBERED {
            self.keys.clear();
        }
        self.keys.insert(hash, (access, expires));
    }
}

fn load_teams(txn: &mut dyn ReadTxn) -> Result<Teams> {
    let grants_decl = COLLECTIONS
        .iter()
        .find(|d| d.grants.is_some())
        .expect("a collection grants access");
    let declared = grants_decl.grants.expect("just found");
    let mut roles: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
    for doc in scan(txn, Collection::UserRoles)? {
        let name = text(&doc, "name");
        let permissions = doc
            .get("permissions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().and_then(Permission::from_name))
            .collect();
        roles.insert(name, permissions);
    }
    let mut teams = Vec::new();
    for doc in scan(txn, grants_decl.collection)? {
        let team = text(&doc, "name");
        let members: BTreeSet<String> = names_at(&doc, declared.members);
        let grants = doc
            .get(declared.role_assignments)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|assignment| {
                let role = assignment
                    .get(declared.role)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Grant {
                    team: team.clone(),
                    permissions: roles.get(&role).cloned().unwrap_or_default(),
                    role,
                    scope: Dimension::ALL
                        .into_iter()
                        .map(|d| (d, names_at(assignment, d.field())))
                        .collect(),
                }
            })
            .collect();
        teams.push((members, grants));
    }
    Ok(Teams { teams })
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn names_at(value: &Value, field: &str) -> BTreeSet<String> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Every document of a collection, in the export shape (masked).
fn scan(txn: &mut dyn ReadTxn, collection: Collection) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    txn.scan(collection, None, &mut |doc| {
        rows.push(doc);
        Ok(())
    })?;
    rows.iter()
        .map(|doc| Ok(documents::show(txn, doc)?))
        .collect()
}

impl Session {
    /// The access of the user `username`, or why they have none (no such user, or a user who
    /// is not active).
    pub fn access_of(
        &mut self,
        username: &str,
        api_key: Option<i64>,
        read_only: bool,
    ) -> Result<Access> {
        let mut read = self.instance.store().read()?;
        Session::access_in(&mut *read, &mut self.access, username, api_key, read_only)
    }

    pub(crate) fn access_in(
        txn: &mut dyn ReadTxn,
        cache: &mut Cache,
        username: &str,
        api_key: Option<i64>,
        read_only: bool,
    ) -> Result<Access> {
        let unauthenticated = || {
            Error::new(
                ErrorKind::Unauthenticated,
                "the credentials name no active user of this instance",
            )
        };
        let user = documents::find(
            txn,
            &documents::Address {
                collection: Collection::Users,
                project: None,
                key: Some(username),
            },
        )
        .map_err(|_| unauthenticated())?;
        let user = documents::show(txn, &user)?;
        if user.get("isActive").and_then(Value::as_bool) == Some(false) {
            return Err(unauthenticated());
        }
        let teams = cache.teams(txn)?;
        let grants: Vec<Grant> = teams
            .teams
            .iter()
            .filter(|(members, _)| members.contains(username))
            .flat_map(|(_, grants)| grants.iter().cloned())
            .collect();
        let admin = grants.iter().any(|g| {
            g.permissions.contains(&Permission::AdministerSystem)
                && g.scope.values().all(BTreeSet::is_empty)
        });
        Ok(Access {
            actor: Actor::User {
                username: username.to_owned(),
                api_key,
            },
            grants: (!admin).then_some(grants),
            read_only,
        })
    }

    /// Refuses `operation` on `value` (a document of `decl` in the export shape) unless `access`
    /// allows it in the document's scope.
    pub(crate) fn authorize(
        txn: &mut dyn ReadTxn,
        access: &Access,
        decl: &CollectionDecl,
        operation: Operation,
        value: &Value,
        what: &str,
    ) -> Result<()> {
        let permission = decl.needs.of(operation);
        if access.grants.is_none() && access.permits(permission) {
            return Ok(());
        }
        let scope = Scope::of(decl, value, &mut |project| group_of(txn, project))?;
        if access.may(permission, &scope) {
            return Ok(());
        }
        let teams = load_teams(txn)?
            .teams
            .into_iter()
            .flat_map(|(_, grants)| grants)
            .filter(|g| g.permissions.contains(&permission) && g.covers(&scope))
            .map(|g| g.team)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Err(access.refused(permission, &scope, what, teams))
    }
}

/// The group of the project `project`, if it exists and has one.
pub(crate) fn group_of(txn: &mut dyn ReadTxn, project: &str) -> Result<Option<String>> {
    let found = documents::find(
        txn,
        &documents::Address {
            collection: Collection::Projects,
            project: None,
            key: Some(project),
        },
    );
    match found {
        Ok(doc) => Ok(documents::show(txn, &doc)?
            .get("projectGroup")
            .and_then(Value::as_str)
            .map(str::to_owned)),
        Err(_) => Ok(None),
    }
}
