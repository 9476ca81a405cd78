//! Generated variables, shared by library variable sets and projects: realistic names and values,
//! each name with values for a few distinct scopes, so that (name, scope) is unique by
//! construction.

use cuttle_domain::documents::{Variable, VariableType};
use cuttle_domain::sensitive::PropertyValue;

use crate::catalog::{AccountKind, Catalog};
use crate::rng::Rng;
use crate::words::VARIABLE_PREFIXES;
use crate::{secret_value, text};

/// What a variable holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Text in which `{env}` stands for the environment's slug (`shared` without one) and `{app}`
    /// for the owner's slug.
    Text(&'static str),
    Choice(&'static [&'static str]),
    Number(usize, usize),
    Flag,
    Guid,
    Secret,
    /// The name of an account of this kind.
    Account(AccountKind),
    /// The name of a certificate.
    Certificate,
}

/// The second parts of generated variable names (`Api.Database.Server`), with what they hold.
pub(crate) const KEYS: &[(&str, Kind)] = &[
    ("Database.Server", Kind::Text("sql-{env}.example.internal")),
    ("Database.Name", Kind::Text("{app}-{env}")),
    ("Database.Password", Kind::Secret),
    ("Database.CommandTimeoutSeconds", Kind::Number(30, 180)),
    (
        "Logging.Level",
        Kind::Choice(&["Debug", "Information", "Warning", "Error"]),
    ),
    (
        "Logging.SeqUrl",
        Kind::Text("https://seq.{env}.example.internal"),
    ),
    ("BaseUrl", Kind::Text("https://{app}.{env}.example.com")),
    ("SessionTimeoutMinutes", Kind::Number(15, 120)),
    ("ApiKey", Kind::Secret),
    ("RateLimitPerMinute", Kind::Number(100, 5000)),
    (
        "Cache.RedisConnection",
        Kind::Text("redis-{env}.example.internal:6380,ssl=true,abortConnect=false"),
    ),
    ("Cache.Password", Kind::Secret),
    ("Smtp.Host", Kind::Text("smtp.{env}.example.com")),
    ("Smtp.Port", Kind::Choice(&["25", "465", "587"])),
    ("Smtp.Password", Kind::Secret),
    (
        "Queue.Url",
        Kind::Text("amqps://mq-{env}.example.internal/{app}"),
    ),
    ("Queue.Password", Kind::Secret),
    ("Features.NewCheckout", Kind::Flag),
    ("Features.DarkMode", Kind::Flag),
    ("Storage.Bucket", Kind::Text("{app}-{env}-assets")),
    ("Storage.AccessKey", Kind::Secret),
    ("Monitoring.ApiKey", Kind::Secret),
    (
        "Monitoring.SampleRate",
        Kind::Choice(&["0.05", "0.1", "0.25", "1.0"]),
    ),
    (
        "Auth.Authority",
        Kind::Text("https://login.{env}.example.com"),
    ),
    ("Auth.ClientId", Kind::Guid),
    ("Auth.ClientSecret", Kind::Secret),
    ("Http.TimeoutSeconds", Kind::Number(5, 120)),
    ("Worker.Concurrency", Kind::Number(1, 32)),
    ("Retry.MaxAttempts", Kind::Number(2, 10)),
    ("Cdn.Hostname", Kind::Text("cdn-{env}.example.com")),
    ("Aws.Account", Kind::Account(AccountKind::Aws)),
    ("Azure.Account", Kind::Account(AccountKind::Azure)),
    ("Gcp.Account", Kind::Account(AccountKind::GoogleCloud)),
    (
        "Database.AdminAccount",
        Kind::Account(AccountKind::UsernamePassword),
    ),
    ("Registry.Token", Kind::Account(AccountKind::Token)),
    ("Tls.Certificate", Kind::Certificate),
];

/// The variable type of an account-typed variable naming an account of `kind`.
pub(crate) fn account_type(kind: AccountKind) -> VariableType {
    match kind {
        AccountKind::Aws => VariableType::AmazonWebServicesAccount,
        AccountKind::Azure => VariableType::AzureAccount,
        AccountKind::GoogleCloud => VariableType::GoogleCloudAccount,
        AccountKind::UsernamePassword => VariableType::UsernamePasswordAccount,
        AccountKind::Token => VariableType::TokenAccount,
        AccountKind::SshKeyPair => unreachable!("no variable type names an SSH key pair"),
    }
}

/// Who owns the variables being generated: what values may mention.
pub(crate) struct Owner<'a> {
    pub catalog: &'a Catalog,
    /// The owner's slug, for `{app}`.
    pub app: &'a str,
}

impl Owner<'_> {
    /// A value of `kind` for a variable that applies in `env` (or everywhere).
    pub(crate) fn value(
        &self,
        kind: Kind,
        rng: &mut Rng,
        env: Option<usize>,
    ) -> (VariableType, Option<PropertyValue>) {
        let plain = |value: String| (VariableType::String, Some(text(value)));
        match kind {
            Kind::Text(pattern) => {
                let env = env.map_or("shared", |e| self.catalog.environments[e].slug.as_str());
                plain(pattern.replace("{env}", env).replace("{app}", self.app))
            }
            Kind::Choice(choices) => plain((*rng.pick(choices)).to_owned()),
            Kind::Number(lo, hi) => plain(rng.between(lo, hi).to_string()),
            Kind::Flag => plain(if rng.percent(50) { "True" } else { "False" }.to_owned()),
            Kind::Guid => plain(rng.guid()),
            Kind::Secret => (VariableType::Sensitive, Some(secret_value(rng))),
            Kind::Account(kind) => (
                account_type(kind),
                Some(text(self.catalog.account(kind, env))),
            ),
            Kind::Certificate => (
                VariableType::Certificate,
                Some(text(self.catalog.certificate(env))),
            ),
        }
    }

    /// Appends `names` generated variable names, each with values for one to `variants` of the
    /// distinct `slots`.
    pub(crate) fn generate<S: Clone>(
        &self,
        rng: &mut Rng,
        names: usize,
        variants: usize,
        slots: &[Slot<S>],
        variables: &mut Vec<Variable<S>>,
    ) {
        assert!(
            names <= VARIABLE_PREFIXES.len() * KEYS.len(),
            "variable names exhausted"
        );
        // Names the owner already holds (hand-written variables) are left to those, so that
        // (name, scope) stays unique.
        let taken: std::collections::HashSet<String> =
            variables.iter().map(|v| v.name.clone()).collect();
        let start = rng.below(KEYS.len());
        for j in 0..names {
            let (key, kind) = KEYS[(start + j) % KEYS.len()];
            let name = format!("{}.{key}", VARIABLE_PREFIXES[j / KEYS.len()]);
            if taken.contains(&name) {
                continue;
            }
            let count = rng.between(1, variants);
            for s in rng.indices(slots.len(), count) {
                let slot = &slots[s];
                let (kind, value) = self.value(kind, rng, slot.env);
                variables.push(variable(&name, kind, value, slot.scope.clone()));
            }
        }
    }
}

/// A distinct scope a generated variable may have a value for, and the environment its values
/// should suit.
pub(crate) struct Slot<S> {
    pub scope: S,
    pub env: Option<usize>,
}

/// A variable without description or prompt.
pub(crate) fn variable<S>(
    name: &str,
    kind: VariableType,
    value: Option<PropertyValue>,
    scope: S,
) -> Variable<S> {
    Variable {
        name: name.to_owned(),
        value,
        kind,
        description: String::new(),
        prompt: None,
        scope,
    }
}
