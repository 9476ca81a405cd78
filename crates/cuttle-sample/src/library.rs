//! The library: tag sets, project groups, step templates, lifecycles and library variable sets.

use std::collections::BTreeMap;

use cuttle_domain::documents::{
    ControlType, InlineScript, LibraryScope, LibraryVariableSet, Lifecycle, Phase, ProjectGroup,
    Prompt, RetentionPolicy, RetentionUnit, ScriptSyntax, StepTemplate, Tag, TagSet,
    TemplateParameter, Variable, VariableType,
};

use crate::catalog::{AccountKind, Catalog, LibraryTemplate, Role, Stage};
use crate::rng::Rng;
use crate::variables::{Owner, Slot, account_type, variable};
use crate::{Out, scripts, secret_value, text, words};

/// A tag set: its name, description and tags with their colours.
pub(crate) struct TagSetDef {
    pub name: &'static str,
    pub description: &'static str,
    pub tags: &'static [(&'static str, &'static str)],
}

pub(crate) const TAG_SETS: &[TagSetDef] = &[
    TagSetDef {
        name: "Customer tier",
        description: "What the customer pays for.",
        tags: &[
            ("Free", "#9E9E9E"),
            ("Standard", "#2196F3"),
            ("Premium", "#9C27B0"),
            ("Enterprise", "#FF9800"),
        ],
    },
    TagSetDef {
        name: "Region",
        description: "Where the customer's data lives.",
        tags: &[
            ("Europe", "#3F51B5"),
            ("North America", "#F44336"),
            ("Asia Pacific", "#4CAF50"),
            ("Latin America", "#FFC107"),
        ],
    },
    TagSetDef {
        name: "Release ring",
        description: "How early the customer gets new releases.",
        tags: &[
            ("Canary", "#E91E63"),
            ("Early adopter", "#00BCD4"),
            ("Stable", "#8BC34A"),
        ],
    },
    TagSetDef {
        name: "Hosting",
        description: "Where the customer's instance runs.",
        tags: &[
            ("Shared", "#607D8B"),
            ("Dedicated", "#795548"),
            ("On-premises", "#000000"),
        ],
    },
];

pub(crate) fn emit_tag_sets(out: &mut Out) {
    for (i, set) in TAG_SETS.iter().enumerate() {
        out.emit(&TagSet {
            name: set.name.to_owned(),
            description: set.description.to_owned(),
            sort_order: i as i32 + 1,
            tags: set
                .tags
                .iter()
                .map(|&(name, color)| Tag {
                    name: name.to_owned(),
                    color: color.to_owned(),
                    description: String::new(),
                })
                .collect(),
        });
    }
}

