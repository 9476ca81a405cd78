//! Who may do what (SPEC 9), declared once: the vocabulary of permissions that user roles hold,
//! the scopes that a team's role assignments narrow them to, and, for each collection (in its
//! declaration), which permission each operation needs and which scope a document has.
//!
//! A role assignment grants its role's permissions in its scope: where it names projects or
//! project groups, only for documents of those projects; where it names environments or
//! tenants, only for documents in those. A document is in the scope a dimension names only if
//! the document has that dimension ([`ScopeFrom`]); a dimension a document does not have does not
//! narrow anything for it (an environment-scoped role still lets its holder read lifecycles, if
//! the role holds `LifecycleView`). Nothing is allowed that no assignment allows.

use std::fmt;

macro_rules! permissions {
    ($($name:ident: $about:literal,)*) => {
        /// A permission: what a user role may hold, by name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Permission {
            $(#[doc = $about] $name,)*
        }

        impl Permission {
            /// Every permission, in the order of the vocabulary.
            pub const ALL: &'static [Permission] = &[$(Permission::$name),*];

            /// Its name, as user roles hold it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Permission::$name => stringify!($name),)*
                }
            }

            /// What it allows, for people.
            pub fn about(self) -> &'static str {
                match self {
                    $(Permission::$name => $about,)*
                }
            }
        }
    };
}

permissions! {
    AdministerSystem: "everything, everywhere: the instance's administrators",
    AuditView: "read the audit log",
    ExportData: "export (and back up) what one may view",
    ImportData: "import into what one may write",
    TaskView: "see tasks and deployments' task logs",
    TaskCancel: "cancel tasks",
    ProjectView: "see projects and their channels and triggers",
    ProjectCreate: "create projects",
    ProjectEdit: "change projects and their channels",
    ProjectDelete: "delete projects with everything they own",
    ProcessView: "see deployment processes",
    ProcessEdit: "change deployment processes",
    VariableView: "see project variables (sensitive values stay masked)",
    VariableEdit: "change project variables",
    TriggerEdit: "change projects' triggers",
    ReleaseView: "see releases",
    ReleaseCreate: "create releases",
    ReleaseDelete: "delete releases",
    DeploymentView: "see deployments",
    DeploymentCreate: "create deployments and their task logs",
    DeploymentDelete: "delete deployments",
    EnvironmentView: "see environments",
    EnvironmentEdit: "create, change and delete environments",
    MachineView: "see deployment targets",
    MachineEdit: "create, change and delete deployment targets",
    AccountView: "see accounts (their secrets stay masked)",
    AccountEdit: "create, change and delete accounts",
    CertificateView: "see certificates (their private keys stay masked)",
    CertificateEdit: "create, change and delete certificates",
    CertificateExportPrivateKey: "export certificates' private keys",
    FeedView: "see package feeds",
    FeedEdit: "create, change and delete package feeds",
    LifecycleView: "see lifecycles",
    LifecycleEdit: "create, change and delete lifecycles",
    ProjectGroupView: "see project groups",
    ProjectGroupEdit: "create, change and delete project groups",
    TagSetView: "see tenant tag sets",
    TagSetEdit: "create, change and delete tenant tag sets",
    ActionTemplateView: "see step templates",
    ActionTemplateEdit: "create, change and delete step templates",
    LibraryVariableSetView: "see library variable sets",
    LibraryVariableSetEdit: "create, change and delete library variable sets",
    TenantView: "see tenants",
    TenantEdit: "create, change and delete tenants",
    TeamView: "see teams",
    TeamEdit: "create, change and delete teams (members and role assignments grant access)",
    UserView: "see users",
    UserEdit: "create and change users, and manage API keys",
    UserRoleView: "see user roles",
    UserRoleEdit: "create, change and delete user roles",
}

