//! Passwords (SPEC 4): never on the command line; from `--password-file`, `--password-env`,
//! `CUTTLE_PASSWORD`, or a prompt when a terminal is attached.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use cuttle_instance::files::{self, Accept};
use zeroize::Zeroizing;

use crate::cli::PasswordArgs;

/// The variable read when neither `--password-file` nor `--password-env` is given.
pub const PASSWORD_ENV: &str = "CUTTLE_PASSWORD";

/// Whether a prompted password is typed twice (a new export) or once (one that is checked).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Once,
    Twice,
}

pub fn read(args: &PasswordArgs, prompt: Prompt) -> Result<Zeroizing<String>> {
    let password = if let Some(file) = &args.password_file {
        let text = files::read_text(
            file,
            "password file",
            files::PASSWORD_FILE_LIMIT,
            Accept::FileOrPipe,
        )?;
        let first = Zeroizing::new(text.lines().next().unwrap_or_default().to_owned());
        if first.is_empty() {
            bail!(
                "the password file {} is empty (the password is its first line)",
                file.display()
            );
        }
        first
    } else if let Some(variable) = &args.password_env {
        Zeroizing::new(
            std::env::var(variable)
                .with_context(|| format!("reading the password from ${variable}"))?,
        )
    } else if let Ok(value) = std::env::var(PASSWORD_ENV) {
        Zeroizing::new(value)
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password("Password: ").context("reading the password")?,
        );
        if prompt == Prompt::Twice {
            let again = Zeroizing::new(
                rpassword::prompt_password("Password, again: ").context("reading the password")?,
            );
            if *first != *again {
                bail!("the two passwords differ");
            }
        }
        first
    } else {
        bail!(
            "a password is needed: give --password-file FILE, --password-env VAR or set {PASSWORD_ENV} (no terminal to ask on)"
        );
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}
