//! The closure of a partial export (SPEC 5.10): the selected projects with everything they own,
//! and, transitively, everything those documents refer to — history included, so that a library
//! variable set that only a release still names comes along — so that the result imports into
//! an empty instance.
//!
//! By default it also takes the deployment targets in the exported environments whose target
//! roles the selected processes use, and the tenants connected to the selected projects; a
//! tenant always comes with only its connections to (and variables of) the selected projects,
//! so that taking a tenant never drags in another project. The `--ignore-*` kinds are never
//! taken: references to them stay names, resolved against the destination at import.
//!
//! Only the selected projects' documents and what they reach are read: the cost follows the
//! selection, not the instance (apart from one pass over the machines and tenants for the two
//! default rules, and the instance's keys).

use std::collections::{BTreeMap, HashMap, HashSet};

use cuttle_domain::decl::RefScope;
use cuttle_domain::path;
use cuttle_domain::{COLLECTIONS, Collection, Ignorable, names};
use cuttle_instance::error::{Hint, Message};
use cuttle_store::{DocId, NO_OWNER, ReadTxn, StoreError};
use serde_json::Value;

/// What a partial export selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub projects: Vec<String>,
    pub project_groups: Vec<String>,
    pub ignore: Ignore,
}

/// The kinds a partial export leaves out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Ignore {
    pub machines: bool,
    pub tenants: bool,
    pub certificates: bool,
    /// Releases, deployments and task logs.
    pub history: bool,
    /// Deployments and task logs (releases stay).
    pub deployments: bool,
}

impl Ignore {
    /// Whether documents of `collection` are left out (its declaration's `left_out_by`).
    pub fn excludes(&self, collection: Collection) -> bool {
        collection
            .decl()
            .left_out_by
            .iter()
            .any(|kind| self.ignores(*kind))
    }

    /// Whether `kind` is left out.
    pub fn ignores(&self, kind: Ignorable) -> bool {
        match kind {
            Ignorable::Machines => self.machines,
            Ignorable::Tenants => self.tenants,
            Ignorable::Certificates => self.certificates,
            Ignorable::History => self.history,
            Ignorable::Deployments => self.deployments,
        }
    }

    /// Leaves `kind` out.
    pub fn set(&mut self, kind: Ignorable) {
        *match kind {
            Ignorable::Machines => &mut self.machines,
            Ignorable::Tenants => &mut self.tenants,
            Ignorable::Certificates => &mut self.certificates,
            Ignorable::History => &mut self.history,
            Ignorable::Deployments => &mut self.deployments,
        } = true;
    }

    /// The kinds left out, in the order of [`Ignorable::ALL`].
    pub fn kinds(&self) -> impl Iterator<Item = Ignorable> + '_ {
        Ignorable::ALL.into_iter().filter(|k| self.ignores(*k))
    }

    /// The names of the ignored kinds, for the manifest (sorted).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.kinds().map(|k| k.name().to_owned()).collect();
        names.sort();
        names
    }
}

