//! Deployment processes: ordered steps whose actions deploy packages from feeds, run inline
//! scripts or step templates, use accounts and certificates, and are filtered by environment,
//! channel and tenant tag. Each archetype of project has its own recipe.

use std::collections::BTreeMap;

use cuttle_domain::documents::{
    ACCOUNT_PROPERTY, AcquisitionLocation, Action, CERTIFICATE_PROPERTY, InlineScript,
    PackageReference, PackageRequirement, ScriptSyntax, StartTrigger, Step, StepCondition,
};
use cuttle_domain::sensitive::PropertyValue;

use crate::catalog::{AccountKind, Archetype, Catalog, ProjectDef, Role, Stage};
use crate::infrastructure::{BUILT_IN, CONTAINER_REGISTRY, DOCKER_HUB, GITHUB, HELM, MAVEN, NPM};
use crate::library::{
    self, APPROVAL, CHECK_DISK, FLUSH_CDN, JIRA_RELEASE, METRICS, MIGRATIONS, NOTIFY_SLACK,
    SMOKE_TEST, WARM_UP,
};
use crate::rng::Rng;
use crate::{scripts, secret_value, set, text};

/// The channel every project has for pre-releases; actions and variables may be limited to it.
pub(crate) const BETA_CHANNEL: &str = "Beta";

/// A package an action deploys: what a release selects a version of.
#[derive(Debug)]
pub(crate) struct PackageModel {
    pub action: String,
    pub reference: String,
    pub feed: &'static str,
    pub package_id: String,
    /// A third-party package's version; the project's own packages take the release's version.
    pub fixed_version: Option<&'static str>,
}

/// What a task log needs to know about a step.
#[derive(Debug)]
pub(crate) struct StepFact {
    pub name: String,
    pub role: Option<Role>,
    /// The environments the step is limited to (empty: all) or excluded from.
    pub environments: Vec<String>,
    pub excluded: Vec<String>,
    pub channels: Vec<String>,
    pub condition: StepCondition,
}

/// A built deployment process, and what releases and task logs need to know about it.
pub(crate) struct ProcessPlan {
    pub steps: Vec<Step>,
    pub packages: Vec<PackageModel>,
    pub facts: Vec<StepFact>,
    /// The role of the targets the project is mainly deployed to, and its main step.
    pub main_role: Role,
    pub main_step: String,
}

impl ProcessPlan {
    /// The names of the actions that deploy the project's own packages (what channel rules apply
    /// to).
    pub(crate) fn own_package_actions(&self) -> Vec<String> {
        set(self
            .packages
            .iter()
            .filter(|p| p.fixed_version.is_none())
            .map(|p| p.action.as_str()))
    }
}

pub(crate) fn build(
    catalog: &Catalog,
    project: &ProjectDef,
    slug: &str,
    pascal: &str,
    rng: &mut Rng,
) -> ProcessPlan {
    let lifecycle: Vec<usize> = catalog.lifecycles[project.lifecycle]
        .environments()
        .collect();
    let names = |stage: Stage| {
        catalog.env_names(
            lifecycle
                .iter()
                .copied()
                .filter(|&e| catalog.environments[e].stage == stage),
        )
    };
    let mut b = Builder {
        catalog,
        slug,
        pascal,
        rng,
        development: names(Stage::Development),
        production: names(Stage::Production),
        steps: Vec::new(),
        roles: Vec::new(),
        packages: Vec::new(),
    };
    let (main_role, main_step) = match project.archetype {
        Archetype::WebServers => b.web_servers(),
        Archetype::Kubernetes => b.kubernetes(),
        Archetype::Cloud => b.cloud(),
        Archetype::Batch => b.batch(&lifecycle),
    };
    let notify = b.template_action(
        NOTIFY_SLACK,
        NOTIFY_SLACK,
        &[("Slack.Channel", text(format!("#deploy-{slug}")))],
    );
    let webhook = secret_value(b.rng);
    let mut notify = notify.with("Slack.WebhookUrl", webhook);
    notify.is_required = true;
    b.step(NOTIFY_SLACK, None, vec![notify]).condition = StepCondition::Always;
    let facts = b
        .steps
        .iter()
        .zip(&b.roles)
        .map(|(step, &role)| {
            let first = &step.actions[0];
            StepFact {
                name: step.name.clone(),
                role,
                environments: first.environments.clone(),
                excluded: first.excluded_environments.clone(),
                channels: first.channels.clone(),
                condition: step.condition,
            }
        })
        .collect();
    ProcessPlan {
        steps: b.steps,
        packages: b.packages,
        facts,
        main_role,
        main_step: main_step.to_owned(),
    }
}

