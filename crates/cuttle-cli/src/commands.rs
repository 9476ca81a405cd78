//! What each command does: open the instance, call the library, print the result.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::{Result, bail};
use cuttle_domain::Collection;
use cuttle_instance::documents::{self, Address, Incoming, WriteOptions, WriteReport};
use cuttle_instance::files::{self, Accept};
use cuttle_instance::{Home, Instance};
use cuttle_store::ReadTxn;
use serde_json::Value;
use zeroize::Zeroizing;

use cuttle_engine::closure::{Ignore, Selection};
use cuttle_engine::export::ExportOptions;
use cuttle_engine::format::InlineScripts;

use crate::cli::{
    Cli, Command, DocCommand, ExportArgs, Format, InlineScriptsArg, InstanceCommand,
    PartialExportArgs, PasswordArgs, SampleArgs, SampleSize,
};
use crate::output;
use crate::password::{self, Prompt};
use crate::progress;

pub fn run(cli: Cli) -> Result<()> {
    let home = cuttle_backends::home_from_env()?;
    execute(&home, cli.command, None)
}

/// Runs `command`; `password` is one already asked for (the wizard runs the very command it
/// shows as its script, with the password it asked for).
pub fn execute(home: &Home, command: Command, password: Option<Zeroizing<String>>) -> Result<()> {
    match command {
        Command::Instance(command) => instance(home, command),
        Command::Sample(args) => sample(home, args),
        Command::Doc(command) => doc(home, command),
        Command::Export(args) => export(home, args, password),
        Command::PartialExport(args) => partial_export(home, args, password),
        Command::Import(args) => crate::import::import(home, args, password),
        Command::Wizard => crate::wizard::run(home),
    }
}

fn inline_scripts(arg: InlineScriptsArg) -> InlineScripts {
    match arg {
        InlineScriptsArg::Extract => InlineScripts::Extract,
        InlineScriptsArg::Inline => InlineScripts::Inline,
    }
}

fn export(home: &Home, args: ExportArgs, password: Option<Zeroizing<String>>) -> Result<()> {
    let options = ExportOptions {
        directory: args.directory,
        clean: args.clean,
        prune: !args.no_prune,
        rekey: args.rekey,
        history: !args.ignore_history,
        task_logs: args.include_task_logs,
        inline_scripts: inline_scripts(args.inline_scripts),
        selection: None,
    };
    run_export(home, &args.instance, &args.password, options, password)
}

fn partial_export(
    home: &Home,
    args: PartialExportArgs,
    password: Option<Zeroizing<String>>,
) -> Result<()> {
    let selection = Selection {
        projects: args.project,
        project_groups: args.project_group,
        ignore: Ignore {
            machines: args.ignore_machines,
            tenants: args.ignore_tenants,
            certificates: args.ignore_certificates,
            history: args.ignore_history,
            deployments: args.ignore_deployments,
        },
    };
    let options = ExportOptions {
        directory: args.directory,
        clean: args.clean,
        prune: true,
        rekey: args.rekey,
        history: !args.ignore_history,
        task_logs: args.include_task_logs,
        inline_scripts: inline_scripts(args.inline_scripts),
        selection: Some(selection),
    };
    run_export(home, &args.instance, &args.password, options, password)
}

fn run_export(
    home: &Home,
    instance_name: &str,
    password: &PasswordArgs,
    options: ExportOptions,
    given: Option<Zeroizing<String>>,
) -> Result<()> {
    let mut instance = Instance::open(home, instance_name)?;
    let fresh = !options
        .directory
        .join(cuttle_engine::format::MANIFEST)
        .exists();
    let password = match given {
        Some(given) => given,
        None => password::read(password, if fresh { Prompt::Twice } else { Prompt::Once })?,
    };
    let bar = progress::bar("exporting");
    let summary = cuttle_engine::export::export(
        &mut instance,
        password.as_bytes(),
        &options,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    let documents: u64 = summary.documents.iter().map(|(_, n)| n).sum();
    for (collection, count) in &summary.documents {
        note!("  {:<24} {count}", collection.name());
    }
    let seconds = summary.elapsed.as_secs_f64();
    note!(
        "exported {documents} documents of instance {instance_name:?} to {}: {} files written, {} unchanged, {} removed; {:.1} MB in {seconds:.2} s ({:.0} documents/s)",
        options.directory.display(),
        summary.files_written,
        summary.files_unchanged,
        summary.files_removed,
        summary.bytes as f64 / 1e6,
        documents as f64 / seconds.max(1e-9),
    );
    Ok(())
}

/// The error and its causes, on one line each.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    out
}

