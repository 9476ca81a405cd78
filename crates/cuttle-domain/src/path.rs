//! Paths into documents, as declarations write them, and JSON paths, as errors print them.
//!
//! A declaration path is a list of field names separated by `/`; a name followed by `[]` stands
//! for every element of that array: `steps[]/actions[]/environments[]`. Field names may contain
//! dots (`properties/Cuttle.Action.Account`). A path that does not match a document (a missing
//! field, a null, a value of another type) visits nothing: shapes are checked elsewhere.

use std::fmt;

use serde_json::Value;

use crate::decl::When;

#[derive(Clone, Copy, Debug)]
struct Segment<'a> {
    name: &'a str,
    each: bool,
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    path.split('/')
        .map(|part| match part.strip_suffix("[]") {
            Some(name) => Segment { name, each: true },
            None => Segment {
                name: part,
                each: false,
            },
        })
        .collect()
}

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

/// The location of a value inside a document, printed as `$.steps[0].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(Vec<Step>);

impl JsonPath {
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }
    pub fn field(mut self, name: &str) -> Self {
        self.0.push(Step::Field(name.to_owned()));
        self
    }
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(Step::Index(index));
        self
    }
    pub fn push_field(&mut self, name: &str) {
        self.0.push(Step::Field(name.to_owned()));
    }
    pub fn push_index(&mut self, index: usize) {
        self.0.push(Step::Index(index));
    }
    pub fn pop(&mut self) {
        self.0.pop();
    }
    /// This path followed by `rest` (a path relative to where this one leads).
    pub fn join(mut self, rest: &JsonPath) -> Self {
        self.0.extend_from_slice(&rest.0);
        self
    }
    pub fn steps(&self) -> &[Step] {
        &self.0
    }
    /// The path in declaration syntax, every index as `[]`: `$.steps[0].actions[2].name` is
    /// `steps[]/actions[]/name`.
    pub fn pattern(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            match step {
                Step::Field(name) => {
                    if !out.is_empty() {
                        out.push('/');
                    }
                    out.push_str(name);
                }
                Step::Index(_) => out.push_str("[]"),
            }
        }
        out
    }
    /// The path without its last step, and that step; `None` at the root.
    pub fn split_last(&self) -> Option<(JsonPath, &Step)> {
        let (last, rest) = self.0.split_last()?;
        Some((JsonPath(rest.to_vec()), last))
    }
    /// The path as a JSON pointer (RFC 6901), used to bind sealed values to their place.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            match step {
                Step::Field(name) => push_pointer_field(&mut out, name),
                Step::Index(i) => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "/{i}");
                }
            }
        }
        out
    }
}

/// Appends `/name` to a JSON pointer, escaped as RFC 6901 says (`~` as `~0`, `/` as `~1`).
pub fn push_pointer_field(pointer: &mut String, name: &str) {
    pointer.push('/');
    for c in name.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.0 {
            match step {
                Step::Index(i) => write!(f, "[{i}]")?,
                Step::Field(name)
                    if !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    write!(f, ".{name}")?
                }
                Step::Field(name) => write!(f, "[{}]", Value::String(name.clone()))?,
            }
        }
        Ok(())
    }
}

