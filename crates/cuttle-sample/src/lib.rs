//! Realistic sample data for a Cuttle instance (SPEC 4, `cuttle sample`).
//!
//! [`generate`] streams documents in the export shape: references by natural key, sensitive
//! values as `{"secret": "sample-secret-…"}` objects (every one of them starts with
//! `sample-secret-`, so that anyone can check that no plaintext leaks into an export, a log or a
//! plan). The sample covers every collection, every declared reference and every kind of
//! sensitive value, and is the same for a size and seed forever: its random numbers come from
//! `rng`, its timestamps from the seed, never from the clock.
//!
//! How it is built: `catalog` first decides what exists (names and relations, which may form
//! cycles); then one module per area turns the catalog into documents, in dependency order
//! (a document's references mostly point to documents emitted before it). Project-owned documents
//! and history are built project by project, so that even the large sample streams through the
//! sink without being held in memory.

mod catalog;
mod clock;
mod history;
mod infrastructure;
mod library;
mod people;
mod process;
mod projects;
mod rng;
mod scripts;
mod tenants;
mod variables;
mod words;

use std::fmt;
use std::str::FromStr;

use cuttle_domain::Collection;
use cuttle_domain::documents as d;
use serde_json::Value;

use crate::catalog::Catalog;

/// How much sample data to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// A demo: a few hundred documents, including names that are hostile to file systems.
    Small,
    /// Tens of thousands of documents: a few hundred projects with their history.
    Medium,
    /// Hundreds of thousands of documents and about a million variables, with history.
    Large,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A size name that is not `small`, `medium` or `large`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSize(pub String);

impl fmt::Display for UnknownSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown sample size {:?}: expected small, medium or large",
            self.0
        )
    }
}

impl std::error::Error for UnknownSize {}

impl FromStr for Size {
    type Err = UnknownSize;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Size::ALL
            .into_iter()
            .find(|size| size.name() == text)
            .ok_or_else(|| UnknownSize(text.to_owned()))
    }
}

/// Generates the sample of `size` for `seed`, passing each document to `sink` with its
/// collection. The same size and seed give the same documents in the same order, always.
pub fn generate(size: Size, seed: u64, sink: &mut dyn FnMut(Collection, Value)) {
    let catalog = Catalog::new(size, seed);
    let mut out = Out { sink };
    infrastructure::emit_environments(&catalog, &mut out);
    library::emit_tag_sets(&mut out);
    library::emit_project_groups(&catalog, &mut out);
    people::emit_users(&catalog, &mut out);
    people::emit_user_roles(&mut out);
    infrastructure::emit_feeds(&catalog, &mut out);
    library::emit_step_templates(&catalog, &mut out);
    library::emit_lifecycles(&catalog, &mut out);
    tenants::emit_tenants(&catalog, &mut out);
    infrastructure::emit_accounts(&catalog, &mut out);
    infrastructure::emit_certificates(&catalog, &mut out);
    infrastructure::emit_machines(&catalog, &mut out);
    library::emit_library_variable_sets(&catalog, &mut out);
    let projects = projects::emit_projects(&catalog, &mut out);
    people::emit_teams(&catalog, &mut out);
    history::emit_history(&catalog, &projects, &mut out);
}

/// Where generated documents go.
pub(crate) struct Out<'a> {
    sink: &'a mut dyn FnMut(Collection, Value),
}

impl Out<'_> {
    pub(crate) fn emit<D: Doc>(&mut self, document: &D) {
        (self.sink)(D::COLLECTION, document.to_json());
    }
}

/// A typed document of `cuttle_domain::documents`, and its collection.
pub(crate) trait Doc {
    const COLLECTION: Collection;
    fn to_json(&self) -> Value;
}

macro_rules! docs {
    ($($ty:ident => $collection:ident),* $(,)?) => {$(
        impl Doc for d::$ty {
            const COLLECTION: Collection = Collection::$collection;
            fn to_json(&self) -> Value {
                serde_json::to_value(self).expect("documents serialize to JSON")
            }
        }
    )*};
}

docs! {
    Environment => Environments,
    Machine => Machines,
    Account => Accounts,
    Certificate => Certificates,
    Feed => Feeds,
    Lifecycle => Lifecycles,
    ProjectGroup => ProjectGroups,
    TagSet => TagSets,
    StepTemplate => StepTemplates,
    LibraryVariableSet => LibraryVariableSets,
    Project => Projects,
    DeploymentProcess => DeploymentProcesses,
    Channel => Channels,
    ProjectVariables => ProjectVariables,
    Trigger => Triggers,
    Tenant => Tenants,
    User => Users,
    UserRole => UserRoles,
    Team => Teams,
    Release => Releases,
    Deployment => Deployments,
    TaskLog => TaskLogs,
}

/// A sensitive value of the sample: `sample-secret-` and 20 random hexadecimal digits.
pub(crate) fn secret(rng: &mut rng::Rng) -> cuttle_domain::sensitive::Sensitive {
    cuttle_domain::sensitive::Sensitive::secret(format!("sample-secret-{}", rng.hex(20)))
}

/// A sensitive property value (action properties, template defaults, variable values).
pub(crate) fn secret_value(rng: &mut rng::Rng) -> cuttle_domain::sensitive::PropertyValue {
    cuttle_domain::sensitive::PropertyValue::Sensitive(secret(rng))
}

/// A plain-text property value.
pub(crate) fn text(value: impl Into<String>) -> cuttle_domain::sensitive::PropertyValue {
    cuttle_domain::sensitive::PropertyValue::Text(value.into())
}

/// A set-like array in canonical form: sorted by byte order, without duplicates.
pub(crate) fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    let mut items: Vec<String> = items.into_iter().map(Into::into).collect();
    items.sort_unstable();
    items.dedup();
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        for size in Size::ALL {
            assert_eq!(size.to_string().parse::<Size>(), Ok(size));
        }
        assert!(
            "huge"
                .parse::<Size>()
                .unwrap_err()
                .to_string()
                .contains("small, medium or large")
        );
    }
}
