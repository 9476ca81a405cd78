//! History: releases, their deployments through the channel's lifecycle (to tenants where the
//! project is tenanted, retried after failures), and the deployments' task logs.

use std::fmt::Write;

use cuttle_domain::documents::{
    Deployment, DeploymentKey, Release, SelectedPackage, StepCondition, TaskLog, TaskState,
    TenantedDeploymentMode,
};

use crate::catalog::{Catalog, ProjectDef, Stage};
use crate::clock::{DAY, HOUR, MINUTE, SECOND, log_time, origin, timestamp};
use crate::projects::{ChannelKind, ChannelModel, ProjectModel};
use crate::rng::Rng;
use crate::words::{CHANGES, COMMENTS};
use crate::{Out, set};

pub(crate) fn emit_history(catalog: &Catalog, projects: &[ProjectModel], out: &mut Out) {
    let start = origin(catalog.seed);
    let humans: Vec<&str> = catalog
        .users
        .iter()
        .filter(|u| !u.service && u.active)
        .map(|u| u.username.as_str())
        .collect();
    for model in projects {
        let mut history = History {
            catalog,
            def: &catalog.projects[model.index],
            model,
            humans: &humans,
            rng: Rng::stream(catalog.seed, "history", model.index as u64),
        };
        history.emit(start, out);
    }
}

/// The release numbers of a project: `major.minor.patch`, and `-beta.N` pre-releases of the next
/// minor version. Every number is new: patches only grow, and beta numbers restart only when the
/// minor version moves on.
struct Versions {
    major: usize,
    minor: usize,
    patch: usize,
    beta: usize,
}

impl Versions {
    fn next(&mut self, kind: ChannelKind, rng: &mut Rng) -> String {
        match kind {
            ChannelKind::Default if rng.percent(30) => {
                self.minor += 1;
                self.patch = 0;
                self.beta = 0;
            }
            ChannelKind::Default | ChannelKind::Hotfix => self.patch += 1,
            ChannelKind::Beta => {
                self.beta += 1;
                return format!("{}.{}.0-beta.{}", self.major, self.minor + 1, self.beta);
            }
        }
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
}

struct History<'a> {
    catalog: &'a Catalog,
    def: &'a ProjectDef,
    model: &'a ProjectModel,
    humans: &'a [&'a str],
    rng: Rng,
}

/// One deployment to be emitted.
struct Target<'a> {
    version: &'a str,
    channel: &'a ChannelModel,
    env: usize,
    tenant: Option<usize>,
    number: u32,
    automatic: bool,
}

impl<'a> History<'a> {
    fn emit(&mut self, start: i64, out: &mut Out) {
        let (lo, hi) = self.catalog.profile.releases;
        let releases = self.rng.between(lo, hi);
        let mut versions = Versions {
            major: self.rng.between(1, 4),
            minor: self.rng.below(10),
            patch: 0,
            beta: 0,
        };
        let mut clock =
            start + self.rng.below(20) as i64 * DAY + self.rng.below(8 * 60) as i64 * MINUTE;
        let library_sets = set(self
            .def
            .library_sets
            .iter()
            .map(|&s| self.catalog.library_sets[s].name.as_str()));
        for r in 0..releases {
            let channel = self.channel(r == 0);
            let version = versions.next(channel.kind, &mut self.rng);
            let count = self.rng.between(2, 4);
            let notes: Vec<String> = self
                .rng
                .some(CHANGES, count)
                .into_iter()
                .map(|line| format!("- {line}"))
                .collect();
            out.emit(&Release {
                project: self.def.name.clone(),
                version: version.clone(),
                channel: channel.name.to_owned(),
                release_notes: notes.join("\n"),
                assembled: timestamp(clock),
                selected_packages: self
                    .model
                    .packages
                    .iter()
                    .map(|p| SelectedPackage {
                        action_name: p.action.clone(),
                        package_reference_name: p.reference.clone(),
                        feed: p.feed.to_owned(),
                        package_id: p.package_id.clone(),
                        version: p
                            .fixed_version
                            .map_or_else(|| version.clone(), str::to_owned),
                    })
                    .collect(),
                library_variable_sets: library_sets.clone(),
            });
            let last = r + 1 == releases;
            let in_flight = last && self.rng.percent(15);
            self.deploy(&version, channel, clock, r + 3 >= releases, in_flight, out);
            clock += self.rng.between(1, 5) as i64 * DAY + self.rng.below(6 * 60) as i64 * MINUTE;
        }
    }

