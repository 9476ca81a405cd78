//! "Show script": a request's command line ([`crate::Request::command_line`]) quoted for a POSIX
//! shell, as the wizard (and later the web pages) show it.

/// One argument, quoted for a POSIX shell when it needs it: `'…'`, each `'` written `'\''`.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `cuttle` followed by `args`, each quoted.
pub fn shell_line(args: &[String]) -> String {
    std::iter::once("cuttle".to_owned())
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_shell() {
        let args: Vec<String> = [
            "export",
            "--project",
            "Payments/API",
            "--project",
            "Bob's \"app\" $HOME `x` \\ *",
            "--directory",
            "",
            "Café Zürich",
            "-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let line = shell_line(&args);
        assert!(line.starts_with("cuttle export --project Payments/API --project 'Bob'\\''s"));
        // Round trip through a real shell: each argument comes back as it was.
        let script = format!("{}; printf '%s\\0' \"$@\"", "shift");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {line}; {script}"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let back: Vec<&str> = text.strip_suffix('\0').unwrap().split('\0').collect();
        assert_eq!(back, args);
    }
}