struct Builder<'a> {
    catalog: &'a Catalog,
    slug: &'a str,
    pascal: &'a str,
    rng: &'a mut Rng,
    /// The names of the lifecycle's development and production environments.
    development: Vec<String>,
    production: Vec<String>,
    steps: Vec<Step>,
    /// The target role of each step.
    roles: Vec<Option<Role>>,
    packages: Vec<PackageModel>,
}

trait ActionExt {
    fn with(self, key: &str, value: PropertyValue) -> Self;
}

impl ActionExt for Action {
    fn with(mut self, key: &str, value: PropertyValue) -> Self {
        self.properties.insert(key.to_owned(), value);
        self
    }
}

fn action(name: &str, action_type: &str) -> Action {
    Action {
        name: name.to_owned(),
        action_type: action_type.to_owned(),
        is_disabled: false,
        is_required: false,
        step_template: None,
        environments: Vec::new(),
        excluded_environments: Vec::new(),
        channels: Vec::new(),
        tenant_tags: Vec::new(),
        packages: Vec::new(),
        properties: BTreeMap::new(),
        script: None,
    }
}

/// A Jira project key for a project: its initials, or the start of a one-word name (`PA`, `ORDE`).
fn jira_key(slug: &str) -> String {
    let words: Vec<&str> = slug.split('-').filter(|w| !w.is_empty()).collect();
    let key: String = match words[..] {
        [word] => word.chars().take(4).collect(),
        _ => words
            .iter()
            .filter_map(|w| w.chars().next())
            .take(4)
            .collect(),
    };
    key.to_uppercase()
}

/// An action running an inline script on the Cuttle server.
fn script_action(name: &str, syntax: ScriptSyntax, body: &str) -> Action {
    let mut action = action(name, "Cuttle.Script")
        .with("Cuttle.Action.Script.ScriptSource", text("Inline"))
        .with("Cuttle.Action.RunOnServer", text("true"));
    action.script = Some(InlineScript {
        syntax,
        body: body.to_owned(),
    });
    action
}