    /// The channel of a release: mostly the default channel, sometimes beta or hotfix.
    fn channel(&mut self, first: bool) -> &'a ChannelModel {
        let channels = &self.model.channels;
        let kind = match self.rng.below(100) {
            _ if first => ChannelKind::Default,
            0..12 => ChannelKind::Beta,
            12..22 => ChannelKind::Hotfix,
            _ => ChannelKind::Default,
        };
        channels
            .iter()
            .find(|c| c.kind == kind)
            .unwrap_or(&channels[0])
    }

    /// Deploys a release through its channel's lifecycle, phase by phase. Older releases mostly
    /// went all the way; recent ones are still on their way. A deployment that fails is retried
    /// (numbers 2, 3 for the same environment and tenant); one that stays failed stops the release.
    fn deploy(
        &mut self,
        version: &str,
        channel: &ChannelModel,
        released: i64,
        recent: bool,
        in_flight: bool,
        out: &mut Out,
    ) {
        let lifecycle = &self.catalog.lifecycles[channel.lifecycle];
        let reach = if recent || self.rng.percent(20) {
            self.rng.between(1, lifecycle.phases.len())
        } else {
            lifecycle.phases.len()
        };
        let mut clock = released + self.rng.between(2, 40) as i64 * MINUTE;
        let mut first = true;
        for phase in &lifecycle.phases[..reach] {
            if phase.optional_phase && !self.rng.percent(25) {
                continue;
            }
            let mut envs: Vec<(usize, bool)> = phase.automatic.iter().map(|&e| (e, true)).collect();
            let optional: Vec<usize> = if phase.optional.len() <= 2 {
                phase.optional.clone()
            } else {
                let count = self.rng.between(1, 3);
                self.rng
                    .some(&phase.optional, count)
                    .into_iter()
                    .copied()
                    .collect()
            };
            envs.extend(optional.into_iter().map(|e| (e, false)));
            for (env, automatic) in envs {
                for tenant in self.tenants(env, channel) {
                    for number in 1..=3 {
                        let state = if first && in_flight {
                            if self.rng.percent(50) {
                                TaskState::Executing
                            } else {
                                TaskState::Queued
                            }
                        } else {
                            self.state()
                        };
                        first = false;
                        let target = Target {
                            version,
                            channel,
                            env,
                            tenant,
                            number,
                            automatic,
                        };
                        clock = self.deployment(&target, state, clock, out)
                            + self.rng.between(1, 30) as i64 * MINUTE;
                        match state {
                            TaskState::Success => break,
                            TaskState::Failed | TaskState::TimedOut
                                if number < 3 && self.rng.percent(70) =>
                            {
                                continue;
                            }
                            _ => return,
                        }
                    }
                }
            }
            clock += self.rng.between(4, 48) as i64 * HOUR;
        }
    }

    /// Who a deployment to `env` goes to: no tenant, some of the tenants connected to the project
    /// in that environment (and allowed by the channel's tenant tags), or both.
    fn tenants(&mut self, env: usize, channel: &ChannelModel) -> Vec<Option<usize>> {
        let catalog = self.catalog;
        let allowed = |t: usize| {
            channel.tenant_tags.is_empty()
                || catalog.tenants[t]
                    .tags
                    .iter()
                    .any(|tag| channel.tenant_tags.contains(&tag.as_str()))
        };
        let connected: Vec<usize> = self
            .def
            .tenants
            .iter()
            .filter(|(t, envs)| envs.contains(&env) && allowed(*t))
            .map(|&(t, _)| t)
            .collect();
        let count = self.rng.between(1, 2);
        let some = self
            .rng
            .some(&connected, count)
            .into_iter()
            .map(|&t| Some(t));
        match self.def.mode {
            TenantedDeploymentMode::Untenanted => vec![None],
            TenantedDeploymentMode::Tenanted => some.collect(),
            TenantedDeploymentMode::TenantedOrUntenanted => {
                std::iter::once(None).chain(some.take(1)).collect()
            }
        }
    }

    fn state(&mut self) -> TaskState {
        match self.rng.below(100) {
            0..6 => TaskState::Failed,
            6..8 => TaskState::TimedOut,
            8..10 => TaskState::Canceled,
            _ => TaskState::Success,
        }
    }

    /// Emits a deployment queued at `queued`, and its task log when it has started; returns when
    /// it finished (or was last heard of).
    fn deployment(&mut self, target: &Target, state: TaskState, queued: i64, out: &mut Out) -> i64 {
        let env = &self.catalog.environments[target.env];
        let automatic = target.automatic || env.stage == Stage::Development;
        let (deployed_by, comments) = if automatic {
            ("svc-build", "")
        } else {
            (*self.rng.pick(self.humans), *self.rng.pick(COMMENTS))
        };
        let tenant = target.tenant.map(|t| self.catalog.tenants[t].name.clone());
        let started = (!matches!(state, TaskState::Queued)).then(|| {
            queued + self.rng.between(1, 90) as i64 * SECOND + self.rng.below(1000) as i64
        });
        let (log, finished) = match started {
            Some(started) => {
                let (log, finished) = self.log(target, state, started);
                (Some(log), finished)
            }
            None => (None, queued),
        };
        out.emit(&Deployment {
            project: self.def.name.clone(),
            release: target.version.to_owned(),
            environment: env.name.clone(),
            tenant: tenant.clone(),
            number: target.number,
            state,
            queued: timestamp(queued),
            started: started.map(timestamp),
            completed: (!matches!(state, TaskState::Queued | TaskState::Executing))
                .then(|| timestamp(finished)),
            deployed_by: deployed_by.to_owned(),
            comments: comments.to_owned(),
        });
        if let Some(log) = log {
            out.emit(&TaskLog {
                project: self.def.name.clone(),
                deployment: DeploymentKey {
                    release: target.version.to_owned(),
                    environment: env.name.clone(),
                    tenant,
                    number: target.number,
                },
                log,
            });
        }
        finished
    }

    /// The text of a task log, and when the deployment finished.
    fn log(&mut self, target: &Target, state: TaskState, started: i64) -> (String, i64) {
        let catalog = self.catalog;
        let env = &catalog.environments[target.env];
        let mut log = Log {
            text: String::new(),
            clock: started,
        };
        let tenant = target
            .tenant
            .map(|t| format!(" for {}", catalog.tenants[t].name))
            .unwrap_or_default();
        log.line(
            "Info",
            format_args!(
                "Deploying {} release {} to {}{tenant}",
                self.def.name, target.version, env.name
            ),
        );
        if target.number > 1 {
            log.line(
                "Info",
                format_args!("Attempt {} for this environment", target.number),
            );
        }
        log.line("Info", format_args!("Acquiring packages"));
        for package in &self.model.packages {
            log.clock += self.rng.between(1, 20) as i64 * SECOND;
            let version = package.fixed_version.unwrap_or(target.version);
            let size = self.rng.between(2, 300);
            log.line(
                "Info",
                format_args!(
                    "  {} {version} from {}: {size} MB",
                    package.package_id, package.feed
                ),
            );
        }
        let steps: Vec<usize> = (0..self.model.steps.len())
            .filter(|&s| self.applies(s, target))
            .collect();
        // A deployment fails, times out, is canceled or is running at one of its regular steps.
        let regular: Vec<usize> = steps
            .iter()
            .copied()
            .filter(|&s| {
                matches!(
                    self.model.steps[s].condition,
                    StepCondition::Success | StepCondition::Variable
                )
            })
            .collect();
        let stop = match state {
            TaskState::Success | TaskState::Queued => None,
            _ => Some(*self.rng.pick(&regular)),
        };
        let mut failed = false;
        for (n, &s) in steps.iter().enumerate() {
            let step = &self.model.steps[s];
            match step.condition {
                StepCondition::Failure if !failed => continue,
                StepCondition::Success | StepCondition::Variable if failed => continue,
                _ => {}
            }
            log.clock += self.rng.between(2, 40) as i64 * SECOND + self.rng.below(1000) as i64;
            log.line("Info", format_args!("Step {}: {}", n + 1, step.name));
            let machines: Vec<&str> = match step.role {
                Some(role) => catalog.machines_by_env[target.env]
                    .iter()
                    .map(|&m| &catalog.machines[m])
                    .filter(|m| {
                        m.role == role
                            && (m.tenancy.tenants.is_empty()
                                || target
                                    .tenant
                                    .is_some_and(|t| m.tenancy.tenants.contains(&t)))
                    })
                    .take(3)
                    .map(|m| m.name.as_str())
                    .collect(),
                None => vec!["the Cuttle server"],
            };
            if machines.is_empty() {
                log.line(
                    "Warn",
                    format_args!(
                        "  No deployment targets with role {} in {}; skipped",
                        step.role.map_or("", |r| r.name()),
                        env.name
                    ),
                );
                continue;
            }
            for machine in machines {
                log.clock += self.rng.between(1, 90) as i64 * SECOND;
                log.line("Info", format_args!("  Running on {machine}"));
            }
            if stop == Some(s) {
                match state {
                    TaskState::Executing => return (log.text, log.clock),
                    TaskState::Canceled => {
                        let user = self.rng.pick(self.humans);
                        log.line("Warn", format_args!("Canceled by {user}"));
                        return (log.text, log.clock + SECOND);
                    }
                    TaskState::TimedOut => {
                        log.clock += 30 * MINUTE;
                        log.line(
                            "Error",
                            format_args!("  The step did not finish within 30 minutes"),
                        );
                    }
                    _ => log.line(
                        "Error",
                        format_args!("  The script exited with code {}", self.rng.between(1, 3)),
                    ),
                }
                failed = true;
            }
        }
        log.clock += SECOND + self.rng.below(1000) as i64;
        match state {
            TaskState::Success => {
                log.line("Info", format_args!("Deployment completed successfully"))
            }
            TaskState::TimedOut => log.line("Error", format_args!("Deployment timed out")),
            _ => log.line("Error", format_args!("Deployment failed")),
        }
        (log.text, log.clock)
    }

    /// Whether a step runs in a deployment: its environment and channel filters let it.
    fn applies(&self, s: usize, target: &Target) -> bool {
        let step = &self.model.steps[s];
        let env = &self.catalog.environments[target.env].name;
        (step.environments.is_empty() || step.environments.contains(env))
            && !step.excluded.contains(env)
            && (step.channels.is_empty() || step.channels.iter().any(|c| c == target.channel.name))
    }
}

/// A task log being written.
struct Log {
    text: String,
    clock: i64,
}

impl Log {
    fn line(&mut self, level: &str, message: std::fmt::Arguments) {
        writeln!(self.text, "{}  {level:<5}  {message}", log_time(self.clock))
            .expect("writing to a string");
    }
}
