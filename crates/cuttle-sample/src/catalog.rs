//! What exists in a sample, decided before anything is emitted: the names of the top-level
//! documents and how they relate (which environments a lifecycle promotes through, which tenants
//! are connected to which projects, which machines stand in which environment).
//!
//! References form cycles (tenants name projects, projects include library variable sets, whose
//! variables are scoped to machines, which name tenants), so every name must be known before the
//! first document goes out. The catalog holds names and small facts only; the documents
//! themselves are built while they are emitted.

use cuttle_domain::documents::TenantedDeploymentMode;

use crate::Size;
use crate::library::TAG_SETS;
use crate::rng::Rng;
use crate::words::{
    self, CITIES, COMPONENTS, DOMAINS, FIRST_NAMES, LAST_NAMES, LIBRARY_SET_KINDS, REGIONS,
    TENANT_FIRST, TENANT_SECOND, combination,
};

/// How much of everything a size generates.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Regional environment pairs (`Staging EU West`, `Production EU West`) and their lifecycle.
    pub regions: usize,
    /// QA, UAT and worker machines.
    pub extra_stages: bool,
    /// Machines of each ordinary role per environment.
    pub machines_per_role: usize,
    pub users: usize,
    pub projects: usize,
    pub tenants: usize,
    /// Projects each tenant is connected to.
    pub tenant_connections: usize,
    /// Generated tenant variables per connected project and environment.
    pub tenant_variables: usize,
    pub library_sets: usize,
    /// Generated variable names per library variable set.
    pub library_variables: usize,
    /// Generated variable names per project.
    pub project_variables: usize,
    /// The most scopes a generated variable name has values for.
    pub variants: usize,
    /// Releases per project: at least, at most.
    pub releases: (usize, usize),
}

static SMALL: Profile = Profile {
    regions: 0,
    extra_stages: false,
    machines_per_role: 1,
    users: 12,
    projects: HANDPICKED_PROJECTS.len(),
    tenants: HANDPICKED_TENANTS.len(),
    tenant_connections: 2,
    tenant_variables: 1,
    library_sets: LIBRARY_TEMPLATES.len(),
    library_variables: 4,
    project_variables: 4,
    variants: 2,
    releases: (3, 4),
};

static MEDIUM: Profile = Profile {
    regions: 3,
    extra_stages: true,
    machines_per_role: 2,
    users: 150,
    projects: 300,
    tenants: 150,
    tenant_connections: 3,
    tenant_variables: 3,
    library_sets: 30,
    library_variables: 50,
    project_variables: 20,
    variants: 3,
    releases: (8, 14),
};

static LARGE: Profile = Profile {
    regions: 12,
    extra_stages: true,
    machines_per_role: 3,
    users: 600,
    projects: 2000,
    tenants: 1000,
    tenant_connections: 5,
    tenant_variables: 9,
    library_sets: 200,
    library_variables: 330,
    project_variables: 95,
    variants: 5,
    releases: (14, 26),
};

impl Profile {
    pub(crate) fn of(size: Size) -> &'static Profile {
        match size {
            Size::Small => &SMALL,
            Size::Medium => &MEDIUM,
            Size::Large => &LARGE,
        }
    }
}

/// Where an environment stands on the way to production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Development,
    Test,
    Staging,
    Production,
}

#[derive(Debug)]
pub(crate) struct Env {
    pub name: String,
    /// The environment's part of machine and host names: `web-01.{slug}.example.com`.
    pub slug: String,
    pub stage: Stage,
    pub description: String,
    /// The region's slug, for regional environments.
    pub region: Option<&'static str>,
}

#[derive(Debug)]
pub(crate) struct PhaseDef {
    pub name: &'static str,
    pub automatic: Vec<usize>,
    pub optional: Vec<usize>,
    pub optional_phase: bool,
    pub minimum: u32,
}

#[derive(Debug)]
pub(crate) struct LifecycleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub phases: Vec<PhaseDef>,
}

impl LifecycleDef {
    /// The environments a release is promoted through, in order.
    pub(crate) fn environments(&self) -> impl Iterator<Item = usize> + '_ {
        self.phases
            .iter()
            .flat_map(|p| p.automatic.iter().chain(&p.optional).copied())
    }
}

/// Indices of the lifecycles every sample has.
pub(crate) const DEFAULT_LIFECYCLE: usize = 0;
pub(crate) const EU_ROLLOUT: usize = 1;
pub(crate) const HOTFIX_LIFECYCLE: usize = 2;
pub(crate) const INTERNAL_TOOLS: usize = 3;
/// Only in samples with regions.
const REGIONAL_ROLLOUT: usize = 4;

