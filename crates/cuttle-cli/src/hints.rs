//! The service's hints and errors, in the command line's words: a hint names the option that
//! does it.

use cuttle_service::{Error, Hint};

/// What a person can do, said with the command line's options.
pub fn phrase(hint: Hint) -> &'static str {
    match hint {
        Hint::Overwrite => "--overwrite replaces it",
        Hint::SampleOverwrite => {
            "give --overwrite to write it anyway, or sample into a new instance (`cuttle instance create NAME`)"
        }
        Hint::Clean => "give --clean to remove every file the format owns first",
        Hint::Rekey => "--rekey re-encrypts every value under a new salt",
        Hint::IgnoreVersionCheck => "--ignore-version-check reads it anyway, at your own risk",
        Hint::VersionCheckIgnored => "--ignore-version-check",
        Hint::IncludeTaskLogs => "--include-task-logs imports them",
        Hint::SourceOfItsOwn => "give it as a --directory of its own to import it",
        Hint::SelectProjects => "give --project, or a --project-group that has projects",
        Hint::GiveProject => "give --project",
        Hint::NoProject => "leave --project out",
        Hint::EmbeddedDatabase => "leave --database out for an embedded instance",
        Hint::ListInstances => "see `cuttle instance list`",
        Hint::CreateInstance => "create one with `cuttle instance create NAME`",
    }
}

/// `text`, and the hint in parentheses (a plan's reason, a warning).
pub fn aside(text: &str, hint: Option<Hint>) -> String {
    match hint {
        Some(hint) => format!("{text} ({})", phrase(hint)),
        None => text.to_owned(),
    }
}

/// An error as the command line says it: the message, then its hint, then the problems and
/// blockers one a line.
pub fn error(error: &Error) -> String {
    let mut out = error.message.clone();
    if let Some(hint) = error.hint {
        out.push_str("; ");
        out.push_str(phrase(hint));
    }
    let full = error.to_string();
    out.push_str(&full[error.message.len()..]);
    out
}
