//! The declarations of every collection of domain version 1, in one list.
//!
//! This is the only place that says what a collection's natural key is, what it refers to, where
//! its sensitive values stand, which arrays are sets, and how an import merges it.

use crate::access::{Dimension as D, Needs, Permission as P, ScopeFrom as Sc};
use crate::decl::{
    Collection as C, CollectionDecl, Elements, Grants, Ignorable, KeyedArray, Layout, MergeRule,
    Merged, Owner, RefDecl as R, SensitiveField as Sf, SetArray as S,
};
use crate::documents::*;
use crate::shape::canonical;

const TENANCY_REFS: &[R] = &[
    R::global("environments[]", C::Environments),
    R::global("tenants[]", C::Tenants),
    R::tenant_tag("tenantTags[]"),
];
const TENANCY_SETS: &[S] = &[S::of("environments"), S::of("tenants"), S::of("tenantTags")];
const VARIABLE_KEY: &[&str] = &["name", "scope"];
/// Accounts, certificates and deployment targets are in the environments and tenants they name.
const TENANCY_SCOPE: &[Sc] = &[
    Sc::Field("environments[]", D::Environments),
    Sc::Field("tenants[]", D::Tenants),
];

/// Every collection, in dependency-friendly order (a document's references mostly point up).
pub static COLLECTIONS: &[CollectionDecl] = &[
    CollectionDecl {
        collection: C::Environments,
        name: "environments",
        singular: "environment",
        about: "where deployments go: Development, Test, Production",
        shape: canonical::<Environment>,
        needs: Needs::view_edit(P::EnvironmentView, P::EnvironmentEdit),
        scope: &[Sc::Itself(D::Environments)],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::TagSets,
        name: "tag-sets",
        singular: "tag set",
        about: "tenant tags, grouped in sets; referred to as `Set/Tag`",
        keyed_arrays: &[KeyedArray {
            path: "tags",
            key: &["name"],
        }],
        shape: canonical::<TagSet>,
        needs: Needs::view_edit(P::TagSetView, P::TagSetEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::ProjectGroups,
        name: "project-groups",
        singular: "project group",
        about: "folders of projects",
        shape: canonical::<ProjectGroup>,
        needs: Needs::view_edit(P::ProjectGroupView, P::ProjectGroupEdit),
        scope: &[Sc::Itself(D::ProjectGroups)],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Users,
        name: "users",
        singular: "user",
        about: "people and service accounts (no passwords or API keys ever leave an instance)",
        key: &["username"],
        merge: MergeRule::KeepActive("isActive"),
        shape: canonical::<User>,
        needs: Needs::view_edit(P::UserView, P::UserEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::UserRoles,
        name: "user-roles",
        singular: "user role",
        about: "named sets of permissions",
        sets: &[S::of("permissions")],
        shape: canonical::<UserRole>,
        needs: Needs::view_edit(P::UserRoleView, P::UserRoleEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Feeds,
        name: "feeds",
        singular: "feed",
        about: "package feeds",
        sensitive: &[Sf::at("password")],
        shape: canonical::<Feed>,
        needs: Needs::view_edit(P::FeedView, P::FeedEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::StepTemplates,
        name: "step-templates",
        singular: "step template",
        about: "reusable deployment steps",
        sensitive: &[
            Sf::at("parameters[]/defaultValue").decided_by("controlType"),
            Sf::at("properties"),
        ],
        keyed_arrays: &[KeyedArray {
            path: "parameters",
            key: &["name"],
        }],
        scripts: &["script"],
        shape: canonical::<StepTemplate>,
        needs: Needs::view_edit(P::ActionTemplateView, P::ActionTemplateEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Lifecycles,
        name: "lifecycles",
        singular: "lifecycle",
        about: "the order in which a release is promoted through environments",
        refs: &[
            R::global("phases[]/automaticDeploymentTargets[]", C::Environments),
            R::global("phases[]/optionalDeploymentTargets[]", C::Environments),
        ],
        keyed_arrays: &[KeyedArray {
            path: "phases",
            key: &["name"],
        }],
        sets: &[
            S::of("phases[]/automaticDeploymentTargets"),
            S::of("phases[]/optionalDeploymentTargets"),
        ],
        shape: canonical::<Lifecycle>,
        needs: Needs::view_edit(P::LifecycleView, P::LifecycleEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Tenants,
        name: "tenants",
        singular: "tenant",
        about: "customers or locations deployed to separately; connected to projects and environments",
        refs: &[
            R::tenant_tag("tenantTags[]"),
            R::global("projects[]/project", C::Projects),
            R::global("projects[]/environments[]", C::Environments),
            R::global("variables[]/project", C::Projects),
            R::global("variables[]/environment", C::Environments),
        ],
        sensitive: &[Sf::at("variables[]/value").decided_by("type")],
        keyed_arrays: &[
            KeyedArray {
                path: "projects",
                key: &["project"],
            },
            KeyedArray {
                path: "variables",
                key: &["name", "project", "environment"],
            },
        ],
        sets: &[
            S::of("tenantTags"),
            S::by("projects", "project"),
            S::of("projects[]/environments"),
        ],
        merge: MergeRule::Merge(&[
            Merged::ByKey("variables"),
            Merged::Connections {
                path: "projects",
                set: "environments",
            },
        ]),
        shape: canonical::<Tenant>,
        elements: Some(Elements {
            field: "variables",
            shape: canonical::<TenantVariable>,
        }),
        left_out_by: &[Ignorable::Tenants],
        needs: Needs::view_edit(P::TenantView, P::TenantEdit),
        scope: &[Sc::Itself(D::Tenants)],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Accounts,
        name: "accounts",
        singular: "account",
        about: "credentials for clouds and servers; the kind decides the secrets",
        refs: TENANCY_REFS,
        sensitive: &[
            Sf::at("credentials/password").decided_by("kind"),
            Sf::at("credentials/token").decided_by("kind"),
            Sf::at("credentials/secretKey").decided_by("kind"),
            Sf::at("credentials/privateKeyFile").decided_by("kind"),
            Sf::at("credentials/privateKeyPassphrase").decided_by("kind"),
            Sf::at("credentials/jsonKey").decided_by("kind"),
        ],
        sets: TENANCY_SETS,
        shape: canonical::<Account>,
        needs: Needs::view_edit(P::AccountView, P::AccountEdit),
        scope: TENANCY_SCOPE,
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Certificates,
        name: "certificates",
        singular: "certificate",
        about: "X.509 certificates with their private keys",
        refs: TENANCY_REFS,
        sensitive: &[Sf::at("certificateData"), Sf::at("password")],
        sets: TENANCY_SETS,
        shape: canonical::<Certificate>,
        left_out_by: &[Ignorable::Certificates],
        // A certificate's export carries its private key (under the exporter's password).
        needs: Needs {
            export: P::CertificateExportPrivateKey,
            ..Needs::view_edit(P::CertificateView, P::CertificateEdit)
        },
        scope: TENANCY_SCOPE,
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Machines,
        name: "machines",
        singular: "deployment target",
        about: "deployment targets; the endpoint kind decides the fields",
        refs: &[
            R::global("environments[]", C::Environments),
            R::global("tenants[]", C::Tenants),
            R::tenant_tag("tenantTags[]"),
            R::global("endpoint/account", C::Accounts),
            R::global("endpoint/clusterCertificate", C::Certificates),
        ],
        sensitive: &[Sf::at("endpoint/sensitiveVariablesEncryptionPassword").decided_by("kind")],
        sets: &[
            S::of("environments"),
            S::of("roles"),
            S::of("tenants"),
            S::of("tenantTags"),
        ],
        shape: canonical::<Machine>,
        left_out_by: &[Ignorable::Machines],
        needs: Needs::view_edit(P::MachineView, P::MachineEdit),
        scope: TENANCY_SCOPE,
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::LibraryVariableSets,
        name: "library-variable-sets",
        singular: "library variable set",
        about: "variables shared by the projects that include them",
        refs: &[
            R::global("variables[]/scope/environments[]", C::Environments),
            R::global("variables[]/scope/machines[]", C::Machines),
            R::tenant_tag("variables[]/scope/tenantTags[]"),
            R::global("variables[]/value", C::Accounts).when("type", ACCOUNT_VARIABLE_TYPES),
            R::global("variables[]/value", C::Certificates)
                .when("type", CERTIFICATE_VARIABLE_TYPES),
        ],
        sensitive: &[Sf::at("variables[]/value").decided_by("type")],
        keyed_arrays: &[KeyedArray {
            path: "variables",
            key: VARIABLE_KEY,
        }],
        sets: &[
            S::of("variables[]/scope/environments"),
            S::of("variables[]/scope/machines"),
            S::of("variables[]/scope/roles"),
            S::of("variables[]/scope/tenantTags"),
        ],
        merge: MergeRule::Merge(&[Merged::ByKey("variables")]),
        shape: canonical::<LibraryVariableSet>,
        elements: Some(Elements {
            field: "variables",
            shape: canonical::<Variable<LibraryScope>>,
        }),
        needs: Needs::view_edit(P::LibraryVariableSetView, P::LibraryVariableSetEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Projects,
        name: "projects",
        singular: "project",
        about: "what gets deployed; owns a deployment process, channels, variables, triggers and history",
        refs: &[
            R::global("projectGroup", C::ProjectGroups),
            R::global("lifecycle", C::Lifecycles),
            R::global("includedLibraryVariableSets[]", C::LibraryVariableSets),
        ],
        sets: &[S::of("includedLibraryVariableSets")],
        merge: MergeRule::ProjectUnit,
        layout: Layout::Project,
        shape: canonical::<Project>,
        needs: Needs {
            view: P::ProjectView,
            create: P::ProjectCreate,
            edit: P::ProjectEdit,
            delete: P::ProjectDelete,
            export: P::ProjectView,
        },
        scope: &[
            Sc::Itself(D::Projects),
            Sc::Field("projectGroup", D::ProjectGroups),
        ],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Channels,
        name: "channels",
        singular: "channel",
        about: "a project's release streams, each with its lifecycle and package rules",
        owner: Owner::Project,
        refs: &[
            R::global("lifecycle", C::Lifecycles),
            R::tenant_tag("tenantTags[]"),
        ],
        sets: &[S::of("tenantTags"), S::of("rules[]/actions")],
        merge: MergeRule::ProjectPart,
        layout: Layout::ProjectFolder("channels"),
        shape: canonical::<Channel>,
        needs: Needs::view_edit(P::ProjectView, P::ProjectEdit),
        scope: &[Sc::Project],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::DeploymentProcesses,
        name: "deployment-processes",
        singular: "deployment process",
        about: "a project's ordered steps and their actions",
        owner: Owner::Project,
        key: &[],
        refs: &[
            R::global("steps[]/actions[]/stepTemplate", C::StepTemplates),
            R::global("steps[]/actions[]/environments[]", C::Environments),
            R::global("steps[]/actions[]/excludedEnvironments[]", C::Environments),
            R::same_project("steps[]/actions[]/channels[]", C::Channels),
            R::tenant_tag("steps[]/actions[]/tenantTags[]"),
            R::global("steps[]/actions[]/packages[]/feed", C::Feeds),
            R::global(
                "steps[]/actions[]/properties/Cuttle.Action.Account",
                C::Accounts,
            ),
            R::global(
                "steps[]/actions[]/properties/Cuttle.Action.Certificate",
                C::Certificates,
            ),
        ],
        sensitive: &[
            Sf::at("steps[]/properties"),
            Sf::at("steps[]/actions[]/properties"),
        ],
        keyed_arrays: &[
            KeyedArray {
                path: "steps",
                key: &["name"],
            },
            KeyedArray {
                path: "steps[]/actions",
                key: &["name"],
            },
        ],
        sets: &[
            S::of("steps[]/targetRoles"),
            S::of("steps[]/actions[]/environments"),
            S::of("steps[]/actions[]/excludedEnvironments"),
            S::of("steps[]/actions[]/channels"),
            S::of("steps[]/actions[]/tenantTags"),
        ],
        merge: MergeRule::ProjectPart,
        layout: Layout::ProjectFile("deployment-process.json"),
        scripts: &["steps[]/actions[]/script"],
        shape: canonical::<DeploymentProcess>,
        elements: Some(Elements {
            field: "steps",
            shape: canonical::<Step>,
        }),
        needs: Needs::view_edit(P::ProcessView, P::ProcessEdit),
        scope: &[Sc::Project],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::ProjectVariables,
        name: "project-variables",
        singular: "set of project variables",
        about: "a project's variables",
        owner: Owner::Project,
        key: &[],
        refs: &[
            R::global("variables[]/scope/environments[]", C::Environments),
            R::global("variables[]/scope/machines[]", C::Machines),
            R::same_project("variables[]/scope/channels[]", C::Channels),
            R::tenant_tag("variables[]/scope/tenantTags[]"),
            R::global("variables[]/value", C::Accounts).when("type", ACCOUNT_VARIABLE_TYPES),
            R::global("variables[]/value", C::Certificates)
                .when("type", CERTIFICATE_VARIABLE_TYPES),
        ],
        sensitive: &[Sf::at("variables[]/value").decided_by("type")],
        keyed_arrays: &[KeyedArray {
            path: "variables",
            key: VARIABLE_KEY,
        }],
        sets: &[
            S::of("variables[]/scope/environments"),
            S::of("variables[]/scope/machines"),
            S::of("variables[]/scope/roles"),
            S::of("variables[]/scope/channels"),
            S::of("variables[]/scope/steps"),
            S::of("variables[]/scope/tenantTags"),
        ],
        merge: MergeRule::Merge(&[Merged::ByKey("variables")]),
        layout: Layout::ProjectFile("variables.json"),
        shape: canonical::<ProjectVariables>,
        elements: Some(Elements {
            field: "variables",
            shape: canonical::<Variable<ProjectScope>>,
        }),
        needs: Needs::view_edit(P::VariableView, P::VariableEdit),
        scope: &[Sc::Project],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Triggers,
        name: "triggers",
        singular: "trigger",
        about: "a project's schedules and automatic deployments",
        owner: Owner::Project,
        refs: &[
            R::global("filter/environments[]", C::Environments),
            R::global("action/sourceEnvironments[]", C::Environments),
            R::global("action/destinationEnvironment", C::Environments),
            R::same_project("action/channel", C::Channels),
        ],
        sets: &[
            S::of("filter/environments"),
            S::of("filter/roles"),
            S::of("action/sourceEnvironments"),
        ],
        merge: MergeRule::ProjectPart,
        layout: Layout::ProjectFolder("triggers"),
        shape: canonical::<Trigger>,
        needs: Needs::view_edit(P::ProjectView, P::TriggerEdit),
        scope: &[Sc::Project],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Teams,
        name: "teams",
        singular: "team",
        about: "who may do what: members and role assignments",
        refs: &[
            R::global("members[]", C::Users),
            R::global("roleAssignments[]/userRole", C::UserRoles),
            R::global("roleAssignments[]/projects[]", C::Projects),
            R::global("roleAssignments[]/projectGroups[]", C::ProjectGroups),
            R::global("roleAssignments[]/environments[]", C::Environments),
            R::global("roleAssignments[]/tenants[]", C::Tenants),
        ],
        sets: &[
            S::of("members"),
            S::of("roleAssignments[]/projects"),
            S::of("roleAssignments[]/projectGroups"),
            S::of("roleAssignments[]/environments"),
            S::of("roleAssignments[]/tenants"),
        ],
        merge: MergeRule::Merge(&[Merged::Union("members"), Merged::Append("roleAssignments")]),
        shape: canonical::<Team>,
        grants: Some(Grants {
            members: "members",
            role_assignments: "roleAssignments",
            role: "userRole",
            scopes: &[
                ("projects", "projects"),
                ("projectGroups", "project groups"),
                ("environments", "environments"),
                ("tenants", "tenants"),
            ],
        }),
        needs: Needs::view_edit(P::TeamView, P::TeamEdit),
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Releases,
        name: "releases",
        singular: "release",
        about: "history: a snapshot of a project's process, packages and variables",
        owner: Owner::Project,
        key: &["version"],
        refs: &[
            R::same_project("channel", C::Channels),
            R::global("selectedPackages[]/feed", C::Feeds),
            R::global("libraryVariableSets[]", C::LibraryVariableSets),
        ],
        keyed_arrays: &[KeyedArray {
            path: "selectedPackages",
            key: &["actionName", "packageReferenceName"],
        }],
        sets: &[S::of("libraryVariableSets")],
        merge: MergeRule::CreateOnly,
        layout: Layout::ProjectFolder("releases"),
        history: true,
        shape: canonical::<Release>,
        left_out_by: &[Ignorable::History],
        needs: Needs {
            view: P::ReleaseView,
            create: P::ReleaseCreate,
            edit: P::ReleaseCreate,
            delete: P::ReleaseDelete,
            export: P::ReleaseView,
        },
        scope: &[Sc::Project],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::Deployments,
        name: "deployments",
        singular: "deployment",
        about: "history: a release deployed to an environment (and tenant)",
        owner: Owner::Project,
        key: &["release", "environment", "tenant", "number"],
        refs: &[
            R::same_project("release", C::Releases),
            R::global("environment", C::Environments),
            R::global("tenant", C::Tenants),
        ],
        merge: MergeRule::CreateOnly,
        numeric_key: &["number"],
        layout: Layout::Deployment {
            folder: "deployments",
            extension: "json",
            key: "",
        },
        history: true,
        shape: canonical::<Deployment>,
        left_out_by: &[Ignorable::History, Ignorable::Deployments],
        needs: Needs {
            view: P::DeploymentView,
            create: P::DeploymentCreate,
            edit: P::DeploymentCreate,
            delete: P::DeploymentDelete,
            export: P::DeploymentView,
        },
        scope: &[
            Sc::Project,
            Sc::Field("environment", D::Environments),
            Sc::Field("tenant", D::Tenants),
        ],
        ..CollectionDecl::DEFAULT
    },
    CollectionDecl {
        collection: C::TaskLogs,
        name: "task-logs",
        singular: "task log",
        about: "history: the log of a deployment",
        owner: Owner::Project,
        key: &["deployment"],
        refs: &[R::same_project("deployment", C::Deployments)],
        merge: MergeRule::CreateOnly,
        layout: Layout::Deployment {
            folder: "task-logs",
            extension: "log",
            key: "deployment",
        },
        history: true,
        shape: canonical::<TaskLog>,
        left_out_by: &[Ignorable::History, Ignorable::Deployments],
        needs: Needs {
            view: P::TaskView,
            create: P::DeploymentCreate,
            edit: P::DeploymentCreate,
            delete: P::DeploymentDelete,
            export: P::TaskView,
        },
        scope: &[
            Sc::Project,
            Sc::Field("deployment/environment", D::Environments),
            Sc::Field("deployment/tenant", D::Tenants),
        ],
        ..CollectionDecl::DEFAULT
    },
];

impl C {
    /// The declaration of this collection.
    pub fn decl(self) -> &'static CollectionDecl {
        &COLLECTIONS[self.rank()]
    }

    /// Its place in [`COLLECTIONS`] (declaration order: what a document may refer to comes
    /// first).
    pub fn rank(self) -> usize {
        static RANKS: std::sync::LazyLock<Vec<usize>> = std::sync::LazyLock::new(|| {
            let mut ranks = vec![usize::MAX; COLLECTIONS.len()];
            for (rank, decl) in COLLECTIONS.iter().enumerate() {
                ranks[decl.collection as usize] = rank;
            }
            assert!(
                ranks.iter().all(|r| *r != usize::MAX),
                "every collection is declared"
            );
            ranks
        });
        RANKS[self as usize]
    }

    /// The collection with this command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        COLLECTIONS
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.collection)
    }

    pub fn name(self) -> &'static str {
        self.decl().name
    }
}

/// A collection is written by its name (`environments`, `deployment-processes`).
impl serde::Serialize for C {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for C {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        C::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "{name:?} is not a collection (one of {})",
                COLLECTIONS
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decl::RefScope;

    #[test]
    fn every_collection_is_declared_once() {
        let mut names: Vec<_> = COLLECTIONS.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), COLLECTIONS.len());
        assert_eq!(COLLECTIONS.len(), 22);
    }

    #[test]
    fn key_refs_point_at_key_fields() {
        for decl in COLLECTIONS {
            for r in decl.refs {
                assert!(!r.path.is_empty(), "{}", decl.name);
            }
            if decl.is_project_owned() {
                assert!(
                    !decl.key.contains(&"project"),
                    "{}: the project is implied",
                    decl.name
                );
            }
        }
    }

    /// An import plans the collections in this order, and an overwritten project's checks rely
    /// on it: its channels are all planned before any document that refers to one.
    #[test]
    fn references_within_a_project_point_at_collections_declared_before() {
        for decl in COLLECTIONS {
            for r in decl
                .refs
                .iter()
                .filter(|r| r.scope == RefScope::SameProject)
            {
                assert!(
                    r.target.rank() < decl.collection.rank(),
                    "{} at {} refers to {:?}, declared after it",
                    decl.name,
                    r.path,
                    r.target
                );
            }
        }
    }

    /// What [`Elements`] asks of a declaration: its array is a keyed array at the top, and
    /// every declaration below it reaches the element's.
    #[test]
    fn a_large_array_is_a_top_level_keyed_array_whose_declarations_the_element_has() {
        for decl in COLLECTIONS {
            let Some(elements) = decl.elements else {
                assert!(decl.element_decl().is_none());
                continue;
            };
            assert!(
                decl.keyed_arrays.iter().any(|k| k.path == elements.field),
                "{}",
                decl.name
            );
            let element = decl.element_decl().expect("derived");
            let prefix = format!("{}[]/", elements.field);
            let below = |path: &str| path.starts_with(&prefix);
            assert_eq!(
                element.refs.len(),
                decl.refs.iter().filter(|r| below(r.path)).count()
            );
            assert_eq!(
                element.sensitive.len(),
                decl.sensitive.iter().filter(|s| below(s.path)).count()
            );
            assert_eq!(
                element.sets.len(),
                decl.sets.iter().filter(|s| below(s.path)).count()
            );
            assert_eq!(
                element.keyed_arrays.len(),
                decl.keyed_arrays.iter().filter(|k| below(k.path)).count()
            );
            assert_eq!(
                element.scripts.len(),
                decl.scripts.iter().filter(|s| below(s)).count()
            );
            assert!(element.key.is_empty() && !element.is_project_owned());
            assert_eq!(
                (element.collection, element.name),
                (decl.collection, decl.name)
            );
            // No set or sensitive place is the array itself.
            assert!(decl.sets.iter().all(|s| s.path != elements.field));
            assert!(decl.sensitive.iter().all(|s| s.path != elements.field));
        }
        let process = C::DeploymentProcesses.decl().element_decl().unwrap();
        assert_eq!(process.refs[0].path, "actions[]/stepTemplate");
        assert_eq!(process.keyed_arrays[0].path, "actions");
    }
}
