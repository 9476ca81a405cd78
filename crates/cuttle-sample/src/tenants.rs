//! Tenants: customers, with their tags, project connections and tenant variables.

use cuttle_domain::documents::{ProjectConnection, Tenant, TenantVariable};

use crate::catalog::Catalog;
use crate::rng::Rng;
use crate::variables::{KEYS, Kind, Owner};
use crate::{Out, secret_value, set, text, words};

pub(crate) fn emit_tenants(catalog: &Catalog, out: &mut Out) {
    // Generated tenant variables hold settings, not accounts or certificates.
    let keys: Vec<(&str, Kind)> = KEYS
        .iter()
        .copied()
        .filter(|(_, kind)| !matches!(kind, Kind::Account(_) | Kind::Certificate))
        .collect();
    for (t, def) in catalog.tenants.iter().enumerate() {
        let mut rng = Rng::stream(catalog.seed, "tenants", t as u64);
        let slug = words::slug(&def.name);
        let owner = Owner {
            catalog,
            app: &slug,
        };
        let mut variables = vec![
            tenant_variable(
                "Tenant.ContactEmail",
                None,
                None,
                text(format!("ops@{slug}.example.com")),
            ),
            tenant_variable("Tenant.Alias", None, None, text(slug.as_str())),
            tenant_variable("Tenant.LicenseKey", None, None, secret_value(&mut rng)),
        ];
        let mut projects = Vec::new();
        for (p, envs) in &def.projects {
            let project = &catalog.projects[*p];
            let project_slug = words::slug(&project.name);
            variables.push(tenant_variable(
                "Tenant.Database.Name",
                Some(&project.name),
                None,
                text(format!("{slug}-{project_slug}").replace('-', "_")),
            ));
            let start = rng.below(keys.len());
            for &e in envs {
                let env = &catalog.environments[e];
                let at = |name: &str, value| {
                    tenant_variable(name, Some(&project.name), Some(&env.name), value)
                };
                variables.push(at(
                    "Tenant.Hostname",
                    text(format!("{slug}.{}.example.com", env.slug)),
                ));
                variables.push(at("Tenant.ApiKey", secret_value(&mut rng)));
                for j in 0..catalog.profile.tenant_variables {
                    let (key, kind) = keys[(start + j) % keys.len()];
                    let (_, value) = owner.value(kind, &mut rng, Some(e));
                    variables.push(TenantVariable {
                        value,
                        ..at(&format!("Settings.{key}"), text(""))
                    });
                }
            }
            projects.push(ProjectConnection {
                project: project.name.clone(),
                environments: catalog.env_names(envs.iter().copied()),
            });
        }
        projects.sort_by(|a, b| a.project.cmp(&b.project));
        out.emit(&Tenant {
            name: def.name.clone(),
            description: def.description.clone(),
            tenant_tags: set(def.tags.iter().map(String::as_str)),
            projects,
            variables,
        });
    }
}

fn tenant_variable(
    name: &str,
    project: Option<&str>,
    environment: Option<&str>,
    value: cuttle_domain::sensitive::PropertyValue,
) -> TenantVariable {
    TenantVariable {
        name: name.to_owned(),
        project: project.map(str::to_owned),
        environment: environment.map(str::to_owned),
        value: Some(value),
    }
}
