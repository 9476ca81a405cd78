//! Projects and what they own: channels, the deployment process, variables and triggers.

use cuttle_domain::documents::{
    Channel, ChannelRule, DeploymentProcess, Project, ProjectScope, ProjectVariables, Prompt,
    Trigger, TriggerAction, TriggerFilter, Variable, VariableType,
};

use crate::catalog::{AccountKind, Catalog, HOTFIX_LIFECYCLE, ProjectDef, Role, Stage};
use crate::process::{self, BETA_CHANNEL, PackageModel, ProcessPlan, StepFact};
use crate::rng::Rng;
use crate::variables::{Owner, Slot, account_type, variable};
use crate::{Out, secret_value, set, text, words};

const DEFAULT_CHANNEL: &str = "Default";
const HOTFIX_CHANNEL: &str = "Hotfix";
const VERSION_TEMPLATE: &str =
    "#{Cuttle.Version.LastMajor}.#{Cuttle.Version.LastMinor}.#{Cuttle.Version.NextPatch}";
/// The tenants beta releases go to.
const BETA_TENANT_TAGS: &[&str] = &["Release ring/Canary", "Release ring/Early adopter"];

/// A channel, as releases see it.
#[derive(Debug)]
pub(crate) struct ChannelModel {
    pub name: &'static str,
    /// The lifecycle the channel's releases are promoted through.
    pub lifecycle: usize,
    pub kind: ChannelKind,
    /// The tenant tags the channel's releases are limited to (none: every tenant).
    pub tenant_tags: &'static [&'static str],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    Default,
    Beta,
    Hotfix,
}

/// What the history of a project needs to know about it.
#[derive(Debug)]
pub(crate) struct ProjectModel {
    /// The project's index in the catalog.
    pub index: usize,
    pub channels: Vec<ChannelModel>,
    pub packages: Vec<PackageModel>,
    pub steps: Vec<StepFact>,
}

/// Emits every project with its channels, process, variables and triggers; returns what their
/// history needs.
pub(crate) fn emit_projects(catalog: &Catalog, out: &mut Out) -> Vec<ProjectModel> {
    let mut models = Vec::with_capacity(catalog.projects.len());
    for (p, def) in catalog.projects.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "projects", p as u64);
        let slug = words::slug(&def.name);
        let plan = process::build(catalog, def, &slug, &words::pascal(&def.name), &mut rng);
        let channels = channels(def);
        let library_sets = def
            .library_sets
            .iter()
            .map(|&s| catalog.library_sets[s].name.as_str());

        out.emit(&Project {
            name: def.name.clone(),
            description: def.description.clone(),
            project_group: catalog.groups[def.group].name.clone(),
            lifecycle: catalog.lifecycles[def.lifecycle].name.to_owned(),
            included_library_variable_sets: set(library_sets),
            is_disabled: rng.percent(2),
            tenanted_deployment_mode: def.mode,
            discrete_channel_release: false,
            default_guided_failure: rng.percent(30),
            release_version_template: VERSION_TEMPLATE.to_owned(),
        });
        let own_actions = plan.own_package_actions();
        for channel in &channels {
            let (description, rule) = match channel.kind {
                ChannelKind::Default => ("Regular releases.", rule(&own_actions, "[1.0,)", "^$")),
                ChannelKind::Beta => (
                    "Pre-releases for canary and early-adopter tenants.",
                    rule(&own_actions, "", "^beta"),
                ),
                ChannelKind::Hotfix => (
                    "Urgent fixes, straight to staging and production.",
                    rule(&own_actions, "", "^$"),
                ),
            };
            out.emit(&Channel {
                project: def.name.clone(),
                name: channel.name.to_owned(),
                description: description.to_owned(),
                lifecycle: (channel.kind == ChannelKind::Hotfix)
                    .then(|| catalog.lifecycles[HOTFIX_LIFECYCLE].name.to_owned()),
                is_default: channel.kind == ChannelKind::Default,
                tenant_tags: set(channel.tenant_tags.iter().copied()),
                rules: vec![rule],
            });
        }
        let variables = project_variables(catalog, p, &slug, &plan, &mut rng);
        out.emit(&DeploymentProcess {
            project: def.name.clone(),
            steps: plan.steps,
        });
        out.emit(&ProjectVariables {
            project: def.name.clone(),
            variables,
        });
        for trigger in triggers(catalog, p, plan.main_role) {
            out.emit(&trigger);
        }
        models.push(ProjectModel {
            index: p,
            channels,
            packages: plan.packages,
            steps: plan.facts,
        });
    }
    models
}

fn rule(actions: &[String], version_range: &str, tag: &str) -> ChannelRule {
    ChannelRule {
        actions: actions.to_vec(),
        version_range: version_range.to_owned(),
        tag: tag.to_owned(),
    }
}