/// The documents of a partial export.
#[derive(Debug, Default)]
pub struct Closure {
    /// By collection, in declaration order; ids ordered by owner and key.
    pub documents: BTreeMap<usize, (Collection, Vec<DocId>)>,
    /// The selected projects, by id and name.
    pub projects: BTreeMap<DocId, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    #[error("{0}")]
    Selection(Message),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn body(txn: &mut dyn ReadTxn, id: DocId) -> Result<Value, StoreError> {
    let doc = txn
        .get(id)?
        .ok_or_else(|| StoreError::Corrupt(format!("document {id} vanished")))?;
    serde_json::from_str(&doc.body).map_err(|e| StoreError::Corrupt(format!("document {id}: {e}")))
}

/// The ids a stored document refers to (a tenant tag by its tag set).
fn references(collection: Collection, body: &Value) -> Vec<(Collection, DocId)> {
    let mut out = Vec::new();
    for r in collection.decl().refs {
        let _ = path::for_each::<()>(body, r.path, r.when.as_ref(), &mut |v, _| {
            let id = match (r.scope, v) {
                (RefScope::TenantTag, Value::String(s)) => {
                    s.split_once('/').and_then(|(id, _)| id.parse().ok())
                }
                (_, v) => v.as_i64(),
            };
            if let Some(id) = id {
                out.push((r.target, id));
            }
            Ok(())
        });
    }
    out
}

fn ids_in(body: &Value, field: &str) -> impl Iterator<Item = DocId> {
    body.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
}

/// Computes the closure of `selection` inside a read snapshot.
pub fn closure(txn: &mut dyn ReadTxn, selection: &Selection) -> Result<Closure, ClosureError> {
    let ignore = selection.ignore;
    // Every document's address: owners and keys, without bodies.
    let mut addresses: HashMap<DocId, (Collection, DocId, String)> = HashMap::new();
    let mut owned: HashMap<DocId, Vec<DocId>> = HashMap::new();
    for decl in COLLECTIONS {
        txn.scan_keys(decl.collection, &mut |row| {
            if row.owner != NO_OWNER {
                owned.entry(row.owner).or_default().push(row.id);
            }
            addresses.insert(row.id, (decl.collection, row.owner, row.key));
            Ok(())
        })?;
    }
    let find = |collection: Collection, name: &str| {
        let name = cuttle_domain::names::nfc(name);
        addresses
            .iter()
            .find(|(_, (c, o, k))| *c == collection && *o == NO_OWNER && *k == name)
            .map(|(id, _)| *id)
    };

    // The selected projects.
    let mut projects = BTreeMap::new();
    for name in &selection.projects {
        let id = find(Collection::Projects, name).ok_or_else(|| {
            ClosureError::Selection(
                format!("there is no project named {}", names::quoted(name)).into(),
            )
        })?;
        projects.insert(id, addresses[&id].2.clone());
    }
    let mut groups = HashSet::new();
    for name in &selection.project_groups {
        let id = find(Collection::ProjectGroups, name).ok_or_else(|| {
            ClosureError::Selection(
                format!("there is no project group named {}", names::quoted(name)).into(),
            )
        })?;
        groups.insert(id);
    }
    if !groups.is_empty() {
        let mut in_groups = Vec::new();
        txn.scan(Collection::Projects, None, &mut |doc| {
            let body: Value =
                serde_json::from_str(&doc.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if body
                .get("projectGroup")
                .and_then(Value::as_i64)
                .is_some_and(|g| groups.contains(&g))
            {
                in_groups.push((doc.id, doc.key));
            }
            Ok(())
        })?;
        projects.extend(in_groups);
    }
    if projects.is_empty() {
        return Err(ClosureError::Selection(Message::hinted(
            "the selection holds no project",
            Hint::SelectProjects,
        )));
    }

    let mut included: HashSet<DocId> = HashSet::new();
    let mut queue: Vec<DocId> = Vec::new();
    let take = |id: DocId, included: &mut HashSet<DocId>, queue: &mut Vec<DocId>| {
        if included.insert(id) {
            queue.push(id);
        }
    };
    for &project in projects.keys() {
        take(project, &mut included, &mut queue);
        for &part in owned.get(&project).into_iter().flatten() {
            if !ignore.excludes(addresses[&part].0) {
                take(part, &mut included, &mut queue);
            }
        }
    }

    // Target roles the selected processes use, for the default machine rule.
    let mut roles: HashSet<String> = HashSet::new();
    let mut rules_done = false;
    loop {
        while let Some(id) = queue.pop() {
            let (collection, _, _) = addresses[&id];
            let mut body = body(txn, id)?;
            if collection == Collection::Tenants {
                // What the export keeps of a tenant is all it may bring.
                trim_tenant(&mut body, &|project| {
                    project.as_i64().is_some_and(|p| projects.contains_key(&p))
                });
            }
            if collection == Collection::DeploymentProcesses {
                for step in body
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    roles.extend(
                        step.get("targetRoles")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_owned),
                    );
                }
            }
            for (target, referenced) in references(collection, &body) {
                // Projects come only by selection: a tenant or a team naming another project
                // does not bring it.
                if target == Collection::Projects || ignore.excludes(target) {
                    continue;
                }
                take(referenced, &mut included, &mut queue);
            }
        }
        if rules_done {
            break;
        }
        // The default rules, once the closure of the selection is known; what they bring is
        // closed over in turn (a target in two environments brings the second).
        rules_done = true;
        let environments: HashSet<DocId> = included
            .iter()
            .filter(|id| addresses[id].0 == Collection::Environments)
            .copied()
            .collect();
        if !ignore.machines {
            let mut matching = Vec::new();
            txn.scan(Collection::Machines, None, &mut |doc| {
                let body: Value = serde_json::from_str(&doc.body)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let in_environment =
                    ids_in(&body, "environments").any(|e| environments.contains(&e));
                let has_role = body
                    .get("roles")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|r| roles.contains(r));
                if in_environment && has_role {
                    matching.push(doc.id);
                }
                Ok(())
            })?;
            for id in matching {
                take(id, &mut included, &mut queue);
            }
        }
        if !ignore.tenants {
            let mut connected = Vec::new();
            txn.scan(Collection::Tenants, None, &mut |doc| {
                let body: Value = serde_json::from_str(&doc.body)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let connections = body
                    .get("projects")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                if connections
                    .filter_map(|c| c.get("project")?.as_i64())
                    .any(|p| projects.contains_key(&p))
                {
                    connected.push(doc.id);
                }
                Ok(())
            })?;
            for id in connected {
                take(id, &mut included, &mut queue);
            }
        }
    }

    let mut documents: BTreeMap<usize, (Collection, Vec<DocId>)> = BTreeMap::new();
    for id in included {
        let (collection, _, _) = addresses[&id];
        let position = COLLECTIONS
            .iter()
            .position(|d| d.collection == collection)
            .unwrap_or(usize::MAX);
        documents
            .entry(position)
            .or_insert_with(|| (collection, Vec::new()))
            .1
            .push(id);
    }
    for (_, ids) in documents.values_mut() {
        ids.sort_by(|a, b| {
            let (a, b) = (&addresses[a], &addresses[b]);
            (a.1, a.2.as_bytes()).cmp(&(b.1, b.2.as_bytes()))
        });
    }
    Ok(Closure {
        documents,
        projects,
    })
}

/// Keeps only what a tenant holds of the selected projects: its connections to them and its
/// variables that belong to no project or to one of them. `selected` tells whether a `project`
/// value (a name in the export shape, an id in the stored one) is selected.
pub fn trim_tenant(tenant: &mut Value, selected: &dyn Fn(&Value) -> bool) {
    for field in ["projects", "variables"] {
        if let Some(Value::Array(items)) = tenant.get_mut(field) {
            items.retain(|item| match item.get("project") {
                None | Some(Value::Null) => true,
                Some(project) => selected(project),
            });
        }
    }
}
