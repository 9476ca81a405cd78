//! Passwords (SPEC 4): never on the command line; from `--password-file`, `--password-env`,
//! `CUTTLE_PASSWORD`, or a prompt when a terminal is attached.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use cuttle_instance::files::{self, Accept};
use zeroize::Zeroizing;

use cuttle_service::request::PasswordSource;

/// The variable read when neither `--password-file` nor `--password-env` is given.
pub const PASSWORD_ENV: &str = "CUTTLE_PASSWORD";

/// Whether a prompted password is typed twice (a new export) or once (one that is checked).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Once,
    Twice,
}

pub fn read(source: &PasswordSource, prompt: Prompt) -> Result<Zeroizing<String>> {
    let password = if let PasswordSource::File(file) = source {
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
    } else if let PasswordSource::Env(variable) = source {
        match from_env(variable)? {
            Some(value) => value,
            None => bail!("--password-env {variable}: the variable {variable} is not set"),
        }
    } else if let Some(value) = from_env(PASSWORD_ENV)? {
        value
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

/// The password in the environment variable `variable`, if it is set. Its value is never part of
/// an error (`std::env::var`'s error would show a value that is not UTF-8).
fn from_env(variable: &str) -> Result<Option<Zeroizing<String>>> {
    match std::env::var_os(variable) {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(value) => {
                drop(Zeroizing::new(value.into_encoded_bytes()));
                bail!("the variable {variable} does not hold UTF-8 text; a password is UTF-8 text")
            }
        },
    }
}
