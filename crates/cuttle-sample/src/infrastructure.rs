//! Infrastructure: environments, feeds, accounts, certificates and deployment targets.

use cuttle_domain::documents::{
    Account, Certificate, Credentials, Endpoint, Environment, Feed, FeedType, Machine,
    TenantedDeploymentParticipation,
};

use crate::catalog::{AccountKind, CLUSTER_CA, Catalog, Role, Stage, Tenancy};
use crate::clock::{DAY, origin, timestamp};
use crate::rng::Rng;
use crate::{Out, secret, set};

/// A package feed of the sample.
pub(crate) struct FeedDef {
    pub name: &'static str,
    pub feed_type: FeedType,
    pub uri: &'static str,
    /// Feeds with a username also have a password.
    pub username: Option<&'static str>,
}

pub(crate) const BUILT_IN: &str = "Built-in";
pub(crate) const NUGET: &str = "NuGet.org";
pub(crate) const DOCKER_HUB: &str = "Docker Hub";
pub(crate) const CONTAINER_REGISTRY: &str = "Azure Container Registry";
pub(crate) const MAVEN: &str = "Maven internal";
pub(crate) const GITHUB: &str = "GitHub releases";
pub(crate) const HELM: &str = "Bitnami charts";
pub(crate) const NPM: &str = "npm registry";

pub(crate) const FEEDS: &[FeedDef] = &[
    FeedDef {
        name: BUILT_IN,
        feed_type: FeedType::BuiltIn,
        uri: "",
        username: None,
    },
    FeedDef {
        name: NUGET,
        feed_type: FeedType::NuGet,
        uri: "https://api.nuget.org/v3/index.json",
        username: None,
    },
    FeedDef {
        name: DOCKER_HUB,
        feed_type: FeedType::Docker,
        uri: "https://index.docker.io",
        username: Some("examplebuild"),
    },
    FeedDef {
        name: CONTAINER_REGISTRY,
        feed_type: FeedType::Docker,
        uri: "https://examplecr.azurecr.io",
        username: Some("examplecr"),
    },
    FeedDef {
        name: MAVEN,
        feed_type: FeedType::Maven,
        uri: "https://maven.example.com/releases",
        username: Some("deployer"),
    },
    FeedDef {
        name: GITHUB,
        feed_type: FeedType::GitHub,
        uri: "https://api.github.com",
        username: Some("x-access-token"),
    },
    FeedDef {
        name: HELM,
        feed_type: FeedType::Helm,
        uri: "https://charts.bitnami.com/bitnami",
        username: None,
    },
    FeedDef {
        name: NPM,
        feed_type: FeedType::Npm,
        uri: "https://registry.npmjs.org",
        username: None,
    },
];

pub(crate) fn emit_environments(catalog: &Catalog, out: &mut Out) {
    for (i, env) in catalog.environments.iter().enumerate() {
        out.emit(&Environment {
            name: env.name.clone(),
            description: env.description.clone(),
            sort_order: i as i32 + 1,
            use_guided_failure: env.stage == Stage::Production,
            allow_dynamic_infrastructure: env.stage < Stage::Staging,
        });
    }
}

pub(crate) fn emit_feeds(catalog: &Catalog, out: &mut Out) {
    let mut rng = Rng::stream(catalog.seed, "feeds", 0);
    for feed in FEEDS {
        out.emit(&Feed {
            name: feed.name.to_owned(),
            feed_type: feed.feed_type,
            feed_uri: feed.uri.to_owned(),
            username: feed.username.map(str::to_owned),
            password: feed.username.map(|_| secret(&mut rng)),
            download_attempts: if feed.username.is_some() { 3 } else { 5 },
            download_retry_backoff_seconds: 10,
        });
    }
}

fn participation(tenancy: &Tenancy, untenanted_too: bool) -> TenantedDeploymentParticipation {
    match (
        tenancy.tenants.is_empty() && tenancy.tags.is_empty(),
        untenanted_too,
    ) {
        (true, _) => TenantedDeploymentParticipation::Untenanted,
        (false, false) => TenantedDeploymentParticipation::Tenanted,
        (false, true) => TenantedDeploymentParticipation::TenantedOrUntenanted,
    }
}

fn names(
    catalog: &Catalog,
    envs: &[usize],
    tenancy: &Tenancy,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        catalog.env_names(envs.iter().copied()),
        set(tenancy
            .tenants
            .iter()
            .map(|&t| catalog.tenants[t].name.as_str())),
        set(tenancy.tags.iter().map(String::as_str)),
    )
}