impl Builder<'_> {
    fn step(&mut self, name: &str, role: Option<Role>, actions: Vec<Action>) -> &mut Step {
        self.roles.push(role);
        self.steps.push(Step {
            name: name.to_owned(),
            condition: StepCondition::Success,
            condition_expression: None,
            start_trigger: StartTrigger::StartAfterPrevious,
            package_requirement: PackageRequirement::LetCuttleDecide,
            target_roles: role.map(|r| vec![r.name().to_owned()]).unwrap_or_default(),
            properties: BTreeMap::new(),
            actions,
        });
        self.steps.last_mut().expect("just pushed")
    }

    /// An action that uses a step template, giving values to some of its parameters.
    fn template_action(
        &self,
        name: &str,
        template: &str,
        values: &[(&str, PropertyValue)],
    ) -> Action {
        let def = library::template(template);
        let mut action = action(name, def.action_type);
        action.step_template = Some(def.name.to_owned());
        for (key, value) in values {
            action.properties.insert((*key).to_owned(), value.clone());
        }
        action
    }

    /// Adds a package reference to `action`; the project's own packages have no fixed version.
    fn package(
        &mut self,
        action: &mut Action,
        reference: &str,
        feed: &'static str,
        package_id: String,
        fixed_version: Option<&'static str>,
    ) {
        action.packages.push(PackageReference {
            name: reference.to_owned(),
            package_id: package_id.clone(),
            feed: feed.to_owned(),
            acquisition_location: if feed == BUILT_IN || feed == MAVEN {
                AcquisitionLocation::Server
            } else {
                AcquisitionLocation::ExecutionTarget
            },
        });
        self.packages.push(PackageModel {
            action: action.name.clone(),
            reference: reference.to_owned(),
            feed,
            package_id,
            fixed_version,
        });
    }

    fn approval(&mut self) {
        let mut approve = self.template_action(APPROVAL, APPROVAL, &[]);
        approve.environments = self.production.clone();
        approve.is_required = true;
        self.step(APPROVAL, None, vec![approve]).package_requirement =
            PackageRequirement::BeforePackageAcquisition;
    }

    fn preview_features(&mut self) {
        let mut preview = script_action(
            "Enable preview features",
            ScriptSyntax::Bash,
            scripts::PREVIEW_FEATURES,
        );
        preview.channels = vec![BETA_CHANNEL.to_owned()];
        self.step("Enable preview features", None, vec![preview]);
    }

    fn smoke_test(&mut self, role: Option<Role>) {
        let url = text(format!(
            "https://{}.#{{Cuttle.Environment.Name | ToLower}}.example.com/health",
            self.slug
        ));
        let mut smoke = self.template_action(SMOKE_TEST, SMOKE_TEST, &[("Smoke.Url", url)]);
        smoke.excluded_environments = self.development.clone();
        self.step(SMOKE_TEST, role, vec![smoke]);
    }

    fn web_servers(&mut self) -> (Role, &'static str) {
        self.approval();
        let mut disk = self.template_action(
            CHECK_DISK,
            CHECK_DISK,
            &[
                ("Disk.Drives", text("C:,D:")),
                ("Disk.MinimumFreeGb", text("20")),
            ],
        );
        disk.excluded_environments = self.development.clone();
        self.step(CHECK_DISK, Some(Role::Web), vec![disk]);

        let mut migrations = self.template_action(
            MIGRATIONS,
            MIGRATIONS,
            &[("Db.ConnectionString", text("#{Database.ConnectionString}"))],
        );
        self.package(
            &mut migrations,
            "",
            BUILT_IN,
            format!("Example.{}.Migrations", self.pascal),
            None,
        );
        let step = self.step(MIGRATIONS, None, vec![migrations]);
        step.condition = StepCondition::Variable;
        step.condition_expression = Some("#{if Database.RunMigrations}True#{/if}".to_owned());

        let mut website = action("Deploy website", "Cuttle.TentaclePackage")
            .with(
                "Cuttle.Action.EnabledFeatures",
                text("Cuttle.Features.ConfigurationTransforms,Cuttle.Features.SubstituteInFiles"),
            )
            .with(
                "Cuttle.Action.SubstituteInFiles.TargetFiles",
                text("appsettings.json"),
            );
        self.package(
            &mut website,
            "",
            BUILT_IN,
            format!("Example.{}.Web", self.pascal),
            None,
        );
        let iis = action("Configure IIS", "Cuttle.IIS")
            .with("Cuttle.Action.IISWebSite.WebSiteName", text(self.slug))
            .with("Cuttle.Action.IISWebSite.Bindings", text("https/*:443"))
            .with(CERTIFICATE_PROPERTY, text(self.catalog.certificate(None)));
        let health_token = secret_value(self.rng);
        let step = self.step("Deploy web app", Some(Role::Web), vec![website, iis]);
        step.properties
            .insert("Cuttle.Action.MaxParallelism".to_owned(), text("2"));
        step.properties
            .insert("Cuttle.Step.HealthCheck.Token".to_owned(), health_token);

        let mut worker = action("Deploy background service", "Cuttle.TentaclePackage").with(
            "Cuttle.Action.WindowsService.ServiceName",
            text(format!("{}Worker", self.pascal)),
        );
        self.package(
            &mut worker,
            "",
            BUILT_IN,
            format!("Example.{}.Worker", self.pascal),
            None,
        );
        self.step("Deploy background service", Some(Role::App), vec![worker])
            .start_trigger = StartTrigger::StartWithPrevious;

        let mut warm_up = self.template_action(WARM_UP, WARM_UP, &[]);
        warm_up.excluded_environments = self.development.clone();
        self.step(WARM_UP, Some(Role::Web), vec![warm_up]);
        self.smoke_test(Some(Role::Web));
        self.preview_features();
        (Role::Web, "Deploy web app")
    }

    fn kubernetes(&mut self) -> (Role, &'static str) {
        self.approval();
        let mut containers = action("Deploy containers", "Cuttle.KubernetesDeployContainers")
            .with(
                "Cuttle.Action.KubernetesContainers.DeploymentName",
                text(self.slug),
            )
            .with(
                "Cuttle.Action.KubernetesContainers.Namespace",
                text("#{Kubernetes.Namespace}"),
            )
            .with(
                "Cuttle.Action.KubernetesContainers.Replicas",
                text(self.rng.between(2, 6).to_string()),
            )
            .with(
                ACCOUNT_PROPERTY,
                text(self.catalog.account(AccountKind::Token, None)),
            );
        self.package(
            &mut containers,
            "",
            CONTAINER_REGISTRY,
            format!("example/{}", self.slug),
            None,
        );
        self.package(
            &mut containers,
            "envoy",
            DOCKER_HUB,
            "envoyproxy/envoy".to_owned(),
            Some("v1.31.2"),
        );
        self.step(
            "Deploy containers",
            Some(Role::Kubernetes),
            vec![containers],
        );

        let registry_password = secret_value(self.rng);
        let mut ingress = action("Upgrade ingress controller", "Cuttle.HelmChartUpgrade")
            .with(
                "Cuttle.Action.Helm.ReleaseName",
                text(format!("{}-ingress", self.slug)),
            )
            .with(
                "Cuttle.Action.Helm.Namespace",
                text("#{Kubernetes.Namespace}"),
            )
            .with(
                "Cuttle.Action.Helm.YamlValues",
                text("controller:\n  replicaCount: 2\n  metrics:\n    enabled: true\n"),
            )
            .with(
                "Cuttle.Action.Helm.KeyValues.RegistryPassword",
                registry_password,
            );
        self.package(
            &mut ingress,
            "",
            HELM,
            "nginx-ingress-controller".to_owned(),
            Some("11.4.1"),
        );
        self.step(
            "Upgrade ingress controller",
            Some(Role::Kubernetes),
            vec![ingress],
        );

        let mut canary = script_action(
            "Canary analysis",
            ScriptSyntax::Bash,
            scripts::CANARY_ANALYSIS,
        );
        canary.channels = vec![BETA_CHANNEL.to_owned()];
        canary.tenant_tags = vec!["Release ring/Canary".to_owned()];
        self.step("Canary analysis", None, vec![canary]);
        self.smoke_test(None);

        let key = text(jira_key(self.slug));
        let mut jira =
            self.template_action(JIRA_RELEASE, JIRA_RELEASE, &[("Jira.ProjectKey", key)]);
        jira.environments = self.production.clone();
        self.step(JIRA_RELEASE, None, vec![jira]);
        (Role::Kubernetes, "Deploy containers")
    }

    fn cloud(&mut self) -> (Role, &'static str) {
        self.approval();
        let aws = self.catalog.account(AccountKind::Aws, None).to_owned();
        let azure = self.catalog.account(AccountKind::Azure, None).to_owned();
        let mut stack = action("Deploy CloudFormation stack", "Cuttle.AwsRunCloudFormation")
            .with(ACCOUNT_PROPERTY, text(aws.as_str()))
            .with(
                "Cuttle.Action.Aws.Region",
                text(*self.rng.pick(&["eu-west-1", "us-east-1", "ap-southeast-2"])),
            )
            .with(
                "Cuttle.Action.Aws.CloudFormationStackName",
                text(format!(
                    "{}-#{{Cuttle.Environment.Name | ToLower}}",
                    self.slug
                )),
            )
            .with("Cuttle.Action.RunOnServer", text("true"));
        self.package(
            &mut stack,
            "",
            GITHUB,
            format!("example/{}-infrastructure", self.slug),
            None,
        );
        self.step("Deploy CloudFormation stack", None, vec![stack]);

        let mut app = action("Deploy Azure web app", "Cuttle.AzureAppService")
            .with(ACCOUNT_PROPERTY, text(azure.as_str()))
            .with("Cuttle.Action.Azure.DeploymentSlot", text("staging"));
        self.package(
            &mut app,
            "",
            BUILT_IN,
            format!("Example.{}.Web", self.pascal),
            None,
        );
        let certificate = action("Bind TLS certificate", "Cuttle.AzureUploadCertificate")
            .with(ACCOUNT_PROPERTY, text(azure.as_str()))
            .with(CERTIFICATE_PROPERTY, text(self.catalog.certificate(None)));
        self.step(
            "Deploy Azure web app",
            Some(Role::AzureWebApp),
            vec![app, certificate],
        );

        let mut frontend = action("Publish frontend", "Cuttle.AwsUploadS3")
            .with(ACCOUNT_PROPERTY, text(aws.as_str()))
            .with(
                "Cuttle.Action.Aws.S3.BucketName",
                text(format!(
                    "{}-#{{Cuttle.Environment.Name | ToLower}}-frontend",
                    self.slug
                )),
            );
        self.package(
            &mut frontend,
            "",
            NPM,
            format!("@example/{}-frontend", self.slug),
            None,
        );
        self.step("Publish frontend", None, vec![frontend]);

        let mut cdn = self.template_action(
            FLUSH_CDN,
            FLUSH_CDN,
            &[("Cdn.ZoneId", text("#{Cdn.ZoneId}"))],
        );
        cdn.excluded_environments = self.development.clone();
        self.step(FLUSH_CDN, None, vec![cdn]);
        self.preview_features();
        (Role::AzureWebApp, "Deploy Azure web app")
    }

    fn batch(&mut self, lifecycle: &[usize]) -> (Role, &'static str) {
        let mut provision = script_action(
            "Provision dedicated database",
            ScriptSyntax::PowerShell,
            scripts::PROVISION_DATABASE,
        )
        .with(
            ACCOUNT_PROPERTY,
            text(self.catalog.account(AccountKind::UsernamePassword, None)),
        );
        provision.tenant_tags = vec!["Hosting/Dedicated".to_owned()];
        self.step(
            "Provision dedicated database",
            Some(Role::Db),
            vec![provision],
        );

        let mut etl = action("Deploy ETL jobs", "Cuttle.TentaclePackage")
            .with("Cuttle.Action.Package.JavaArchive", text("True"));
        self.package(
            &mut etl,
            "",
            MAVEN,
            format!("com.example:{}-etl", self.slug),
            None,
        );
        self.step("Deploy ETL jobs", Some(Role::App), vec![etl]);

        let mut terraform = action("Apply infrastructure", "Cuttle.TerraformApply")
            .with(
                ACCOUNT_PROPERTY,
                text(self.catalog.account(AccountKind::GoogleCloud, None)),
            )
            .with(
                "Cuttle.Action.Terraform.Workspace",
                text("#{Cuttle.Environment.Name | ToLower}"),
            )
            .with("Cuttle.Action.RunOnServer", text("true"));
        self.package(
            &mut terraform,
            "",
            GITHUB,
            format!("example/{}-terraform", self.slug),
            None,
        );
        self.step("Apply infrastructure", None, vec![terraform]);

        let mut quality = script_action(
            "Data quality check",
            ScriptSyntax::Python,
            scripts::DATA_QUALITY,
        );
        quality.excluded_environments = self.development.clone();
        self.step("Data quality check", None, vec![quality]);

        // Reports go to the offline drops of the environments that have one.
        let catalog = self.catalog;
        let offline = catalog.env_names(lifecycle.iter().copied().filter(|&e| {
            catalog.machines_by_env[e]
                .iter()
                .any(|&m| catalog.machines[m].role == Role::OfflineDrop)
        }));
        if !offline.is_empty() {
            let mut drop = action("Drop reports package", "Cuttle.TentaclePackage");
            drop.environments = offline;
            self.package(
                &mut drop,
                "",
                BUILT_IN,
                format!("Example.{}.Reports", self.pascal),
                None,
            );
            self.step("Drop reports package", Some(Role::OfflineDrop), vec![drop]);
        }

        let metrics = self.template_action(METRICS, METRICS, &[]);
        self.step(METRICS, None, vec![metrics]);
        let rollback = script_action(
            "Roll back on failure",
            ScriptSyntax::Bash,
            scripts::ROLLBACK,
        );
        self.step("Roll back on failure", Some(Role::App), vec![rollback])
            .condition = StepCondition::Failure;
        (Role::App, "Deploy ETL jobs")
    }
}