#[derive(Debug)]
pub(crate) struct GroupDef {
    pub name: String,
    pub description: String,
}

#[derive(Debug)]
pub(crate) struct UserDef {
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub service: bool,
    pub active: bool,
}

/// The kinds of credentials, one per `Credentials` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccountKind {
    UsernamePassword,
    Token,
    Aws,
    Azure,
    SshKeyPair,
    GoogleCloud,
}

/// Tenancy of an account, certificate or machine: tenants and tenant tags it is limited to.
#[derive(Debug, Default)]
pub(crate) struct Tenancy {
    pub tenants: Vec<usize>,
    pub tags: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct AccountDef {
    pub name: String,
    pub description: String,
    pub kind: AccountKind,
    pub environments: Vec<usize>,
    pub tenancy: Tenancy,
}

#[derive(Debug)]
pub(crate) struct CertificateDef {
    pub name: String,
    pub subject: String,
    pub environments: Vec<usize>,
    pub tenancy: Tenancy,
}

/// The index of the certificate Kubernetes clusters trust.
pub(crate) const CLUSTER_CA: usize = 2;

/// What a deployment target does; the role decides its name, its endpoint kind and which steps
/// run on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Web,
    App,
    Db,
    Worker,
    Kubernetes,
    AzureWebApp,
    OfflineDrop,
    CloudRegion,
}

impl Role {
    /// The target role, as steps and variable scopes name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Web => "web-server",
            Role::App => "app-server",
            Role::Db => "db-server",
            Role::Worker => "worker",
            Role::Kubernetes => "k8s-cluster",
            Role::AzureWebApp => "azure-web-app",
            Role::OfflineDrop => "offline-drop",
            Role::CloudRegion => "cloud",
        }
    }
}

#[derive(Debug)]
pub(crate) struct MachineDef {
    pub name: String,
    pub env: usize,
    pub role: Role,
    pub tenancy: Tenancy,
}

#[derive(Debug)]
pub(crate) struct TenantDef {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// Connected projects, each with the environments the tenant is deployed to.
    pub projects: Vec<(usize, Vec<usize>)>,
}

/// The hand-written variables a library variable set starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LibraryTemplate {
    Common,
    Databases,
    CloudAccounts,
    TenantDefaults,
    /// Generated variables only.
    Generated,
}

const LIBRARY_TEMPLATES: &[(&str, LibraryTemplate)] = &[
    ("Common settings", LibraryTemplate::Common),
    ("Database connections", LibraryTemplate::Databases),
    ("Cloud accounts", LibraryTemplate::CloudAccounts),
    ("Tenant defaults", LibraryTemplate::TenantDefaults),
];

#[derive(Debug)]
pub(crate) struct LibrarySetDef {
    pub name: String,
    pub template: LibraryTemplate,
}

/// The kind of software a project deploys; it decides the project's deployment process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Archetype {
    /// A web application on Windows servers, through Tentacles and IIS.
    WebServers,
    /// Containers on Kubernetes, with Helm.
    Kubernetes,
    /// AWS and Azure services.
    Cloud,
    /// Scripts, data jobs and infrastructure as code.
    Batch,
}

#[derive(Debug)]
pub(crate) struct ProjectDef {
    pub name: String,
    pub description: String,
    pub group: usize,
    pub lifecycle: usize,
    pub library_sets: Vec<usize>,
    pub mode: TenantedDeploymentMode,
    pub archetype: Archetype,
    /// Whether the project has a Hotfix channel.
    pub hotfix: bool,
    /// Connected tenants, each with its environments (the mirror of [`TenantDef::projects`]).
    pub tenants: Vec<(usize, Vec<usize>)>,
}

impl ProjectDef {
    pub(crate) fn tenanted(&self) -> bool {
        !matches!(self.mode, TenantedDeploymentMode::Untenanted)
    }
}

/// A project every sample has.
struct Handpicked {
    name: &'static str,
    description: &'static str,
    /// The index of its group in [`HANDPICKED_GROUPS`].
    group: usize,
    archetype: Archetype,
    lifecycle: usize,
    mode: TenantedDeploymentMode,
}