pub(crate) fn emit_accounts(catalog: &Catalog, out: &mut Out) {
    for (i, account) in catalog.accounts.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "accounts", i as u64);
        let credentials = match account.kind {
            AccountKind::UsernamePassword => Credentials::UsernamePassword {
                username: "sa".to_owned(),
                password: Some(secret(&mut rng)),
            },
            AccountKind::Token => Credentials::Token {
                token: Some(secret(&mut rng)),
            },
            AccountKind::Aws => Credentials::AmazonWebServices {
                access_key: format!("AKIA{}", rng.hex(16).to_uppercase()),
                secret_key: Some(secret(&mut rng)),
            },
            AccountKind::Azure => Credentials::AzureServicePrincipal {
                subscription_number: rng.guid(),
                client_id: rng.guid(),
                tenant_id: rng.guid(),
                password: Some(secret(&mut rng)),
            },
            AccountKind::SshKeyPair => Credentials::SshKeyPair {
                username: "deploy".to_owned(),
                private_key_file: Some(secret(&mut rng)),
                private_key_passphrase: Some(secret(&mut rng)),
            },
            AccountKind::GoogleCloud => Credentials::GoogleCloud {
                json_key: Some(secret(&mut rng)),
            },
        };
        let (environments, tenants, tenant_tags) =
            names(catalog, &account.environments, &account.tenancy);
        out.emit(&Account {
            name: account.name.clone(),
            description: account.description.clone(),
            environments,
            tenants,
            tenant_tags,
            tenanted_deployment_participation: participation(&account.tenancy, false),
            credentials,
        });
    }
}

pub(crate) fn emit_certificates(catalog: &Catalog, out: &mut Out) {
    let start = origin(catalog.seed);
    for (i, certificate) in catalog.certificates.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "certificates", i as u64);
        let (environments, tenants, tenant_tags) =
            names(catalog, &certificate.environments, &certificate.tenancy);
        out.emit(&Certificate {
            name: certificate.name.clone(),
            notes: format!(
                "Issued by Example Issuing CA; renew before it expires ({}).",
                certificate.subject
            ),
            environments,
            tenants,
            tenant_tags,
            tenanted_deployment_participation: participation(&certificate.tenancy, false),
            certificate_data: Some(secret(&mut rng)),
            password: (i % 2 == 0).then(|| secret(&mut rng)),
            thumbprint: rng.hex(40).to_uppercase(),
            subject_distinguished_name: certificate.subject.clone(),
            not_after: Some(timestamp(start + (400 + rng.below(400) as i64) * DAY)),
        });
    }
}

pub(crate) fn emit_machines(catalog: &Catalog, out: &mut Out) {
    for (i, machine) in catalog.machines.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "machines", i as u64);
        let env = &catalog.environments[machine.env];
        let thumbprint = rng.hex(40).to_uppercase();
        let endpoint = match machine.role {
            Role::Web | Role::Worker => Endpoint::ListeningTentacle {
                uri: format!("https://{}:10933/", machine.name),
                thumbprint,
            },
            Role::App => Endpoint::PollingTentacle {
                uri: format!("poll://{}/", rng.hex(20)),
                thumbprint,
            },
            Role::Db => Endpoint::Ssh {
                host: machine.name.clone(),
                port: 22,
                fingerprint: format!("SHA256:{}", rng.hex(43)),
                account: catalog
                    .account(AccountKind::SshKeyPair, Some(machine.env))
                    .to_owned(),
            },
            Role::Kubernetes => Endpoint::KubernetesCluster {
                cluster_url: format!("https://{}.example.internal:6443", machine.name),
                namespace: "apps".to_owned(),
                account: Some(
                    catalog
                        .account(AccountKind::Token, Some(machine.env))
                        .to_owned(),
                ),
                cluster_certificate: env
                    .region
                    .is_none()
                    .then(|| catalog.certificates[CLUSTER_CA].name.clone()),
                skip_tls_verification: env.region.is_some(),
            },
            Role::AzureWebApp => Endpoint::AzureWebApp {
                account: catalog
                    .account(AccountKind::Azure, Some(machine.env))
                    .to_owned(),
                resource_group: format!("rg-web-{}", env.slug),
                web_app_name: format!("example-web-{}", env.slug),
            },
            Role::OfflineDrop => Endpoint::OfflineDrop {
                drop_folder_path: format!(r"\\fileserver.example.com\drops\{}", env.slug),
                sensitive_variables_encryption_password: Some(secret(&mut rng)),
            },
            Role::CloudRegion => Endpoint::CloudRegion {},
        };
        let (environments, tenants, tenant_tags) = names(catalog, &[machine.env], &machine.tenancy);
        out.emit(&Machine {
            name: machine.name.clone(),
            description: match &machine.tenancy.tenants[..] {
                [t] => format!(
                    "Dedicated {} for {}.",
                    machine.role.name(),
                    catalog.tenants[*t].name
                ),
                _ => format!("{} in {}.", machine.role.name(), env.name),
            },
            environments,
            roles: vec![machine.role.name().to_owned()],
            tenants,
            tenant_tags,
            tenanted_deployment_participation: participation(
                &machine.tenancy,
                machine.tenancy.tenants.is_empty(),
            ),
            is_disabled: rng.percent(2),
            endpoint,
        });
    }
}
