//! People: users, user roles and teams.

use cuttle_domain::documents::{RoleAssignment, Team, User, UserRole};

use crate::catalog::{Catalog, Stage};
use crate::rng::Rng;
use crate::{Out, set};

pub(crate) fn emit_users(catalog: &Catalog, out: &mut Out) {
    for user in &catalog.users {
        out.emit(&User {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            email_address: user.email.clone(),
            is_active: user.active,
            is_service: user.service,
        });
    }
}

use cuttle_domain::access::Permission as P;

/// What every role may see.
const VIEW: &[P] = &[
    P::DeploymentView,
    P::EnvironmentView,
    P::ProcessView,
    P::ProjectView,
    P::ReleaseView,
    P::TaskView,
    P::TenantView,
    P::VariableView,
];

/// The user roles: name, description, permissions beyond [`VIEW`] (`None`: every permission).
const ROLES: &[(&str, &str, Option<&[P]>)] = &[
    ("System administrator", "Can do everything.", None),
    (
        "Project viewer",
        "Can see projects, releases and deployments.",
        Some(&[P::LifecycleView, P::ProjectGroupView]),
    ),
    (
        "Project contributor",
        "Can edit projects, their processes and variables, and create releases.",
        Some(&[
            P::ActionTemplateView,
            P::FeedView,
            P::LibraryVariableSetView,
            P::LifecycleView,
            P::ProcessEdit,
            P::ProjectEdit,
            P::ProjectGroupView,
            P::ReleaseCreate,
            P::TriggerEdit,
            P::VariableEdit,
        ]),
    ),
    (
        "Project deployer",
        "Can deploy releases.",
        Some(&[P::DeploymentCreate, P::TaskCancel]),
    ),
    (
        "Release creator",
        "Can create releases, for build servers.",
        Some(&[P::ReleaseCreate]),
    ),
    (
        "Environment manager",
        "Can manage environments, deployment targets, accounts and certificates.",
        Some(&[
            P::AccountEdit,
            P::AccountView,
            P::CertificateView,
            P::EnvironmentEdit,
            P::MachineEdit,
            P::MachineView,
        ]),
    ),
    (
        "Tenant manager",
        "Can manage tenants, their tags and variables.",
        Some(&[P::TagSetEdit, P::TagSetView, P::TenantEdit, P::VariableEdit]),
    ),
    (
        "Certificate manager",
        "Can manage certificates, including exporting private keys.",
        Some(&[
            P::CertificateEdit,
            P::CertificateExportPrivateKey,
            P::CertificateView,
        ]),
    ),
];

pub(crate) fn emit_user_roles(out: &mut Out) {
    for &(name, description, extra) in ROLES {
        let mut permissions: Vec<P> = match extra {
            None => P::ALL.to_vec(),
            Some(extra) => VIEW.iter().chain(extra).copied().collect(),
        };
        permissions.sort_by_key(|p| p.name());
        permissions.dedup();
        out.emit(&UserRole {
            name: name.to_owned(),
            description: description.to_owned(),
            permissions,
        });
    }
}

/// A role assignment without scope.
fn role(user_role: &str) -> RoleAssignment {
    RoleAssignment {
        user_role: user_role.to_owned(),
        projects: Vec::new(),
        project_groups: Vec::new(),
        environments: Vec::new(),
        tenants: Vec::new(),
    }
}

pub(crate) fn emit_teams(catalog: &Catalog, out: &mut Out) {
    let mut rng = Rng::stream(catalog.seed, "teams", 0);
    let humans: Vec<&str> = catalog
        .users
        .iter()
        .filter(|u| !u.service)
        .map(|u| u.username.as_str())
        .collect();
    let members = |rng: &mut Rng, extra: &[&str]| {
        let count = rng.between(3, 6);
        set(rng
            .some(&humans, count)
            .into_iter()
            .copied()
            .chain(extra.iter().copied()))
    };
    let env_names = |filter: &dyn Fn(Stage) -> bool| {
        set(catalog
            .environments
            .iter()
            .filter(|e| e.region.is_none() && filter(e.stage))
            .map(|e| e.name.as_str()))
    };
    let pre_production = env_names(&|stage| stage < Stage::Staging);
    let teams = [
        Team {
            name: "Platform engineering".to_owned(),
            description: "Runs Cuttle itself and the shared infrastructure.".to_owned(),
            members: members(&mut rng, &["svc-terraform"]),
            role_assignments: vec![role("System administrator")],
        },
        Team {
            name: "Release managers".to_owned(),
            description: "Approve and run production deployments.".to_owned(),
            members: members(&mut rng, &[]),
            role_assignments: vec![
                RoleAssignment {
                    environments: env_names(&|stage| stage >= Stage::Staging),
                    ..role("Project deployer")
                },
                role("Release creator"),
            ],
        },
        Team {
            name: "Payments squad".to_owned(),
            description: "Builds the payment services.".to_owned(),
            members: members(&mut rng, &[]),
            role_assignments: vec![
                RoleAssignment {
                    projects: set(["Order Service", "Payments/API"]),
                    ..role("Project contributor")
                },
                RoleAssignment {
                    project_groups: vec!["Payments".to_owned()],
                    environments: pre_production.clone(),
                    ..role("Project deployer")
                },
            ],
        },
        Team {
            name: "Customer success".to_owned(),
            description: "Looks after tenants and their settings.".to_owned(),
            members: members(&mut rng, &[]),
            role_assignments: vec![
                RoleAssignment {
                    tenants: set(catalog.tenants.iter().take(5).map(|t| t.name.as_str())),
                    ..role("Tenant manager")
                },
                RoleAssignment {
                    project_groups: vec!["Customer-facing".to_owned()],
                    ..role("Project viewer")
                },
            ],
        },
        Team {
            name: "Build servers".to_owned(),
            description: "Service accounts that create releases.".to_owned(),
            members: set(["svc-build", "svc-monitoring"]),
            role_assignments: vec![role("Release creator"), role("Project viewer")],
        },
    ];
    for team in &teams {
        out.emit(team);
    }
    // One team per domain group in the bigger samples.
    for group in catalog.domain_groups() {
        out.emit(&Team {
            name: format!("{} team", group.name),
            description: format!(
                "Builds and runs the {} services.",
                group.name.to_lowercase()
            ),
            members: members(&mut rng, &[]),
            role_assignments: vec![
                RoleAssignment {
                    project_groups: vec![group.name.clone()],
                    ..role("Project contributor")
                },
                RoleAssignment {
                    project_groups: vec![group.name.clone()],
                    environments: pre_production.clone(),
                    ..role("Project deployer")
                },
            ],
        });
    }
}