/// The projects of every sample. Several names are hostile to file systems on purpose: a slash,
/// a trailing dot, a Windows device name.
const HANDPICKED_PROJECTS: &[Handpicked] = &[
    Handpicked {
        name: "Web Storefront",
        description: "The public shop: ASP.NET Core on IIS behind the load balancers.",
        group: 0,
        archetype: Archetype::WebServers,
        lifecycle: DEFAULT_LIFECYCLE,
        mode: TenantedDeploymentMode::Untenanted,
    },
    Handpicked {
        name: "Payments/API",
        description: "Card and wallet payments. The slash is part of the name.",
        group: 1,
        archetype: Archetype::Kubernetes,
        lifecycle: DEFAULT_LIFECYCLE,
        mode: TenantedDeploymentMode::TenantedOrUntenanted,
    },
    Handpicked {
        name: "Intranet.",
        description: "The staff intranet. The trailing dot is part of the name.",
        group: 2,
        archetype: Archetype::WebServers,
        lifecycle: INTERNAL_TOOLS,
        mode: TenantedDeploymentMode::Untenanted,
    },
    Handpicked {
        name: "CON",
        description: "Contract management. CON is a reserved device name on Windows.",
        group: 2,
        archetype: Archetype::Batch,
        lifecycle: INTERNAL_TOOLS,
        mode: TenantedDeploymentMode::Untenanted,
    },
    Handpicked {
        name: "Order Service",
        description: "Order capture and the order events everything else listens to.",
        group: 0,
        archetype: Archetype::Kubernetes,
        lifecycle: EU_ROLLOUT,
        mode: TenantedDeploymentMode::Untenanted,
    },
    Handpicked {
        name: "Customer Portal",
        description: "Self-service portal, deployed once per customer.",
        group: 0,
        archetype: Archetype::Cloud,
        lifecycle: DEFAULT_LIFECYCLE,
        mode: TenantedDeploymentMode::Tenanted,
    },
    Handpicked {
        name: "Data Warehouse ETL",
        description: "Nightly loads into each customer's reporting warehouse.",
        group: 3,
        archetype: Archetype::Batch,
        lifecycle: DEFAULT_LIFECYCLE,
        mode: TenantedDeploymentMode::Tenanted,
    },
    Handpicked {
        name: "Mobile Backend",
        description: "The APIs behind the iOS and Android apps.",
        group: 4,
        archetype: Archetype::Cloud,
        lifecycle: EU_ROLLOUT,
        mode: TenantedDeploymentMode::Untenanted,
    },
];

const HANDPICKED_GROUPS: &[(&str, &str)] = &[
    ("Customer-facing", "Everything customers see and touch."),
    ("Payments", "Money in, money out; PCI scope."),
    ("Internal tools", "Software for staff."),
    ("Data", "Pipelines, warehouses and reports."),
    ("Platform", "Shared services other teams build on."),
];

/// The tenants of every sample; one name is not ASCII.
const HANDPICKED_TENANTS: &[(&str, &str, [&str; 4])] = &[
    (
        "Acme Corporation",
        "Enterprise customer since 2019, on dedicated hosting.",
        [
            "Customer tier/Enterprise",
            "Hosting/Dedicated",
            "Region/North America",
            "Release ring/Stable",
        ],
    ),
    (
        "Globex",
        "Early adopter of every beta.",
        [
            "Customer tier/Premium",
            "Hosting/Shared",
            "Region/North America",
            "Release ring/Early adopter",
        ],
    ),
    (
        "Initech",
        "Our canary: gets every release first.",
        [
            "Customer tier/Standard",
            "Hosting/Shared",
            "Region/North America",
            "Release ring/Canary",
        ],
    ),
    (
        "Umbrella Health",
        "Runs the portal in its own data centre.",
        [
            "Customer tier/Enterprise",
            "Hosting/On-premises",
            "Region/Europe",
            "Release ring/Stable",
        ],
    ),
    (
        "Café Zürich",
        "A small café chain on the free plan.",
        [
            "Customer tier/Free",
            "Hosting/Shared",
            "Region/Europe",
            "Release ring/Early adopter",
        ],
    ),
    (
        "Northwind Traders",
        "Trading company with a dedicated instance in Singapore.",
        [
            "Customer tier/Premium",
            "Hosting/Dedicated",
            "Region/Asia Pacific",
            "Release ring/Stable",
        ],
    ),
];

/// The tenant every tenanted account and certificate of the sample belongs to.
const ACME: usize = 0;

/// Service accounts: (username, display name).
const SERVICE_USERS: &[(&str, &str)] = &[
    ("svc-build", "Build server"),
    ("svc-monitoring", "Monitoring"),
    ("svc-terraform", "Terraform automation"),
];