impl From<&serde_path_to_error::Path> for JsonPath {
    fn from(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        JsonPath(
            path.iter()
                .filter_map(|segment| match segment {
                    S::Seq { index } => Some(Step::Index(*index)),
                    S::Map { key } => Some(Step::Field(key.clone())),
                    S::Enum { variant } => Some(Step::Field(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

fn holds(object: &serde_json::Map<String, Value>, when: Option<&When>) -> bool {
    when.is_none_or(|w| {
        object
            .get(w.field)
            .and_then(Value::as_str)
            .is_some_and(|v| w.any_of.contains(&v))
    })
}

/// Calls `visit` with every value at `path` (nulls included) and its JSON path.
pub fn for_each<'v, E>(
    root: &'v Value,
    path: &str,
    when: Option<&When>,
    visit: &mut dyn FnMut(&'v Value, &JsonPath) -> Result<(), E>,
) -> Result<(), E> {
    fn walk<'v, E>(
        value: &'v Value,
        segments: &[Segment<'_>],
        when: Option<&When>,
        at: &mut JsonPath,
        visit: &mut dyn FnMut(&'v Value, &JsonPath) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((segment, rest)) = segments.split_first() else {
            return visit(value, at);
        };
        let Value::Object(object) = value else {
            return Ok(());
        };
        if rest.is_empty() && !holds(object, when) {
            return Ok(());
        }
        let Some(child) = object.get(segment.name) else {
            return Ok(());
        };
        at.push_field(segment.name);
        let result = if segment.each {
            let mut result = Ok(());
            if let Value::Array(items) = child {
                for (i, item) in items.iter().enumerate() {
                    at.push_index(i);
                    result = walk(item, rest, when, at, visit);
                    at.pop();
                    if result.is_err() {
                        break;
                    }
                }
            }
            result
        } else {
            walk(child, rest, when, at, visit)
        };
        at.pop();
        result
    }
    walk(root, &segments(path), when, &mut JsonPath::root(), visit)
}

/// Calls `visit` with every value at `path` (nulls included), mutably, and its JSON path.
pub fn for_each_mut<E>(
    root: &mut Value,
    path: &str,
    when: Option<&When>,
    visit: &mut dyn FnMut(&mut Value, &JsonPath) -> Result<(), E>,
) -> Result<(), E> {
    fn walk<E>(
        value: &mut Value,
        segments: &[Segment<'_>],
        when: Option<&When>,
        at: &mut JsonPath,
        visit: &mut dyn FnMut(&mut Value, &JsonPath) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((segment, rest)) = segments.split_first() else {
            return visit(value, at);
        };
        let Value::Object(object) = value else {
            return Ok(());
        };
        if rest.is_empty() && !holds(object, when) {
            return Ok(());
        }
        let Some(child) = object.get_mut(segment.name) else {
            return Ok(());
        };
        at.push_field(segment.name);
        let result = if segment.each {
            let mut result = Ok(());
            if let Value::Array(items) = child {
                for (i, item) in items.iter_mut().enumerate() {
                    at.push_index(i);
                    result = walk(item, rest, when, at, visit);
                    at.pop();
                    if result.is_err() {
                        break;
                    }
                }
            }
            result
        } else {
            walk(child, rest, when, at, visit)
        };
        at.pop();
        result
    }
    walk(root, &segments(path), when, &mut JsonPath::root(), visit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_every_element_and_prints_paths() {
        let doc = json!({"steps": [
            {"name": "a", "actions": [{"properties": {"Cuttle.Action.Account": "aws"}}]},
            {"name": "b", "actions": [{"properties": {}}, {"properties": {"Cuttle.Action.Account": null}}]}
        ]});
        let mut seen = Vec::new();
        for_each::<()>(
            &doc,
            "steps[]/actions[]/properties/Cuttle.Action.Account",
            None,
            &mut |v, p| {
                seen.push((p.to_string(), v.clone()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (
                    "$.steps[0].actions[0].properties[\"Cuttle.Action.Account\"]".to_owned(),
                    json!("aws")
                ),
                (
                    "$.steps[1].actions[1].properties[\"Cuttle.Action.Account\"]".to_owned(),
                    Value::Null
                ),
            ]
        );
    }

    #[test]
    fn when_filters_on_a_sibling_field() {
        let doc = json!({"variables": [
            {"type": "String", "value": "x"},
            {"type": "AwsAccount", "value": "aws"}
        ]});
        let when = When {
            field: "type",
            any_of: &["AwsAccount"],
        };
        let mut seen = Vec::new();
        for_each::<()>(&doc, "variables[]/value", Some(&when), &mut |v, _| {
            seen.push(v.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![json!("aws")]);
    }

    #[test]
    fn pointer_escapes() {
        let p = JsonPath::root().field("a/b").index(2).field("c~d");
        assert_eq!(p.pointer(), "/a~1b/2/c~0d");
    }
}