fn channels(def: &ProjectDef) -> Vec<ChannelModel> {
    let mut channels = vec![
        ChannelModel {
            name: DEFAULT_CHANNEL,
            lifecycle: def.lifecycle,
            kind: ChannelKind::Default,
            tenant_tags: &[],
        },
        ChannelModel {
            name: BETA_CHANNEL,
            lifecycle: def.lifecycle,
            kind: ChannelKind::Beta,
            tenant_tags: BETA_TENANT_TAGS,
        },
    ];
    if def.hotfix {
        channels.push(ChannelModel {
            name: HOTFIX_CHANNEL,
            lifecycle: HOTFIX_LIFECYCLE,
            kind: ChannelKind::Hotfix,
            tenant_tags: &[],
        });
    }
    channels
}

/// The account kinds project variables name, one per project in turn.
const ACCOUNT_KINDS: &[AccountKind] = &[
    AccountKind::Aws,
    AccountKind::Azure,
    AccountKind::GoogleCloud,
    AccountKind::UsernamePassword,
    AccountKind::Token,
];

fn project_variables(
    catalog: &Catalog,
    p: usize,
    slug: &str,
    plan: &ProcessPlan,
    rng: &mut Rng,
) -> Vec<Variable<ProjectScope>> {
    let def = &catalog.projects[p];
    let envs: Vec<usize> = catalog.lifecycles[def.lifecycle].environments().collect();
    let production = *envs
        .iter()
        .find(|&&e| catalog.environments[e].stage == Stage::Production)
        .expect("every lifecycle reaches production");
    let env_name = |e: usize| catalog.environments[e].name.clone();
    let in_env = |e: usize| ProjectScope {
        environments: vec![env_name(e)],
        ..Default::default()
    };
    let role = plan.main_role.name().to_owned();
    let machine = machine_for(catalog, production, plan.main_role);
    let plain = |name: &str, value: String, scope| {
        variable(name, VariableType::String, Some(text(value)), scope)
    };
    let owner = Owner { catalog, app: slug };

    let mut variables = vec![plain(
        "Database.Server",
        "sql-shared.example.internal".to_owned(),
        ProjectScope::default(),
    )];
    for &e in &envs {
        let env_slug = &catalog.environments[e].slug;
        variables.push(plain(
            "Database.Server",
            format!("sql-{env_slug}.example.internal"),
            in_env(e),
        ));
        variables.push(variable(
            "Database.ConnectionString",
            VariableType::Sensitive,
            Some(secret_value(rng)),
            in_env(e),
        ));
        variables.push(plain(
            "Web.BaseUrl",
            format!("https://{slug}.{env_slug}.example.com"),
            in_env(e),
        ));
    }
    variables.push(variable(
        "Api.Key",
        VariableType::Sensitive,
        Some(secret_value(rng)),
        ProjectScope::default(),
    ));
    variables.extend([
        plain(
            "Database.RunMigrations",
            "True".to_owned(),
            ProjectScope::default(),
        ),
        plain(
            "Database.RunMigrations",
            "False".to_owned(),
            ProjectScope {
                channels: vec![BETA_CHANNEL.to_owned()],
                ..Default::default()
            },
        ),
        plain(
            "Logging.Level",
            "Information".to_owned(),
            ProjectScope::default(),
        ),
        plain(
            "Logging.Level",
            "Warning".to_owned(),
            ProjectScope {
                roles: vec![role.clone()],
                ..in_env(production)
            },
        ),
        plain(
            "Deploy.MaintenancePage",
            "True".to_owned(),
            ProjectScope {
                steps: vec![plan.main_step.clone()],
                ..Default::default()
            },
        ),
        plain(
            "Release.Audience",
            "Early adopters".to_owned(),
            ProjectScope {
                channels: vec![BETA_CHANNEL.to_owned()],
                ..Default::default()
            },
        ),
        plain(
            "Features.Banner",
            "Enterprise edition".to_owned(),
            ProjectScope {
                tenant_tags: vec!["Customer tier/Enterprise".to_owned()],
                ..Default::default()
            },
        ),
        plain(
            "Deploy.DrainTimeoutSeconds",
            "30".to_owned(),
            ProjectScope::default(),
        ),
        plain(
            "Deploy.DrainTimeoutSeconds",
            "120".to_owned(),
            ProjectScope {
                machines: vec![machine],
                ..Default::default()
            },
        ),
        plain(
            "Kubernetes.Namespace",
            slug.to_owned(),
            ProjectScope::default(),
        ),
    ]);
    if def.hotfix {
        let scope = ProjectScope {
            channels: vec!["Hotfix".to_owned()],
            ..Default::default()
        };
        variables.push(plain(
            "Release.Audience",
            "Everyone, urgently".to_owned(),
            scope,
        ));
    }
    let kind = ACCOUNT_KINDS[p % ACCOUNT_KINDS.len()];
    variables.push(variable(
        "Cloud.Account",
        account_type(kind),
        Some(text(catalog.account(kind, Some(production)))),
        ProjectScope::default(),
    ));
    variables.push(variable(
        "Tls.Certificate",
        VariableType::Certificate,
        Some(text(catalog.certificate(Some(production)))),
        in_env(production),
    ));
    variables.push(Variable {
        description: "Who approved this release; recorded in the audit log.".to_owned(),
        prompt: Some(Prompt {
            label: "Approved by".to_owned(),
            description: "Your name, as the approver.".to_owned(),
            required: true,
        }),
        ..plain("Release.ApprovedBy", String::new(), ProjectScope::default())
    });

    let slots = project_slots(catalog, def, &envs, production, plan);
    owner.generate(
        rng,
        catalog.profile.project_variables,
        catalog.profile.variants,
        &slots,
        &mut variables,
    );
    variables
}