pub(crate) fn emit_project_groups(catalog: &Catalog, out: &mut Out) {
    for group in &catalog.groups {
        out.emit(&ProjectGroup {
            name: group.name.clone(),
            description: group.description.clone(),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Step templates

/// A step template's default parameter value.
#[derive(Clone, Copy)]
pub(crate) enum ParamDefault {
    None,
    Text(&'static str),
    /// A sensitive default (only for `ControlType::Sensitive`).
    Secret,
}

pub(crate) struct ParamDef {
    pub name: &'static str,
    pub label: &'static str,
    pub control: ControlType,
    pub default: ParamDefault,
}

pub(crate) struct TemplateDef {
    pub name: &'static str,
    pub description: &'static str,
    pub action_type: &'static str,
    pub parameters: &'static [ParamDef],
    pub script: Option<(ScriptSyntax, &'static str)>,
    /// A property the template itself holds as a sensitive value.
    pub secret_property: Option<&'static str>,
}

pub(crate) const SMOKE_TEST: &str = "Smoke test";
pub(crate) const NOTIFY_SLACK: &str = "Notify Slack";
pub(crate) const CHECK_DISK: &str = "Check disk space";
pub(crate) const MIGRATIONS: &str = "Run database migrations";
pub(crate) const FLUSH_CDN: &str = "Flush CDN cache";
pub(crate) const APPROVAL: &str = "Approve production deployment";
pub(crate) const JIRA_RELEASE: &str = "Create Jira release";
pub(crate) const METRICS: &str = "Report deployment metrics";
pub(crate) const WARM_UP: &str = "Warm up web app";

const fn param(
    name: &'static str,
    label: &'static str,
    control: ControlType,
    default: ParamDefault,
) -> ParamDef {
    ParamDef {
        name,
        label,
        control,
        default,
    }
}

pub(crate) const TEMPLATES: &[TemplateDef] = &[
    TemplateDef {
        name: SMOKE_TEST,
        description: "Polls a URL until it answers with the expected status.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Smoke.Url",
                "URL to check",
                ControlType::SingleLineText,
                ParamDefault::Text("#{Web.BaseUrl}/health"),
            ),
            param(
                "Smoke.ExpectedStatus",
                "Expected HTTP status",
                ControlType::Select,
                ParamDefault::Text("200"),
            ),
            param(
                "Smoke.Attempts",
                "Attempts",
                ControlType::SingleLineText,
                ParamDefault::Text("10"),
            ),
        ],
        script: Some((ScriptSyntax::Bash, scripts::SMOKE_TEST)),
        secret_property: None,
    },
    TemplateDef {
        name: NOTIFY_SLACK,
        description: "Posts the outcome of a deployment to a Slack channel.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Slack.WebhookUrl",
                "Incoming webhook URL",
                ControlType::Sensitive,
                ParamDefault::Secret,
            ),
            param(
                "Slack.Channel",
                "Channel",
                ControlType::SingleLineText,
                ParamDefault::Text("#deployments"),
            ),
            param(
                "Slack.Message",
                "Message",
                ControlType::MultiLineText,
                ParamDefault::Text(
                    "#{Cuttle.Project.Name} #{Cuttle.Release.Number} \
                     to #{Cuttle.Environment.Name}: #{Cuttle.Deployment.State}",
                ),
            ),
        ],
        script: Some((ScriptSyntax::Bash, scripts::NOTIFY_SLACK)),
        secret_property: Some("Slack.SigningSecret"),
    },
    TemplateDef {
        name: CHECK_DISK,
        description: "Fails (or warns) when a drive is short of free space.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Disk.MinimumFreeGb",
                "Minimum free space (GB)",
                ControlType::SingleLineText,
                ParamDefault::Text("10"),
            ),
            param(
                "Disk.Drives",
                "Drives",
                ControlType::SingleLineText,
                ParamDefault::Text("C:"),
            ),
            param(
                "Disk.FailOnWarning",
                "Fail instead of warning",
                ControlType::Checkbox,
                ParamDefault::Text("False"),
            ),
        ],
        script: Some((ScriptSyntax::PowerShell, scripts::CHECK_DISK)),
        secret_property: None,
    },
    TemplateDef {
        name: MIGRATIONS,
        description: "Applies Entity Framework migrations from the migrations package.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Db.ConnectionString",
                "Connection string",
                ControlType::Sensitive,
                ParamDefault::Secret,
            ),
            param(
                "Db.MigrationsPath",
                "Migrations project",
                ControlType::SingleLineText,
                ParamDefault::Text("Migrations"),
            ),
        ],
        script: Some((ScriptSyntax::PowerShell, scripts::MIGRATIONS)),
        secret_property: None,
    },
    TemplateDef {
        name: FLUSH_CDN,
        description: "Purges the CDN cache of a zone after a deployment.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Cdn.ZoneId",
                "Zone id",
                ControlType::SingleLineText,
                ParamDefault::None,
            ),
            param(
                "Cdn.ApiToken",
                "API token",
                ControlType::Sensitive,
                ParamDefault::Secret,
            ),
        ],
        script: Some((ScriptSyntax::Python, scripts::FLUSH_CDN)),
        secret_property: None,
    },
    TemplateDef {
        name: APPROVAL,
        description: "Waits for someone to approve the deployment.",
        action_type: "Cuttle.Manual",
        parameters: &[
            param(
                "Approval.Instructions",
                "Instructions",
                ControlType::MultiLineText,
                ParamDefault::Text(
                    "Read the release notes and check the error budget, then approve.",
                ),
            ),
            param(
                "Approval.Team",
                "Who approves",
                ControlType::Select,
                ParamDefault::Text("Release managers"),
            ),
        ],
        script: None,
        secret_property: None,
    },
    TemplateDef {
        name: JIRA_RELEASE,
        description: "Creates the Jira version of the release being deployed.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "Jira.Url",
                "Jira URL",
                ControlType::SingleLineText,
                ParamDefault::Text("https://example.atlassian.net"),
            ),
            param(
                "Jira.ProjectKey",
                "Project key",
                ControlType::SingleLineText,
                ParamDefault::None,
            ),
            param(
                "Jira.ApiToken",
                "API token",
                ControlType::Sensitive,
                ParamDefault::Secret,
            ),
        ],
        script: Some((ScriptSyntax::CSharp, scripts::JIRA_RELEASE)),
        secret_property: None,
    },
    TemplateDef {
        name: METRICS,
        description: "Records how long the deployment took.",
        action_type: "Cuttle.Script",
        parameters: &[param(
            "Metrics.Endpoint",
            "Metrics endpoint",
            ControlType::SingleLineText,
            ParamDefault::Text("https://metrics.example.internal"),
        )],
        script: Some((ScriptSyntax::FSharp, scripts::METRICS)),
        secret_property: None,
    },
    TemplateDef {
        name: WARM_UP,
        description: "Requests a few pages, so that the first customer does not wait for a \
                      cold start.",
        action_type: "Cuttle.Script",
        parameters: &[
            param(
                "WarmUp.Urls",
                "URLs, one a line",
                ControlType::MultiLineText,
                ParamDefault::Text("#{Web.BaseUrl}/\n#{Web.BaseUrl}/login"),
            ),
            param(
                "WarmUp.Requests",
                "Requests per URL",
                ControlType::SingleLineText,
                ParamDefault::Text("3"),
            ),
        ],
        script: Some((ScriptSyntax::Bash, scripts::WARM_UP)),
        secret_property: None,
    },
];

