//! Who may import what (SPEC 9): an import needs `ImportData`, and for every document its plan
//! writes (create, overwrite, merge, remove) the permission that writing that document needs in
//! its scope, as its collection's declaration says. Adding a member or a role assignment to a
//! team is a write of the team (`TeamEdit`). The plan is made whole first; then, before anything
//! is written, every write the caller may not make is reported (as the plan's blockers) and the
//! import is refused: a person with rights over one project promotes that project, and nothing
//! else.
//!
//! A planned document is known by its address (collection, project, key), so its scope is what
//! its address says: its own name, its project and that project's group (as the destination
//! has it). A dimension a document takes from its fields (a deployment target's environments,
//! a deployment's tenant) is taken as unknown: only a grant not narrowed in that dimension
//! allows the write. That is stricter than a write through the API, never looser.

use std::collections::HashMap;

use cuttle_domain::access::{Operation, ScopeFrom};
use cuttle_domain::{COLLECTIONS, CollectionDecl};
use cuttle_engine::import::{Action, Blocker, DocumentPlan, PlanEvent, PlanSink};

use crate::access::{Access, Scope};

/// A [`PlanSink`] that passes every event on and notes each write `access` may not make; at
/// the end of the plan it refuses the import if there is any.
pub(crate) struct Gate<'a> {
    inner: &'a mut dyn PlanSink,
    access: &'a Access,
    /// Each destination project's group; `None`: no checks (the caller may do everything).
    groups: Option<HashMap<String, Option<String>>>,
    /// The writes refused, as blockers of the plan.
    pub(crate) refused: Vec<Blocker>,
    /// The audit entry of the import, written in its transaction just before it commits (so
    /// that the entry and the import commit together or not at all).
    pub(crate) on_commit: Option<crate::audit::Audit>,
}

impl<'a> Gate<'a> {
    pub(crate) fn new(
        inner: &'a mut dyn PlanSink,
        access: &'a Access,
        groups: Option<HashMap<String, Option<String>>>,
    ) -> Self {
        Gate {
            inner,
            access,
            groups,
            refused: Vec::new(),
            on_commit: None,
        }
    }

    fn check(&mut self, plan: &DocumentPlan) {
        let Some(groups) = &self.groups else { return };
        let operation = match plan.action {
            Action::Create => Operation::Create,
            Action::Overwrite | Action::Merge => Operation::Edit,
            Action::Remove => Operation::Delete,
            Action::Skip | Action::Unchanged => return,
        };
        let Some(decl) = COLLECTIONS.iter().find(|d| d.name == plan.collection) else {
            return;
        };
        let permission = decl.needs.of(operation);
        let scope = address_scope(decl, plan.project.as_deref(), &plan.key, groups);
        if !self.access.may(permission, &scope) {
            self.refused.push(Blocker {
                collection: plan.collection,
                project: plan.project.clone(),
                key: plan.key.clone(),
                message: format!(
                    "{} may not {} it: that needs the permission {permission} in {}",
                    self.access.actor().name(),
                    verb(plan.action),
                    scope.describe()
                ),
                hint: None,
            });
        }
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Overwrite => "overwrite",
        Action::Merge => "merge into",
        Action::Remove => "remove",
        Action::Skip | Action::Unchanged => "leave",
    }
}

/// The scope of a document known by its address (see the module's documentation).
fn address_scope(
    decl: &CollectionDecl,
    project: Option<&str>,
    key: &str,
    groups: &HashMap<String, Option<String>>,
) -> Scope {
    use cuttle_domain::access::Dimension;
    let mut scope = Scope::default();
    for from in decl.scope {
        match *from {
            ScopeFrom::Itself(d) => scope.add(d, Some(key)),
            ScopeFrom::Project => {
                scope.add(Dimension::Projects, project);
                // A project the destination lacks has no group yet: an unknown one.
                let group = project.and_then(|p| groups.get(p).cloned().flatten());
                scope.add(Dimension::ProjectGroups, group.as_deref());
            }
            // A project's group is known from the destination; every other field, unknown.
            ScopeFrom::Field(_, Dimension::ProjectGroups) if decl.name == "projects" => {
                let group = groups.get(key).cloned().flatten();
                scope.add(Dimension::ProjectGroups, group.as_deref());
            }
            ScopeFrom::Field(_, d) => scope.add(d, None),
        }
    }
    scope
}

impl PlanSink for Gate<'_> {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        if let PlanEvent::Document(plan) = &event {
            self.check(plan);
        }
        self.inner.event(event)
    }

    fn confirm(&mut self) -> std::io::Result<()> {
        if !self.refused.is_empty() {
            for blocker in &self.refused {
                self.inner.event(PlanEvent::Blocker(blocker))?;
            }
            return Err(std::io::Error::other("writes the caller may not make"));
        }
        self.inner.confirm()
    }

    fn committing(
        &mut self,
        txn: &mut dyn cuttle_store::WriteTxn,
    ) -> Result<(), cuttle_engine::import::ImportError> {
        if let Some(entry) = &self.on_commit {
            entry.write(txn).map_err(|e| {
                cuttle_engine::import::ImportError::Output(std::io::Error::other(e.message))
            })?;
        }
        self.inner.committing(txn)
    }
}

/// Whether `access` needs its writes checked one by one (it cannot do everything).
pub(crate) fn needs_checks(access: &Access) -> bool {
    !access.sees_everything()
}