impl Permission {
    /// The permission with this name.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Permission::from_name(&name).ok_or_else(|| {
            let close: Vec<&str> = Permission::ALL
                .iter()
                .map(|p| p.name())
                .filter(|p| {
                    p.eq_ignore_ascii_case(&name) || p.starts_with(&name[..name.len().min(4)])
                })
                .take(5)
                .collect();
            serde::de::Error::custom(format_args!(
                "{} is not a permission{}",
                crate::names::quoted(&name),
                if close.is_empty() {
                    " (the vocabulary is listed in the README, `Permissions`)".to_owned()
                } else {
                    format!("; did you mean {}?", close.join(", "))
                }
            ))
        })
    }
}

/// A kind of scope: what a role assignment may be narrowed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Projects,
    ProjectGroups,
    Environments,
    Tenants,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Projects,
        Dimension::ProjectGroups,
        Dimension::Environments,
        Dimension::Tenants,
    ];

    /// Its field in a role assignment.
    pub fn field(self) -> &'static str {
        match self {
            Dimension::Projects => "projects",
            Dimension::ProjectGroups => "projectGroups",
            Dimension::Environments => "environments",
            Dimension::Tenants => "tenants",
        }
    }
}

/// Where a document's scope in one dimension comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeFrom {
    /// Its own name (an environment is in its own environment scope).
    Itself(Dimension),
    /// The names at a path of the document, in [`crate::path`] syntax (a deployment target's
    /// `environments[]`).
    Field(&'static str, Dimension),
    /// Its owning project (and that project's group).
    Project,
}

/// What each operation on a collection needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    pub view: Permission,
    pub create: Permission,
    pub edit: Permission,
    pub delete: Permission,
    /// To export it (besides `ExportData`): what it carries leaves the instance under a password
    /// the exporter chooses. Its view permission, unless a collection says more.
    pub export: Permission,
}

impl Needs {
    /// One permission to see, another for every change.
    pub const fn view_edit(view: Permission, edit: Permission) -> Needs {
        Needs {
            view,
            create: edit,
            edit,
            delete: edit,
            export: view,
        }
    }

    /// What `operation` needs.
    pub fn of(self, operation: Operation) -> Permission {
        match operation {
            Operation::View => self.view,
            Operation::Create => self.create,
            Operation::Edit => self.edit,
            Operation::Delete => self.delete,
        }
    }
}

/// What is done to a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    View,
    Create,
    Edit,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Operation::View,
        Operation::Create,
        Operation::Edit,
        Operation::Delete,
    ];
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::documents::UserRole;
    use crate::shape::{Refused, canonical};
    use crate::{COLLECTIONS, Collection};

    #[test]
    fn a_user_role_holds_permissions_of_the_vocabulary_only() {
        let role = json!({"name": "R", "permissions": ["ProjectView", "EnvironmentEdit"]});
        assert!(canonical::<UserRole>(&role.to_string()).is_ok());
        let role = json!({"name": "R", "permissions": ["ProjectVeiw"]});
        let Err(Refused::Shape(error)) = canonical::<UserRole>(&role.to_string()) else {
            panic!("a shape error expected")
        };
        assert_eq!(error.path.to_string(), "$.permissions[0]");
        assert!(error.message.contains("is not a permission"), "{error}");
        assert!(
            error.message.contains("ProjectView"),
            "a suggestion: {error}"
        );
    }

    #[test]
    fn every_permission_has_a_unique_name_and_every_collection_says_what_it_needs() {
        let mut names: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
        for decl in COLLECTIONS {
            for operation in Operation::ALL {
                assert_ne!(
                    decl.needs.of(operation),
                    Permission::AdministerSystem,
                    "{} declares what {operation:?} needs",
                    decl.name
                );
            }
            let project_owned = decl.is_project_owned();
            assert_eq!(
                decl.scope.contains(&ScopeFrom::Project),
                project_owned,
                "{}: a project's part is in its project's scope",
                decl.name
            );
        }
        assert!(
            Collection::Projects
                .decl()
                .scope
                .contains(&ScopeFrom::Itself(Dimension::Projects))
        );
    }
}