/// Everything that exists in one sample, by name.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub seed: u64,
    pub profile: &'static Profile,
    pub environments: Vec<Env>,
    pub lifecycles: Vec<LifecycleDef>,
    pub groups: Vec<GroupDef>,
    pub users: Vec<UserDef>,
    pub accounts: Vec<AccountDef>,
    pub certificates: Vec<CertificateDef>,
    pub tenants: Vec<TenantDef>,
    pub machines: Vec<MachineDef>,
    /// Machines by environment index, untenanted first.
    pub machines_by_env: Vec<Vec<usize>>,
    pub library_sets: Vec<LibrarySetDef>,
    pub projects: Vec<ProjectDef>,
}

impl Catalog {
    pub(crate) fn new(size: Size, seed: u64) -> Self {
        let profile = Profile::of(size);
        let environments = environments(profile);
        let mut catalog = Catalog {
            seed,
            profile,
            lifecycles: lifecycles(&environments),
            environments,
            groups: Vec::new(),
            users: users(profile, seed),
            accounts: Vec::new(),
            certificates: Vec::new(),
            tenants: Vec::new(),
            machines: Vec::new(),
            machines_by_env: Vec::new(),
            library_sets: library_sets(profile),
            projects: Vec::new(),
        };
        catalog.add_projects();
        catalog.add_tenants();
        catalog.add_accounts_and_certificates();
        catalog.add_machines();
        catalog
    }

