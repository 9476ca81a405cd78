//! What each command does: make its request, obtain what only a terminal can give (a typed
//! password), call the service, print the result.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use cuttle_engine::export::ExportSummary;
use cuttle_instance::documents::WriteReport;
use cuttle_service::inspect;
use cuttle_service::request::{Export, Output, PartialExport, PasswordSource, Request};
use cuttle_service::{Access, DocumentInput, Service};
use zeroize::Zeroizing;

use crate::cli::{Cli, Command, Format, Presentation};
use crate::output;
use crate::password::{self, Prompt};
use crate::progress;

pub fn run(cli: Cli) -> Result<()> {
    let service = Service::new(cuttle_backends::home_from_env()?);
    match cli.command {
        Command::Serve(args) => crate::serve::run(service, args),
        // A command writes the instances it opens alone: its imports may hold the database.
        Command::Wizard => crate::wizard::run(&service.alone()),
        command => {
            let (request, presentation) = command.request().expect("a command makes a request");
            execute(&service.alone(), &request, presentation, None)
        }
    }
}

/// Runs `request`; `password` is one already asked for (the wizard runs the very request it
/// shows as its script, with the password it asked for).
pub fn execute(
    service: &Service,
    request: &Request,
    show: Presentation,
    password: Option<Zeroizing<String>>,
) -> Result<()> {
    request.check()?;
    match request {
        Request::InstanceCreate(r) => {
            let description = service.create_instance(r)?;
            note!(
                "created instance {:?} ({}, identity {}); its master key is in {} — keep a copy somewhere safe (`cuttle instance master-key {}`)",
                r.name,
                description.backend,
                description.identity,
                description.master_key_file.display(),
                r.name
            );
        }
        Request::InstanceList => {
            let mut out = output::stdout();
            for listing in service.list_instances()? {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    listing.name, listing.backend, listing.database
                )?;
            }
        }
        Request::InstanceShow { name } => {
            let description = service.session(name)?.describe()?;
            let mut out = output::stdout();
            if show.format == Some(Format::Json) {
                writeln!(out, "{}", serde_json::to_string_pretty(&description)?)?;
            } else {
                writeln!(out, "name:            {}", description.name)?;
                writeln!(out, "identity:        {}", description.identity)?;
                writeln!(out, "backend:         {}", description.backend)?;
                writeln!(out, "database:        {}", description.database)?;
                writeln!(
                    out,
                    "master key file: {}",
                    description.master_key_file.display()
                )?;
                writeln!(out, "product version: {}", description.product_version)?;
                writeln!(out, "domain version:  {}", description.domain_version)?;
                writeln!(out, "schema version:  {}", description.schema_version)?;
                writeln!(out, "created:         {}", description.created)?;
                writeln!(
                    out,
                    "documents:       {}",
                    description.documents.values().sum::<u64>()
                )?;
                for (collection, count) in &description.documents {
                    writeln!(out, "  {collection:<24} {count}")?;
                }
            }
        }
        Request::InstanceDelete { name } => {
            service.delete_instance(name)?;
            note!("deleted instance {name:?}");
        }
        Request::InstanceMasterKey { name } => {
            let line = service.session(name)?.master_key();
            let mut out = output::stdout();
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        Request::InstanceBackup(r) => {
            let summary = service.session(&r.instance)?.backup(r)?;
            note!(
                "backed up instance {:?} to {}: {} documents, {:.1} MB; sensitive values stay under the instance's master key, which `cuttle import --backup` needs (`cuttle instance master-key {}`)",
                r.instance,
                r.file.display(),
                summary.documents,
                summary.bytes as f64 / 1e6,
                r.instance
            );
        }
        Request::Sample(r) => {
            let report = service.session(&r.instance)?.sample(r, &Access::host())?;
            print_report(&report.written);
            note!(
                "sample {:?} (seed {}): {} documents in {:.2} s ({:.2} s generating), {:.0} documents/s",
                r.size.name(),
                r.seed,
                report.documents,
                report.elapsed.as_secs_f64(),
                report.generating.as_secs_f64(),
                report.documents as f64 / report.elapsed.as_secs_f64()
            );
        }
        Request::DocList(r) => {
            let keys = service
                .session(&r.instance)?
                .list_documents(r, &Access::host())?;
            let mut out = output::stdout();
            for key in keys {
                writeln!(out, "{key}")?;
            }
        }
        Request::DocGet(r) => {
            let value = service
                .session(&r.instance)?
                .get_document(r, &Access::host())?
                .value;
            // The data exactly, with what a terminal must not be sent as it is escaped.
            writeln!(output::stdout(), "{}", output::json(&value, true))?;
        }
        Request::DocPut(r) => {
            let input = if r.file.as_os_str() == "-" {
                if std::io::stdin().is_terminal() {
                    note!("reading JSON from standard input; end with Ctrl-D");
                }
                DocumentInput::stream(std::io::stdin().lock(), "standard input")?
            } else {
                DocumentInput::file(&r.file)?
            };
            let report = service
                .session(&r.instance)?
                .put_documents(r, &input, &Access::host(), None)?
                .report;
            note!("{} created, {} replaced", report.created, report.replaced);
        }
        Request::DocDelete(r) => {
            let deleted =
                service
                    .session(&r.instance)?
                    .delete_document(r, &Access::host(), None)?;
            note!(
                "deleted {deleted} document{}",
                if deleted == 1 { "" } else { "s" }
            );
        }
        Request::Export(r) => export(service, Exporting::Whole(r), password)?,
        Request::PartialExport(r) => export(service, Exporting::Partial(r), password)?,
        Request::Import(r) => crate::import::import(
            service,
            crate::import::Importing::Sources(r),
            show,
            password,
        )?,
        Request::ApplyPlan(r) => {
            crate::import::import(service, crate::import::Importing::Plan(r), show, password)?
        }
        Request::ApiKeyCreate(r) => {
            let made = service
                .session(&r.instance)?
                .create_api_key(r, &Access::host())?;
            print_key(&made)?;
        }
        Request::AdminCreate(r) => {
            let made = service
                .session(&r.instance)?
                .create_admin(r, &Access::host())?;
            note!(
                "{:?} is an administrator of instance {:?} (team {:?}, role {:?})",
                r.user,
                r.instance,
                cuttle_service::keys::ADMIN_TEAM,
                cuttle_service::keys::ADMIN_ROLE
            );
            print_key(&made)?;
        }
        Request::ApiKeyList { instance, user } => {
            let keys = service
                .session(instance)?
                .api_keys(user.as_deref(), &Access::host())?;
            let mut out = output::stdout();
            if show.format == Some(Format::Json) {
                for key in keys {
                    writeln!(out, "{}", output::json(&key, false))?;
                }
            } else {
                for key in keys {
                    writeln!(
                        out,
                        "{}\t{}\t{}…\tcreated {}\t{}{}{}",
                        key.id,
                        key.user.as_deref().unwrap_or("(deleted user)"),
                        key.shown,
                        key.created.as_str(),
                        key.expires
                            .as_ref()
                            .map_or("never expires".to_owned(), |e| format!(
                                "expires {}",
                                e.as_str()
                            )),
                        if key.read_only { "\tread only" } else { "" },
                        key.revoked
                            .as_ref()
                            .map_or(String::new(), |r| format!("\trevoked {}", r.as_str())),
                    )?;
                }
            }
        }
        Request::ApiKeyRevoke { instance, id } => {
            let key = service
                .session(instance)?
                .revoke_api_key(*id, &Access::host())?;
            note!(
                "revoked API key {} ({}…) of user {:?}",
                key.id,
                key.shown,
                key.user.unwrap_or_default()
            );
        }
        Request::Audit {
            instance,
            before,
            limit,
        } => {
            let entries = service
                .session(instance)?
                .audit(*before, *limit, &Access::host())?;
            let mut out = output::stdout();
            for entry in entries {
                if show.format == Some(Format::Json) {
                    writeln!(out, "{}", output::json(&entry, false))?;
                } else {
                    let what = [&entry.collection, &entry.project, &entry.key]
                        .into_iter()
                        .flatten()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" ");
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{} {what}\t{:?}{}",
                        entry.id,
                        entry.at.as_str(),
                        entry.actor,
                        entry.action,
                        entry.outcome,
                        entry.reason.map_or(String::new(), |r| format!(
                            " ({})",
                            serde_json::to_value(r)
                                .unwrap_or_default()
                                .as_str()
                                .unwrap_or_default()
                        )),
                    )?;
                }
            }
        }
    }
    Ok(())
}