fn instance(home: &Home, command: InstanceCommand) -> Result<()> {
    match command {
        InstanceCommand::Create {
            name,
            database,
            master_key_file,
        } => {
            let mut instance =
                Instance::create(home, &name, database.as_deref(), master_key_file.as_deref())?;
            let description = instance.describe()?;
            note!(
                "created instance {name:?} ({}, identity {}); its master key is in {} — keep a copy somewhere safe (`cuttle instance master-key {name}`)",
                description.backend,
                description.identity,
                description.master_key_file.display()
            );
        }
        InstanceCommand::List => {
            let mut out = output::stdout();
            for registration in home.list()? {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    registration.name,
                    registration.backend,
                    cuttle_instance::home::redact_url(&registration.database)
                )?;
            }
        }
        InstanceCommand::Show { name, format } => {
            let description = Instance::open(home, &name)?.describe()?;
            match format {
                Format::Json => writeln!(
                    output::stdout(),
                    "{}",
                    serde_json::to_string_pretty(&description)?
                )?,
                Format::Text => {
                    let mut out = output::stdout();
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
        }
        InstanceCommand::Delete { name } => {
            Instance::delete(home, &name)?;
            note!("deleted instance {name:?}");
        }
        InstanceCommand::Backup { name, file } => crate::import::backup(home, &name, &file)?,
        InstanceCommand::MasterKey { name } => {
            let instance = Instance::open(home, &name)?;
            let line = instance.master_key().to_line();
            let mut out = output::stdout();
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn sample(home: &Home, args: SampleArgs) -> Result<()> {
    let size = match args.size {
        SampleSize::Small => cuttle_sample::Size::Small,
        SampleSize::Medium => cuttle_sample::Size::Medium,
        SampleSize::Large => cuttle_sample::Size::Large,
    };
    let mut instance = Instance::open(home, &args.instance)?;
    if !args.overwrite {
        // Before the sample is made (a large one takes a while).
        refuse_populated(&mut *instance.store().read()?, &args.instance)?;
    }
    let started = Instant::now();
    let mut docs = Vec::new();
    cuttle_sample::generate(size, args.seed, &mut |collection, value| {
        docs.push(Incoming {
            collection,
            origin: String::new(),
            json: value.to_string(),
        });
    });
    let generated = started.elapsed();
    let (store, sealer) = instance.parts();
    let mut txn = store.write()?;
    // Checked again in the transaction that writes: no writer can fill the instance in between.
    if !args.overwrite {
        refuse_populated(&mut *txn, &args.instance)?;
    }
    let report = documents::write_documents(
        &mut *txn,
        sealer,
        docs.as_slice(),
        WriteOptions::default(),
        &mut |_| {},
    )?;
    txn.commit()?;
    let elapsed = started.elapsed();
    print_report(&report);
    note!(
        "sample {:?} (seed {}): {} documents in {:.2} s ({:.2} s generating), {:.0} documents/s",
        args.size,
        args.seed,
        docs.len(),
        elapsed.as_secs_f64(),
        generated.as_secs_f64(),
        docs.len() as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// `cuttle sample` writes into an instance that holds documents only with `--overwrite`.
fn refuse_populated<T: ReadTxn + ?Sized>(txn: &mut T, instance: &str) -> Result<()> {
    let mut held = 0;
    for decl in cuttle_domain::COLLECTIONS {
        held += txn.count(decl.collection)?;
    }
    if held > 0 {
        bail!(
            "instance {instance:?} already holds {held} document{}, and the sample would replace those that have its names: \
             nothing was changed. Give --overwrite to write it anyway, or sample into a new instance \
             (`cuttle instance create NAME`)",
            if held == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Writes documents in one transaction, through the validated path.
fn write(instance: &mut Instance, docs: &[Incoming]) -> Result<WriteReport> {
    let (store, sealer) = instance.parts();
    let mut txn = store.write()?;
    let report = documents::write_documents(
        &mut *txn,
        sealer,
        docs,
        WriteOptions::default(),
        &mut |_| {},
    )?;
    txn.commit()?;
    Ok(report)
}

fn print_report(report: &WriteReport) {
    for (collection, count) in &report.per_collection {
        note!("  {:<24} {count}", collection.name());
    }
}

fn doc(home: &Home, command: DocCommand) -> Result<()> {
    match command {
        DocCommand::List {
            collection,
            instance,
            project,
        } => {
            let mut instance = Instance::open(home, &instance)?;
            let mut read = instance.store().read()?;
            let keys = documents::list(&mut *read, collection.0, project.as_deref())?;
            let mut out = output::stdout();
            for key in keys {
                writeln!(out, "{key}")?;
            }
        }
        DocCommand::Get {
            collection,
            key,
            instance,
            project,
        } => {
            let mut instance = Instance::open(home, &instance)?;
            let mut read = instance.store().read()?;
            let address = Address {
                collection: collection.0,
                project: project.as_deref(),
                key: key.as_deref(),
            };
            let doc = documents::find(&mut *read, &address)?;
            let value = documents::show(&mut *read, &doc)?;
            // The data exactly, with what a terminal must not be sent as it is escaped.
            writeln!(output::stdout(), "{}", output::json(&value, true))?;
        }
        DocCommand::Put {
            collection,
            instance,
            file,
        } => {
            let (origin, text) = read_input(&file)?;
            let docs = split_documents(collection.0, &origin, &text)?;
            let mut instance = Instance::open(home, &instance)?;
            let report = write(&mut instance, &docs)?;
            note!("{} created, {} replaced", report.created, report.replaced);
        }
        DocCommand::Delete {
            collection,
            key,
            instance,
            project,
        } => {
            let mut instance = Instance::open(home, &instance)?;
            let mut txn = instance.store().write()?;
            let address = Address {
                collection: collection.0,
                project: project.as_deref(),
                key: key.as_deref(),
            };
            let deleted = documents::delete(&mut *txn, &address)?;
            txn.commit()?;
            note!(
                "deleted {deleted} document{}",
                if deleted == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

/// Reads what `doc put` takes: at most what one file of an export may hold (the reader's limit),
/// from a file, a pipe, or standard input (`-`).
fn read_input(file: &std::path::Path) -> Result<(String, Zeroizing<String>)> {
    let limit = cuttle_engine::reader::MAX_FILE;
    if file.as_os_str() == "-" {
        if std::io::stdin().is_terminal() {
            note!("reading JSON from standard input; end with Ctrl-D");
        }
        let text = files::read_text_from(
            std::io::stdin().lock(),
            "standard input",
            "document input",
            limit,
        )?;
        return Ok(("standard input".into(), text));
    }
    let text = files::read_text(file, "document file", limit, Accept::FileOrPipe)?;
    Ok((file.display().to_string(), text))
}

/// One document, or an array of documents, each becoming one [`Incoming`].
fn split_documents(collection: Collection, origin: &str, text: &str) -> Result<Vec<Incoming>> {
    let value = cuttle_domain::json::parse(text)
        .map_err(|e| anyhow::anyhow!("{origin} is not valid JSON: {e}"))?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Incoming {
                collection,
                origin: format!("{origin}[{i}]"),
                json: item.to_string(),
            })
            .collect(),
        single => vec![Incoming {
            collection,
            origin: origin.to_owned(),
            json: single.to_string(),
        }],
    })
}