    pub(crate) fn env(&self, name: &str) -> usize {
        self.environments
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("no environment {name}"))
    }

    /// The names of some environments, as a set-like array (sorted, without duplicates).
    pub(crate) fn env_names(&self, envs: impl IntoIterator<Item = usize>) -> Vec<String> {
        crate::set(envs.into_iter().map(|e| self.environments[e].name.as_str()))
    }

    /// The groups of the generated projects, one per business domain.
    pub(crate) fn domain_groups(&self) -> &[GroupDef] {
        &self.groups[HANDPICKED_GROUPS.len()..]
    }

    /// The environments of a stage.
    fn stage(&self, stage: Stage) -> Vec<usize> {
        (0..self.environments.len())
            .filter(|&e| self.environments[e].stage == stage)
            .collect()
    }

    /// The untenanted account of a kind meant for an environment (or the first of the kind).
    pub(crate) fn account(&self, kind: AccountKind, env: Option<usize>) -> &str {
        let of_kind = || {
            self.accounts
                .iter()
                .filter(move |a| a.kind == kind && a.tenancy.tenants.is_empty())
        };
        let scoped = env.and_then(|e| of_kind().find(|a| a.environments.contains(&e)));
        &scoped
            .or_else(|| of_kind().next())
            .expect("every kind of account exists")
            .name
    }

    /// The untenanted certificate meant for an environment (or the first certificate).
    pub(crate) fn certificate(&self, env: Option<usize>) -> &str {
        let scoped = env.and_then(|e| {
            self.certificates
                .iter()
                .find(|c| c.environments.contains(&e) && c.tenancy.tenants.is_empty())
        });
        &scoped.unwrap_or(&self.certificates[0]).name
    }

    fn add_projects(&mut self) {
        let mut rng = Rng::stream(self.seed, "catalog/projects", 0);
        let generated = self.profile.projects - HANDPICKED_PROJECTS.len();
        let domains = generated.min(DOMAINS.len());
        self.groups = HANDPICKED_GROUPS
            .iter()
            .map(|&(name, description)| GroupDef {
                name: name.to_owned(),
                description: description.to_owned(),
            })
            .chain(DOMAINS[..domains].iter().map(|domain| GroupDef {
                name: (*domain).to_owned(),
                description: format!("Services of the {} domain.", domain.to_lowercase()),
            }))
            .collect();
        let regional = self.lifecycles.len() > REGIONAL_ROLLOUT;
        for (i, project) in HANDPICKED_PROJECTS.iter().enumerate() {
            let library_sets = self.pick_library_sets(&mut rng);
            self.projects.push(ProjectDef {
                name: project.name.to_owned(),
                description: project.description.to_owned(),
                group: project.group,
                lifecycle: project.lifecycle,
                library_sets,
                mode: project.mode,
                archetype: project.archetype,
                hotfix: i % 2 == 0,
                tenants: Vec::new(),
            });
        }
        for j in 0..generated {
            let c = combination(j, DOMAINS.len(), COMPONENTS.len());
            let (domain, component) = (DOMAINS[c.first], COMPONENTS[c.second]);
            let name = match c.round {
                0 => format!("{domain} {component}"),
                round => format!("{domain} {component} v{}", round + 1),
            };
            let archetype = match component {
                "API" | "Gateway" | "Service" | "Webhooks" | "Event Processor"
                | "Mobile Backend" => Archetype::Kubernetes,
                "Web" | "Portal" | "Admin" => Archetype::WebServers,
                "Frontend" | "Sync" | "Indexer" => Archetype::Cloud,
                _ => Archetype::Batch,
            };
            let lifecycle = match (archetype, rng.below(4)) {
                (Archetype::Batch, 0) => INTERNAL_TOOLS,
                (Archetype::Kubernetes | Archetype::Cloud, 0 | 1) if regional => REGIONAL_ROLLOUT,
                (_, 1) => EU_ROLLOUT,
                _ => DEFAULT_LIFECYCLE,
            };
            let mode = match j % 7 {
                0 | 3 => TenantedDeploymentMode::Tenanted,
                5 => TenantedDeploymentMode::TenantedOrUntenanted,
                _ => TenantedDeploymentMode::Untenanted,
            };
            let library_sets = self.pick_library_sets(&mut rng);
            self.projects.push(ProjectDef {
                name,
                description: format!("{component} of the {} domain.", domain.to_lowercase()),
                group: HANDPICKED_GROUPS.len() + c.first,
                lifecycle,
                library_sets,
                mode,
                archetype,
                hotfix: rng.percent(40),
                tenants: Vec::new(),
            });
        }
    }

    /// "Common settings" and one to three other library variable sets.
    fn pick_library_sets(&self, rng: &mut Rng) -> Vec<usize> {
        let others = self.library_sets.len() - 1;
        let mut sets = vec![0];
        let count = rng.between(1, 3);
        sets.extend(rng.indices(others, count).into_iter().map(|i| i + 1));
        sets
    }

    fn add_tenants(&mut self) {
        let mut rng = Rng::stream(self.seed, "catalog/tenants", 0);
        let tags: Vec<Vec<String>> = TAG_SETS
            .iter()
            .map(|set| {
                set.tags
                    .iter()
                    .map(|(tag, _)| format!("{}/{tag}", set.name))
                    .collect()
            })
            .collect();
        for &(name, description, tags) in HANDPICKED_TENANTS {
            self.tenants.push(TenantDef {
                name: name.to_owned(),
                description: description.to_owned(),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                projects: Vec::new(),
            });
        }
        for j in 0..self.profile.tenants - HANDPICKED_TENANTS.len() {
            let c = combination(j, TENANT_FIRST.len(), TENANT_SECOND.len());
            let (first, second) = (TENANT_FIRST[c.first], TENANT_SECOND[c.second]);
            let name = match c.round {
                0 => format!("{first} {second}"),
                round => format!("{first} {second} ({})", CITIES[round - 1]),
            };
            let mut tenant_tags: Vec<String> =
                tags.iter().map(|set| rng.pick(set).clone()).collect();
            tenant_tags.sort();
            self.tenants.push(TenantDef {
                name,
                description: format!(
                    "{} customer.",
                    rng.pick(&["Long-standing", "New", "Strategic", "Regional"])
                ),
                tags: tenant_tags,
                projects: Vec::new(),
            });
        }
        // Connect tenants to tenanted projects round-robin, so that every tenanted project has
        // tenants, and each connection to a few of the project's environments past development.
        let tenanted: Vec<usize> = (0..self.projects.len())
            .filter(|&p| self.projects[p].tenanted())
            .collect();
        let k = self.profile.tenant_connections.min(tenanted.len());
        for t in 0..self.tenants.len() {
            let mut projects: Vec<usize> = (0..k)
                .map(|i| tenanted[(t * k + i) % tenanted.len()])
                .collect();
            projects.sort_unstable();
            for p in projects {
                let lifecycle = &self.lifecycles[self.projects[p].lifecycle];
                let candidates: Vec<usize> = lifecycle
                    .environments()
                    .filter(|&e| self.environments[e].stage >= Stage::Test)
                    .collect();
                let count = rng.between(2, 3);
                let envs: Vec<usize> = rng.some(&candidates, count).into_iter().copied().collect();
                self.projects[p].tenants.push((t, envs.clone()));
                self.tenants[t].projects.push((p, envs));
            }
        }
    }

    fn add_accounts_and_certificates(&mut self) {
        let production: Vec<usize> = self
            .stage(Stage::Production)
            .into_iter()
            .filter(|&e| self.environments[e].region.is_none())
            .collect();
        let pre_production: Vec<usize> = (0..self.environments.len())
            .filter(|&e| {
                self.environments[e].stage < Stage::Production
                    && self.environments[e].region.is_none()
            })
            .collect();
        let acme = || Tenancy {
            tenants: vec![ACME],
            tags: vec!["Hosting/Dedicated".to_owned()],
        };
        let account =
            |name: &str, kind, description: &str, environments: Vec<usize>, tenancy| AccountDef {
                name: name.to_owned(),
                description: description.to_owned(),
                kind,
                environments,
                tenancy,
            };
        self.accounts = vec![
            account(
                "AWS Production",
                AccountKind::Aws,
                "Production AWS organisation account.",
                production.clone(),
                Tenancy::default(),
            ),
            account(
                "AWS Non-production",
                AccountKind::Aws,
                "Sandbox AWS account for everything before production.",
                pre_production,
                Tenancy::default(),
            ),
            account(
                "Azure Subscription",
                AccountKind::Azure,
                "Service principal of the main Azure subscription.",
                Vec::new(),
                Tenancy::default(),
            ),
            account(
                "Google Cloud Analytics",
                AccountKind::GoogleCloud,
                "Service account of the analytics GCP project.",
                Vec::new(),
                Tenancy::default(),
            ),
            account(
                "Deploy SSH key",
                AccountKind::SshKeyPair,
                "Key pair of the deploy user on Linux servers.",
                Vec::new(),
                Tenancy::default(),
            ),
            account(
                "SQL Server admin",
                AccountKind::UsernamePassword,
                "Administrator login for database migrations.",
                Vec::new(),
                Tenancy::default(),
            ),
            account(
                "Kubernetes deploy token",
                AccountKind::Token,
                "Service-account token of the cuttle-deployer in each cluster.",
                Vec::new(),
                Tenancy::default(),
            ),
            account(
                "Acme dedicated AWS",
                AccountKind::Aws,
                "Acme's own AWS account for its dedicated hosting.",
                production.clone(),
                acme(),
            ),
        ];
        self.certificates = vec![
            CertificateDef {
                name: "Wildcard example.com".to_owned(),
                subject: "CN=*.example.com, O=Example Ltd, C=GB".to_owned(),
                environments: Vec::new(),
                tenancy: Tenancy::default(),
            },
            CertificateDef {
                name: "Payments API client".to_owned(),
                subject: "CN=payments-api.example.com, O=Example Ltd, C=GB".to_owned(),
                environments: production.clone(),
                tenancy: Tenancy::default(),
            },
            CertificateDef {
                name: "Kubernetes cluster CA".to_owned(),
                subject: "CN=kubernetes-ca, O=Example Platform".to_owned(),
                environments: Vec::new(),
                tenancy: Tenancy::default(),
            },
            CertificateDef {
                name: "Acme Corporation TLS".to_owned(),
                subject: "CN=portal.acme-corporation.example.com, O=Acme Corporation".to_owned(),
                environments: production,
                tenancy: Tenancy {
                    tenants: vec![ACME],
                    tags: vec!["Customer tier/Enterprise".to_owned()],
                },
            },
        ];
        for (name, slug) in &REGIONS[..self.profile.regions] {
            let regional: Vec<usize> = (0..self.environments.len())
                .filter(|&e| self.environments[e].region == Some(*slug))
                .collect();
            self.accounts.push(account(
                &format!("AWS {name}"),
                AccountKind::Aws,
                &format!("AWS account of the {name} region."),
                regional.clone(),
                Tenancy::default(),
            ));
            self.certificates.push(CertificateDef {
                name: format!("Wildcard {slug}.example.com"),
                subject: format!("CN=*.{slug}.example.com, O=Example Ltd"),
                environments: regional,
                tenancy: Tenancy::default(),
            });
        }
    }

    fn add_machines(&mut self) {
        let mut roles = vec![Role::Web, Role::App, Role::Db];
        if self.profile.extra_stages {
            roles.push(Role::Worker);
        }
        let mut machines = Vec::new();
        for (e, env) in self.environments.iter().enumerate() {
            let slug = &env.slug;
            let untenanted = |name: String, role| MachineDef {
                name,
                env: e,
                role,
                tenancy: Tenancy::default(),
            };
            for &role in &roles {
                let prefix = match role {
                    Role::Web => "web",
                    Role::App => "app",
                    Role::Db => "db",
                    _ => "worker",
                };
                let count = if role == Role::Db {
                    1
                } else {
                    self.profile.machines_per_role
                };
                for n in 1..=count {
                    machines.push(untenanted(
                        format!("{prefix}-{n:02}.{slug}.example.com"),
                        role,
                    ));
                }
            }
            if env.stage >= Stage::Staging {
                machines.push(untenanted(format!("k8s-{slug}"), Role::Kubernetes));
            }
            if env.stage >= Stage::Staging && env.region.is_none() && env.name != "DR Zürich" {
                machines.push(untenanted(
                    format!("azure-webapp-{slug}"),
                    Role::AzureWebApp,
                ));
            }
            if env.stage == Stage::Development
                || (env.region.is_some() && env.stage == Stage::Production)
            {
                machines.push(untenanted(
                    format!("cloud-region-{slug}"),
                    Role::CloudRegion,
                ));
            }
            if env.name == "Production" || env.name == "DR Zürich" {
                machines.push(untenanted(
                    format!("offline-drop-{slug}"),
                    Role::OfflineDrop,
                ));
            }
            if env.stage == Stage::Production {
                machines.push(MachineDef {
                    name: format!("shared-web-01.{slug}.example.com"),
                    env: e,
                    role: Role::Web,
                    tenancy: Tenancy {
                        tenants: Vec::new(),
                        tags: vec!["Hosting/Shared".to_owned()],
                    },
                });
            }
        }
        // Tenants on dedicated hosting have their own web servers in each of their environments.
        for (t, tenant) in self.tenants.iter().enumerate() {
            if !tenant.tags.iter().any(|tag| tag == "Hosting/Dedicated") {
                continue;
            }
            let mut envs: Vec<usize> = tenant
                .projects
                .iter()
                .flat_map(|(_, envs)| envs.iter().copied())
                .collect();
            envs.sort_unstable();
            envs.dedup();
            let tenant_slug = words::slug(&tenant.name);
            for e in envs {
                machines.push(MachineDef {
                    name: format!(
                        "web-01.{tenant_slug}.{}.example.com",
                        self.environments[e].slug
                    ),
                    env: e,
                    role: Role::Web,
                    tenancy: Tenancy {
                        tenants: vec![t],
                        tags: Vec::new(),
                    },
                });
            }
        }
        self.machines_by_env = vec![Vec::new(); self.environments.len()];
        for (m, machine) in machines.iter().enumerate() {
            self.machines_by_env[machine.env].push(m);
        }
        self.machines = machines;
    }
}