enum Exporting<'r> {
    Whole(&'r Export),
    Partial(&'r PartialExport),
}

fn export(service: &Service, what: Exporting<'_>, given: Option<Zeroizing<String>>) -> Result<()> {
    let (instance, directory, source): (&str, &std::path::Path, &PasswordSource) = match what {
        Exporting::Whole(r) => (&r.instance, r.output.path(), &r.password),
        Exporting::Partial(r) => (&r.instance, r.output.path(), &r.password),
    };
    // Opened first, so that a missing instance is said before a password is asked for (and
    // kept open while it is).
    let mut session = service.session(instance)?;
    let password = match given {
        Some(given) => given,
        None => {
            // A new export's password is typed twice; one that opens an earlier export, once.
            let fresh = match what {
                Exporting::Whole(Export {
                    output: Output::Archive(file),
                    ..
                })
                | Exporting::Partial(PartialExport {
                    output: Output::Archive(file),
                    ..
                }) => !file.exists(),
                _ => !inspect::holds_export(directory),
            };
            password::read(source, if fresh { Prompt::Twice } else { Prompt::Once })?
        }
    };
    let bar = progress::bar("exporting");
    let mut progress = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let summary = match what {
        Exporting::Whole(r) => session.export(r, password.as_bytes(), &mut progress),
        Exporting::Partial(r) => session.partial_export(r, password.as_bytes(), &mut progress),
    }?;
    bar.finish_and_clear();
    print_export(instance, directory, &summary);
    Ok(())
}

fn print_export(instance: &str, directory: &std::path::Path, summary: &ExportSummary) {
    let documents: u64 = summary.documents.iter().map(|(_, n)| n).sum();
    for (collection, count) in &summary.documents {
        note!("  {:<24} {count}", collection.name());
    }
    let seconds = summary.elapsed.as_secs_f64();
    note!(
        "exported {documents} documents of instance {instance:?} to {}: {} files written, {} unchanged, {} removed; {:.1} MB in {seconds:.2} s ({:.0} documents/s)",
        directory.display(),
        summary.files_written,
        summary.files_unchanged,
        summary.files_removed,
        summary.bytes as f64 / 1e6,
        documents as f64 / seconds.max(1e-9),
    );
}

/// The error and its causes, on one line each; a service error with its hint in the command
/// line's words.
pub fn describe_error(error: &anyhow::Error) -> String {
    if let Some(error) = error.downcast_ref::<cuttle_service::Error>() {
        return crate::hints::error(error);
    }
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    out
}

/// A key just made: the key on standard output (alone, for a script to take), what it is on
/// standard error.
fn print_key(made: &cuttle_service::keys::ApiKeyCreated) -> Result<()> {
    note!(
        "API key {} for user {:?}{}{}: it is shown this once, and the instance keeps only its hash; send it as `Authorization: Bearer <key>`",
        made.info.id,
        made.info.user.as_deref().unwrap_or_default(),
        if made.info.read_only {
            ", read only"
        } else {
            ""
        },
        made.info
            .expires
            .as_ref()
            .map_or(String::new(), |e| format!(", until {}", e.as_str())),
    );
    let mut out = output::stdout();
    out.write_all(made.key.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

fn print_report(report: &WriteReport) {
    for (collection, count) in &report.per_collection {
        note!("  {:<24} {count}", collection.name());
    }
}
