//! The declarations of every collection of domain version 1, in one list.
//!
//! This is the only place that says what a collection's natural key is, what it refers to, where
//! its sensitive values stand, which arrays are sets, and how an import merges it.

use crate::decl::{
    Collection as C, CollectionDecl, KeyedArray, Layout, MergeRule, Owner, RefDecl as R,
    SensitiveField as Sf, SetArray as S,
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

/// Every collection, in dependency-friendly order (a document's references mostly point up).
pub static COLLECTIONS: &[CollectionDecl] = &[
    CollectionDecl {
        collection: C::Environments,
        name: "environments",
        about: "where deployments go: Development, Test, Production",
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
        shape: canonical::<Environment>,
    },
    CollectionDecl {
        collection: C::TagSets,
        name: "tag-sets",
        about: "tenant tags, grouped in sets; referred to as `Set/Tag`",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[],
        sensitive: &[],
        keyed_arrays: &[KeyedArray {
            path: "tags",
            key: &["name"],
        }],
        sets: &[],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<TagSet>,
    },
    CollectionDecl {
        collection: C::ProjectGroups,
        name: "project-groups",
        about: "folders of projects",
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
        shape: canonical::<ProjectGroup>,
    },
    CollectionDecl {
        collection: C::Users,
        name: "users",
        about: "people and service accounts (no passwords or API keys ever leave an instance)",
        owner: Owner::Instance,
        key: &["username"],
        refs: &[],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[],
        merge: MergeRule::KeepUser,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<User>,
    },
    CollectionDecl {
        collection: C::UserRoles,
        name: "user-roles",
        about: "named sets of permissions",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[S::of("permissions")],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<UserRole>,
    },
    CollectionDecl {
        collection: C::Feeds,
        name: "feeds",
        about: "package feeds",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[],
        sensitive: &[Sf::at("password")],
        keyed_arrays: &[],
        sets: &[],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Feed>,
    },
    CollectionDecl {
        collection: C::StepTemplates,
        name: "step-templates",
        about: "reusable deployment steps",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[],
        sensitive: &[
            Sf::at("parameters[]/defaultValue").decided_by("controlType"),
            Sf::at("properties"),
        ],
        keyed_arrays: &[KeyedArray {
            path: "parameters",
            key: &["name"],
        }],
        sets: &[],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &["script"],
        history: false,
        shape: canonical::<StepTemplate>,
    },
    CollectionDecl {
        collection: C::Lifecycles,
        name: "lifecycles",
        about: "the order in which a release is promoted through environments",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[
            R::global("phases[]/automaticDeploymentTargets[]", C::Environments),
            R::global("phases[]/optionalDeploymentTargets[]", C::Environments),
        ],
        sensitive: &[],
        keyed_arrays: &[KeyedArray {
            path: "phases",
            key: &["name"],
        }],
        sets: &[
            S::of("phases[]/automaticDeploymentTargets"),
            S::of("phases[]/optionalDeploymentTargets"),
        ],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Lifecycle>,
    },
    CollectionDecl {
        collection: C::Tenants,
        name: "tenants",
        about: "customers or locations deployed to separately; connected to projects and environments",
        owner: Owner::Instance,
        key: &["name"],
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
        merge: MergeRule::MergeTenant,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Tenant>,
    },
    CollectionDecl {
        collection: C::Accounts,
        name: "accounts",
        about: "credentials for clouds and servers; the kind decides the secrets",
        owner: Owner::Instance,
        key: &["name"],
        refs: TENANCY_REFS,
        sensitive: &[
            Sf::at("credentials/password").decided_by("kind"),
            Sf::at("credentials/token").decided_by("kind"),
            Sf::at("credentials/secretKey").decided_by("kind"),
            Sf::at("credentials/privateKeyFile").decided_by("kind"),
            Sf::at("credentials/privateKeyPassphrase").decided_by("kind"),
            Sf::at("credentials/jsonKey").decided_by("kind"),
        ],
        keyed_arrays: &[],
        sets: TENANCY_SETS,
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Account>,
    },
    CollectionDecl {
        collection: C::Certificates,
        name: "certificates",
        about: "X.509 certificates with their private keys",
        owner: Owner::Instance,
        key: &["name"],
        refs: TENANCY_REFS,
        sensitive: &[Sf::at("certificateData"), Sf::at("password")],
        keyed_arrays: &[],
        sets: TENANCY_SETS,
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Certificate>,
    },
    CollectionDecl {
        collection: C::Machines,
        name: "machines",
        about: "deployment targets; the endpoint kind decides the fields",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[
            R::global("environments[]", C::Environments),
            R::global("tenants[]", C::Tenants),
            R::tenant_tag("tenantTags[]"),
            R::global("endpoint/account", C::Accounts),
            R::global("endpoint/clusterCertificate", C::Certificates),
        ],
        sensitive: &[Sf::at("endpoint/sensitiveVariablesEncryptionPassword").decided_by("kind")],
        keyed_arrays: &[],
        sets: &[
            S::of("environments"),
            S::of("roles"),
            S::of("tenants"),
            S::of("tenantTags"),
        ],
        merge: MergeRule::Replace,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Machine>,
    },
    CollectionDecl {
        collection: C::LibraryVariableSets,
        name: "library-variable-sets",
        about: "variables shared by the projects that include them",
        owner: Owner::Instance,
        key: &["name"],
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
        merge: MergeRule::MergeVariables,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<LibraryVariableSet>,
    },
    CollectionDecl {
        collection: C::Projects,
        name: "projects",
        about: "what gets deployed; owns a deployment process, channels, variables, triggers and history",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[
            R::global("projectGroup", C::ProjectGroups),
            R::global("lifecycle", C::Lifecycles),
            R::global("includedLibraryVariableSets[]", C::LibraryVariableSets),
        ],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[S::of("includedLibraryVariableSets")],
        merge: MergeRule::ProjectUnit,
        numeric_key: &[],
        layout: Layout::Project,
        scripts: &[],
        history: false,
        shape: canonical::<Project>,
    },
    CollectionDecl {
        collection: C::Channels,
        name: "channels",
        about: "a project's release streams, each with its lifecycle and package rules",
        owner: Owner::Project,
        key: &["name"],
        refs: &[
            R::global("lifecycle", C::Lifecycles),
            R::tenant_tag("tenantTags[]"),
        ],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[S::of("tenantTags"), S::of("rules[]/actions")],
        merge: MergeRule::ProjectPart,
        numeric_key: &[],
        layout: Layout::ProjectFolder("channels"),
        scripts: &[],
        history: false,
        shape: canonical::<Channel>,
    },
    CollectionDecl {
        collection: C::DeploymentProcesses,
        name: "deployment-processes",
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
        numeric_key: &[],
        layout: Layout::ProjectFile("deployment-process.json"),
        scripts: &["steps[]/actions[]/script"],
        history: false,
        shape: canonical::<DeploymentProcess>,
    },
    CollectionDecl {
        collection: C::ProjectVariables,
        name: "project-variables",
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
        merge: MergeRule::MergeVariables,
        numeric_key: &[],
        layout: Layout::ProjectFile("variables.json"),
        scripts: &[],
        history: false,
        shape: canonical::<ProjectVariables>,
    },
    CollectionDecl {
        collection: C::Triggers,
        name: "triggers",
        about: "a project's schedules and automatic deployments",
        owner: Owner::Project,
        key: &["name"],
        refs: &[
            R::global("filter/environments[]", C::Environments),
            R::global("action/sourceEnvironments[]", C::Environments),
            R::global("action/destinationEnvironment", C::Environments),
            R::same_project("action/channel", C::Channels),
        ],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[
            S::of("filter/environments"),
            S::of("filter/roles"),
            S::of("action/sourceEnvironments"),
        ],
        merge: MergeRule::ProjectPart,
        numeric_key: &[],
        layout: Layout::ProjectFolder("triggers"),
        scripts: &[],
        history: false,
        shape: canonical::<Trigger>,
    },
    CollectionDecl {
        collection: C::Teams,
        name: "teams",
        about: "who may do what: members and role assignments",
        owner: Owner::Instance,
        key: &["name"],
        refs: &[
            R::global("members[]", C::Users),
            R::global("roleAssignments[]/userRole", C::UserRoles),
            R::global("roleAssignments[]/projects[]", C::Projects),
            R::global("roleAssignments[]/projectGroups[]", C::ProjectGroups),
            R::global("roleAssignments[]/environments[]", C::Environments),
            R::global("roleAssignments[]/tenants[]", C::Tenants),
        ],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[
            S::of("members"),
            S::of("roleAssignments[]/projects"),
            S::of("roleAssignments[]/projectGroups"),
            S::of("roleAssignments[]/environments"),
            S::of("roleAssignments[]/tenants"),
        ],
        merge: MergeRule::MergeTeam,
        numeric_key: &[],
        layout: Layout::TopLevel,
        scripts: &[],
        history: false,
        shape: canonical::<Team>,
    },
    CollectionDecl {
        collection: C::Releases,
        name: "releases",
        about: "history: a snapshot of a project's process, packages and variables",
        owner: Owner::Project,
        key: &["version"],
        refs: &[
            R::same_project("channel", C::Channels),
            R::global("selectedPackages[]/feed", C::Feeds),
            R::global("libraryVariableSets[]", C::LibraryVariableSets),
        ],
        sensitive: &[],
        keyed_arrays: &[KeyedArray {
            path: "selectedPackages",
            key: &["actionName", "packageReferenceName"],
        }],
        sets: &[S::of("libraryVariableSets")],
        merge: MergeRule::CreateOnly,
        numeric_key: &[],
        layout: Layout::ProjectFolder("releases"),
        scripts: &[],
        history: true,
        shape: canonical::<Release>,
    },
    CollectionDecl {
        collection: C::Deployments,
        name: "deployments",
        about: "history: a release deployed to an environment (and tenant)",
        owner: Owner::Project,
        key: &["release", "environment", "tenant", "number"],
        refs: &[
            R::same_project("release", C::Releases),
            R::global("environment", C::Environments),
            R::global("tenant", C::Tenants),
        ],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[],
        merge: MergeRule::CreateOnly,
        numeric_key: &["number"],
        layout: Layout::Deployment {
            folder: "deployments",
            extension: "json",
            key: "",
        },
        scripts: &[],
        history: true,
        shape: canonical::<Deployment>,
    },
    CollectionDecl {
        collection: C::TaskLogs,
        name: "task-logs",
        about: "history: the log of a deployment",
        owner: Owner::Project,
        key: &["deployment"],
        refs: &[R::same_project("deployment", C::Deployments)],
        sensitive: &[],
        keyed_arrays: &[],
        sets: &[],
        merge: MergeRule::CreateOnly,
        numeric_key: &[],
        layout: Layout::Deployment {
            folder: "task-logs",
            extension: "log",
            key: "deployment",
        },
        scripts: &[],
        history: true,
        shape: canonical::<TaskLog>,
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
}