fn environments(profile: &Profile) -> Vec<Env> {
    let mut envs = Vec::new();
    let mut add = |name: String, slug: String, stage, description: String, region| {
        envs.push(Env {
            name,
            slug,
            stage,
            description,
            region,
        });
    };
    let mut base = |name: &str, slug: &str, stage, description: &str| {
        add(
            name.to_owned(),
            slug.to_owned(),
            stage,
            description.to_owned(),
            None,
        );
    };
    base(
        "Development",
        "dev",
        Stage::Development,
        "Integration environment; every merge to main deploys here.",
    );
    base(
        "Test",
        "test",
        Stage::Test,
        "Automated regression tests run here.",
    );
    if profile.extra_stages {
        base("QA", "qa", Stage::Test, "Manual testing by the QA team.");
        base(
            "UAT",
            "uat",
            Stage::Staging,
            "User acceptance testing with business stakeholders.",
        );
    }
    base(
        "Staging",
        "staging",
        Stage::Staging,
        "Production-like; the last stop before production.",
    );
    base(
        "Production",
        "prod",
        Stage::Production,
        "Live and customer-facing.",
    );
    base(
        "Prod-EU",
        "prod-eu",
        Stage::Production,
        "EU production, in Frankfurt.",
    );
    base(
        "prod-eu",
        "prod-eu-legacy",
        Stage::Production,
        "Legacy EU production. Its name differs from Prod-EU only by case; \
         it goes when the migration is done.",
    );
    base(
        "DR Zürich",
        "dr-zurich",
        Stage::Production,
        "Disaster-recovery site in Zürich, deployed on demand.",
    );
    for (region, slug) in &REGIONS[..profile.regions] {
        add(
            format!("Staging {region}"),
            format!("staging-{slug}"),
            Stage::Staging,
            format!("Staging in {region}."),
            Some(*slug),
        );
        add(
            format!("Production {region}"),
            format!("prod-{slug}"),
            Stage::Production,
            format!("Production in {region}."),
            Some(*slug),
        );
    }
    envs
}