/// The template of that name.
pub(crate) fn template(name: &str) -> &'static TemplateDef {
    TEMPLATES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no step template {name}"))
}

pub(crate) fn emit_step_templates(catalog: &Catalog, out: &mut Out) {
    for (i, def) in TEMPLATES.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "step-templates", i as u64);
        let mut properties = BTreeMap::new();
        if def.script.is_some() {
            properties.insert(
                "Cuttle.Action.Script.ScriptSource".to_owned(),
                text("Inline"),
            );
        }
        if let Some(key) = def.secret_property {
            properties.insert(key.to_owned(), secret_value(&mut rng));
        }
        let parameters = def
            .parameters
            .iter()
            .map(|p| TemplateParameter {
                name: p.name.to_owned(),
                label: p.label.to_owned(),
                help_text: String::new(),
                control_type: p.control,
                default_value: match p.default {
                    ParamDefault::None => None,
                    ParamDefault::Text(value) => Some(text(value)),
                    ParamDefault::Secret => Some(secret_value(&mut rng)),
                },
            })
            .collect();
        out.emit(&StepTemplate {
            name: def.name.to_owned(),
            description: def.description.to_owned(),
            action_type: def.action_type.to_owned(),
            version: rng.between(1, 6) as u32,
            parameters,
            properties,
            script: def.script.map(|(syntax, body)| InlineScript {
                syntax,
                body: body.to_owned(),
            }),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycles

pub(crate) fn emit_lifecycles(catalog: &Catalog, out: &mut Out) {
    let names = |envs: &[usize]| catalog.env_names(envs.iter().copied());
    for lifecycle in &catalog.lifecycles {
        let phases = lifecycle
            .phases
            .iter()
            .map(|phase| Phase {
                name: phase.name.to_owned(),
                automatic_deployment_targets: names(&phase.automatic),
                optional_deployment_targets: names(&phase.optional),
                minimum_environments_before_promotion: phase.minimum,
                is_optional_phase: phase.optional_phase,
                release_retention_policy: (phase.name == "Development").then_some(
                    RetentionPolicy {
                        unit: RetentionUnit::Items,
                        quantity_to_keep: 3,
                        should_keep_forever: false,
                    },
                ),
            })
            .collect();
        out.emit(&Lifecycle {
            name: lifecycle.name.to_owned(),
            description: lifecycle.description.to_owned(),
            release_retention_policy: RetentionPolicy {
                unit: RetentionUnit::Days,
                quantity_to_keep: 90,
                should_keep_forever: false,
            },
            tentacle_retention_policy: RetentionPolicy {
                unit: RetentionUnit::Items,
                quantity_to_keep: 5,
                should_keep_forever: false,
            },
            phases,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Library variable sets

pub(crate) fn emit_library_variable_sets(catalog: &Catalog, out: &mut Out) {
    let slots = library_slots(catalog);
    for (i, set_def) in catalog.library_sets.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "library-variable-sets", i as u64);
        let app = words::slug(&set_def.name);
        let owner = Owner { catalog, app: &app };
        let mut variables = handwritten(catalog, set_def.template, &mut rng);
        owner.generate(
            &mut rng,
            catalog.profile.library_variables,
            catalog.profile.variants,
            &slots,
            &mut variables,
        );
        out.emit(&LibraryVariableSet {
            name: set_def.name.clone(),
            description: match set_def.template {
                LibraryTemplate::Common => "Settings every project needs.".to_owned(),
                LibraryTemplate::Databases => {
                    "Database servers and logins, per environment and machine.".to_owned()
                }
                LibraryTemplate::CloudAccounts => {
                    "Which cloud account and certificate each environment uses.".to_owned()
                }
                LibraryTemplate::TenantDefaults => {
                    "Per-tier defaults for tenanted deployments.".to_owned()
                }
                LibraryTemplate::Generated => {
                    format!("{} shared by the projects that include it.", set_def.name)
                }
            },
            variables,
        });
    }
}

/// The distinct scopes generated library variables have values for.
fn library_slots(catalog: &Catalog) -> Vec<Slot<LibraryScope>> {
    let envs: Vec<usize> = (0..catalog.environments.len())
        .filter(|&e| catalog.environments[e].region.is_none())
        .collect();
    let production = catalog.env("Production");
    let mut slots = vec![Slot {
        scope: LibraryScope::default(),
        env: None,
    }];
    slots.extend(envs.iter().map(|&e| Slot {
        scope: env_scope(catalog, &[e]),
        env: Some(e),
    }));
    slots.push(Slot {
        scope: LibraryScope {
            roles: vec![Role::Web.name().to_owned()],
            ..env_scope(catalog, &[production])
        },
        env: Some(production),
    });
    slots.push(Slot {
        scope: LibraryScope {
            machines: vec![
                catalog.machines[machine_of(catalog, production, Role::Db)]
                    .name
                    .clone(),
            ],
            ..Default::default()
        },
        env: Some(production),
    });
    for role in [Role::Web, Role::App] {
        slots.push(Slot {
            scope: LibraryScope {
                roles: vec![role.name().to_owned()],
                ..Default::default()
            },
            env: None,
        });
    }
    for tag in ["Hosting/Dedicated", "Customer tier/Enterprise"] {
        slots.push(Slot {
            scope: LibraryScope {
                tenant_tags: vec![tag.to_owned()],
                ..Default::default()
            },
            env: None,
        });
    }
    slots
}

fn env_scope(catalog: &Catalog, envs: &[usize]) -> LibraryScope {
    LibraryScope {
        environments: catalog.env_names(envs.iter().copied()),
        ..Default::default()
    }
}

/// The first untenanted machine of a role in an environment.
fn machine_of(catalog: &Catalog, env: usize, role: Role) -> usize {
    catalog.machines_by_env[env]
        .iter()
        .copied()
        .find(|&m| {
            catalog.machines[m].role == role && catalog.machines[m].tenancy.tenants.is_empty()
        })
        .expect("every environment has web, app and database machines")
}

/// The hand-written variables of a library variable set: every kind of scope, prompts,
/// sensitive values, and account and certificate variables.
fn handwritten(
    catalog: &Catalog,
    template: LibraryTemplate,
    rng: &mut Rng,
) -> Vec<Variable<LibraryScope>> {
    let envs: Vec<usize> = (0..catalog.environments.len())
        .filter(|&e| catalog.environments[e].region.is_none())
        .collect();
    let production: Vec<usize> = envs
        .iter()
        .copied()
        .filter(|&e| catalog.environments[e].stage == Stage::Production)
        .collect();
    let pre_production: Vec<usize> = envs
        .iter()
        .copied()
        .filter(|&e| catalog.environments[e].stage < Stage::Production)
        .collect();
    let plain = |name: &str, value: &str, scope| {
        variable(name, VariableType::String, Some(text(value)), scope)
    };
    let tags = |tag: &str| LibraryScope {
        tenant_tags: vec![tag.to_owned()],
        ..Default::default()
    };
    let mut variables = Vec::new();
    match template {
        LibraryTemplate::Common => {
            variables.push(plain(
                "Company.Name",
                "Example Ltd",
                LibraryScope::default(),
            ));
            variables.push(plain(
                "Support.Email",
                "support@example.com",
                LibraryScope::default(),
            ));
            for &e in &envs {
                let url = format!(
                    "https://seq.{}.example.internal",
                    catalog.environments[e].slug
                );
                variables.push(plain("Logging.SeqUrl", &url, env_scope(catalog, &[e])));
            }
            variables.push(variable(
                "Smtp.Password",
                VariableType::Sensitive,
                Some(secret_value(rng)),
                LibraryScope::default(),
            ));
            variables.push(variable(
                "Smtp.Password",
                VariableType::Sensitive,
                Some(secret_value(rng)),
                env_scope(catalog, &production),
            ));
            variables.push(Variable {
                description:
                    "Start of the maintenance window, in UTC; asked for at deployment time."
                        .to_owned(),
                prompt: Some(Prompt {
                    label: "Maintenance window start (UTC)".to_owned(),
                    description: "When the site may be taken offline, e.g. 22:00.".to_owned(),
                    required: false,
                }),
                ..plain("Maintenance.WindowStart", "22:00", LibraryScope::default())
            });
        }
        LibraryTemplate::Databases => {
            for &e in &envs {
                let db = &catalog.machines[machine_of(catalog, e, Role::Db)].name;
                let scope = LibraryScope {
                    machines: vec![db.clone()],
                    ..Default::default()
                };
                variables.push(plain("Db.Server", &format!("{db},1433"), scope));
            }
            variables.push(variable(
                "Db.AdminPassword",
                VariableType::Sensitive,
                Some(secret_value(rng)),
                env_scope(catalog, &production),
            ));
            variables.push(variable(
                "Db.AdminPassword",
                VariableType::Sensitive,
                Some(secret_value(rng)),
                env_scope(catalog, &pre_production),
            ));
            let account = catalog.account(AccountKind::UsernamePassword, None);
            variables.push(variable(
                "Db.AdminAccount",
                VariableType::UsernamePasswordAccount,
                Some(text(account)),
                LibraryScope::default(),
            ));
            variables.push(plain("Db.MaxPoolSize", "100", LibraryScope::default()));
            variables.push(plain(
                "Db.MaxPoolSize",
                "200",
                LibraryScope {
                    roles: vec![Role::App.name().to_owned()],
                    ..Default::default()
                },
            ));
        }
        LibraryTemplate::CloudAccounts => {
            for (name, kind) in [
                ("Cloud.AwsAccount", AccountKind::Aws),
                ("Cloud.AzureAccount", AccountKind::Azure),
                ("Cloud.GcpAccount", AccountKind::GoogleCloud),
                ("Cloud.DatabaseLogin", AccountKind::UsernamePassword),
                ("Cloud.RegistryToken", AccountKind::Token),
            ] {
                for envs in [&production, &pre_production] {
                    let account = catalog.account(kind, envs.first().copied());
                    variables.push(variable(
                        name,
                        account_type(kind),
                        Some(text(account)),
                        env_scope(catalog, envs),
                    ));
                }
            }
            let dedicated = catalog
                .accounts
                .iter()
                .find(|a| !a.tenancy.tenants.is_empty())
                .expect("a tenanted account");
            let scope = LibraryScope {
                tenant_tags: vec!["Hosting/Dedicated".to_owned()],
                ..env_scope(catalog, &production)
            };
            variables.push(variable(
                "Cloud.AwsAccount",
                VariableType::AmazonWebServicesAccount,
                Some(text(&dedicated.name)),
                scope,
            ));
            variables.push(variable(
                "Tls.Certificate",
                VariableType::Certificate,
                Some(text(catalog.certificate(None))),
                LibraryScope::default(),
            ));
            let certificate = catalog.certificate(production.first().copied());
            variables.push(variable(
                "Tls.Certificate",
                VariableType::Certificate,
                Some(text(certificate)),
                env_scope(catalog, &production),
            ));
        }
        LibraryTemplate::TenantDefaults => {
            variables.push(plain("Tenant.Theme", "standard", LibraryScope::default()));
            variables.push(plain(
                "Tenant.Theme",
                "corporate",
                tags("Customer tier/Enterprise"),
            ));
            variables.push(plain("Tenant.Theme", "basic", tags("Customer tier/Free")));
            for (tier, users) in [
                ("Free", "5"),
                ("Standard", "50"),
                ("Premium", "500"),
                ("Enterprise", "unlimited"),
            ] {
                variables.push(plain(
                    "Tenant.MaxUsers",
                    users,
                    tags(&format!("Customer tier/{tier}")),
                ));
            }
            variables.push(plain(
                "Tenant.DataRetentionDays",
                "365",
                LibraryScope::default(),
            ));
            variables.push(plain(
                "Tenant.DataRetentionDays",
                "30",
                LibraryScope {
                    roles: vec![Role::Db.name().to_owned()],
                    ..tags("Customer tier/Free")
                },
            ));
        }
        LibraryTemplate::Generated => {}
    }
    variables
}