/// A machine of `role` in `env` (any untenanted machine of `env` when there is none).
fn machine_for(catalog: &Catalog, env: usize, role: Role) -> String {
    let untenanted = || {
        catalog.machines_by_env[env]
            .iter()
            .map(|&m| &catalog.machines[m])
            .filter(|m| m.tenancy.tenants.is_empty())
    };
    let machine = untenanted()
        .find(|m| m.role == role)
        .or_else(|| untenanted().next())
        .expect("every environment has machines");
    machine.name.clone()
}

/// The distinct scopes generated project variables have values for.
fn project_slots(
    catalog: &Catalog,
    def: &ProjectDef,
    envs: &[usize],
    production: usize,
    plan: &ProcessPlan,
) -> Vec<Slot<ProjectScope>> {
    let only = |scope: ProjectScope| Slot { scope, env: None };
    let in_env = |e: usize| ProjectScope {
        environments: vec![catalog.environments[e].name.clone()],
        ..Default::default()
    };
    let role = plan.main_role.name().to_owned();
    let mut slots = vec![only(ProjectScope::default())];
    slots.extend(envs.iter().map(|&e| Slot {
        scope: in_env(e),
        env: Some(e),
    }));
    slots.push(Slot {
        scope: ProjectScope {
            roles: vec![role.clone()],
            ..in_env(production)
        },
        env: Some(production),
    });
    slots.push(Slot {
        scope: ProjectScope {
            machines: vec![machine_for(catalog, production, plan.main_role)],
            ..Default::default()
        },
        env: Some(production),
    });
    slots.push(only(ProjectScope {
        roles: vec![role],
        ..Default::default()
    }));
    slots.push(only(ProjectScope {
        channels: vec![BETA_CHANNEL.to_owned()],
        ..Default::default()
    }));
    if def.hotfix {
        slots.push(only(ProjectScope {
            channels: vec![HOTFIX_CHANNEL.to_owned()],
            ..Default::default()
        }));
    }
    slots.push(only(ProjectScope {
        steps: vec![plan.main_step.clone()],
        ..Default::default()
    }));
    for tag in ["Release ring/Canary", "Customer tier/Premium"] {
        slots.push(only(ProjectScope {
            tenant_tags: vec![tag.to_owned()],
            ..Default::default()
        }));
    }
    slots
}

fn triggers(catalog: &Catalog, p: usize, role: Role) -> Vec<Trigger> {
    let def = &catalog.projects[p];
    let lifecycle = &catalog.lifecycles[def.lifecycle];
    let trigger = |name: &str, description: &str, filter, action| Trigger {
        project: def.name.clone(),
        name: name.to_owned(),
        description: description.to_owned(),
        is_disabled: false,
        filter,
        action,
    };
    let mut triggers = vec![trigger(
        "Deploy to new machines",
        "Brings new deployment targets up to date.",
        TriggerFilter::MachineCreated {
            environments: catalog.env_names(lifecycle.environments()),
            roles: vec![role.name().to_owned()],
        },
        TriggerAction::AutoDeploy {
            should_redeploy: false,
        },
    )];
    if p.is_multiple_of(2) {
        // Promote nightly from the test phase (the first, in two-phase lifecycles) to the next.
        let from = usize::from(lifecycle.phases.len() > 2);
        let (source, next) = (&lifecycle.phases[from], &lifecycle.phases[from + 1]);
        let destination = *next
            .automatic
            .iter()
            .chain(&next.optional)
            .next()
            .expect("phases have environments");
        triggers.push(trigger(
            "Nightly promotion",
            "Promotes the latest release every weekday night.",
            TriggerFilter::Schedule {
                cron: "0 0 2 * * 1-5".to_owned(),
                timezone: "Europe/London".to_owned(),
            },
            TriggerAction::DeployLatestRelease {
                source_environments: catalog
                    .env_names(source.automatic.iter().chain(&source.optional).copied()),
                destination_environment: catalog.environments[destination].name.clone(),
                channel: Some(DEFAULT_CHANNEL.to_owned()),
            },
        ));
    }
    if p.is_multiple_of(3) {
        triggers.push(trigger(
            "Nightly beta",
            "Creates a beta release from the latest packages every night.",
            TriggerFilter::Schedule {
                cron: "0 30 1 * * *".to_owned(),
                timezone: "UTC".to_owned(),
            },
            TriggerAction::CreateRelease {
                channel: Some(BETA_CHANNEL.to_owned()),
            },
        ));
    }
    if p % 5 == 4 {
        triggers.push(trigger(
            "Weekly release",
            "Creates a release in the default channel every Monday.",
            TriggerFilter::Schedule {
                cron: "0 0 6 * * 1".to_owned(),
                timezone: "America/New_York".to_owned(),
            },
            TriggerAction::CreateRelease { channel: None },
        ));
    }
    triggers
}