fn lifecycles(envs: &[Env]) -> Vec<LifecycleDef> {
    let named = |names: &[&str]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|name| envs.iter().position(|e| e.name == *name))
            .collect()
    };
    let phase = |name, automatic: Vec<usize>, optional: Vec<usize>| PhaseDef {
        name,
        automatic,
        optional,
        optional_phase: false,
        minimum: 0,
    };
    let development = || phase("Development", named(&["Development"]), Vec::new());
    let test = || phase("Test", Vec::new(), named(&["Test", "QA"]));
    let staging = || phase("Staging", Vec::new(), named(&["UAT", "Staging"]));
    let mut lifecycles = vec![
        LifecycleDef {
            name: "Default lifecycle",
            description: "Development, test, staging, production.",
            phases: vec![
                development(),
                test(),
                staging(),
                phase("Production", Vec::new(), named(&["Production"])),
            ],
        },
        LifecycleDef {
            name: "EU rollout",
            description: "Through staging to both EU production sites, \
                          with the Zürich DR site on demand.",
            phases: vec![
                development(),
                test(),
                staging(),
                phase("EU production", Vec::new(), named(&["Prod-EU", "prod-eu"])),
                PhaseDef {
                    optional_phase: true,
                    ..phase("Disaster recovery", Vec::new(), named(&["DR Zürich"]))
                },
            ],
        },
        LifecycleDef {
            name: "Hotfix",
            description: "Straight to staging and production.",
            phases: vec![
                phase("Staging", Vec::new(), named(&["Staging"])),
                phase(
                    "Production",
                    Vec::new(),
                    named(&["Production", "Prod-EU", "prod-eu"]),
                ),
            ],
        },
        LifecycleDef {
            name: "Internal tools",
            description: "Development, then production.",
            phases: vec![
                development(),
                phase("Production", Vec::new(), named(&["Production"])),
            ],
        },
    ];
    let regional = |stage| -> Vec<usize> {
        (0..envs.len())
            .filter(|&e| envs[e].region.is_some() && envs[e].stage == stage)
            .collect()
    };
    if envs.iter().any(|e| e.region.is_some()) {
        let mut staging_envs = named(&["Staging"]);
        staging_envs.extend(regional(Stage::Staging));
        let mut production_envs = named(&["Production"]);
        production_envs.extend(regional(Stage::Production));
        lifecycles.push(LifecycleDef {
            name: "Regional rollout",
            description: "Staged through every region, two staging regions before production.",
            phases: vec![
                development(),
                test(),
                PhaseDef {
                    minimum: 2,
                    ..phase("Regional staging", Vec::new(), staging_envs)
                },
                phase("Regional production", Vec::new(), production_envs),
            ],
        });
    }
    lifecycles
}

fn library_sets(profile: &Profile) -> Vec<LibrarySetDef> {
    let mut sets: Vec<LibrarySetDef> = LIBRARY_TEMPLATES
        .iter()
        .map(|&(name, template)| LibrarySetDef {
            name: name.to_owned(),
            template,
        })
        .collect();
    for j in 0..profile.library_sets - sets.len() {
        let c = combination(j, DOMAINS.len(), LIBRARY_SET_KINDS.len());
        assert_eq!(c.round, 0, "library variable set names exhausted");
        sets.push(LibrarySetDef {
            name: format!("{} {}", DOMAINS[c.first], LIBRARY_SET_KINDS[c.second]),
            template: LibraryTemplate::Generated,
        });
    }
    sets
}

fn users(profile: &Profile, seed: u64) -> Vec<UserDef> {
    let mut rng = Rng::stream(seed, "catalog/users", 0);
    let mut users: Vec<UserDef> = SERVICE_USERS
        .iter()
        .map(|&(username, display)| UserDef {
            username: username.to_owned(),
            display_name: display.to_owned(),
            email: format!("{username}@example.com"),
            service: true,
            active: true,
        })
        .collect();
    for j in 0..profile.users - users.len() {
        let c = combination(j, FIRST_NAMES.len(), LAST_NAMES.len());
        let (first, last) = (FIRST_NAMES[c.first], LAST_NAMES[c.second]);
        let mut username = format!("{}.{}", words::slug(first), words::slug(last));
        if c.round > 0 {
            username.push_str(&(c.round + 1).to_string());
        }
        users.push(UserDef {
            email: format!("{username}@example.com"),
            username,
            display_name: format!("{first} {last}"),
            service: false,
            active: !rng.percent(5),
        });
    }
    users
}
