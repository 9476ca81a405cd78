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

/// Objects of at most this many members are searched for a member by comparing names, which
/// costs less than hashing the name (a document's map hashes with SipHash): most of a
/// document's objects are this small.
const SMALL_OBJECT: usize = 8;

/// The member `name` of `object`.
pub fn member<'o>(object: &'o serde_json::Map<String, Value>, name: &str) -> Option<&'o Value> {
    match object.len() <= SMALL_OBJECT {
        true => object.iter().find_map(|(k, v)| (k == name).then_some(v)),
        false => object.get(name),
    }
}

/// The member `name` of `object`, mutably.
pub fn member_mut<'o>(
    object: &'o mut serde_json::Map<String, Value>,
    name: &str,
) -> Option<&'o mut Value> {
    match object.len() <= SMALL_OBJECT {
        true => object
            .iter_mut()
            .find_map(|(k, v)| (k == name).then_some(v)),
        false => object.get_mut(name),
    }
}

fn holds(object: &serde_json::Map<String, Value>, when: Option<&When>) -> bool {
    when.is_none_or(|w| {
        member(object, w.field)
            .and_then(Value::as_str)
            .is_some_and(|v| w.any_of.contains(&v))
    })
}

/// Where a walk stands: a chain of the walk's own frames, each a step from the one it extends,
/// made into a [`JsonPath`] only where one is needed (a problem, a finding). Most walks never
/// need one, and a walk over a document visits every value on a declaration's path: an
/// allocated path at each step was most of what checking a document cost.
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    /// A path already made: the root, or where a walk begins.
    Path(&'a JsonPath),
    /// A field of the value at the first.
    Field(&'a At<'a>, &'a str),
    /// An element of the array at the first.
    Index(&'a At<'a>, usize),
}

static ROOT: JsonPath = JsonPath(Vec::new());

impl<'a> At<'a> {
    /// The document itself.
    pub const ROOT: At<'static> = At::Path(&ROOT);

    /// The field `name` of the value here.
    pub fn field(&'a self, name: &'a str) -> At<'a> {
        At::Field(self, name)
    }

    /// The element `index` of the array here.
    pub fn index(&'a self, index: usize) -> At<'a> {
        At::Index(self, index)
    }

    /// The JSON pointer of where this stands ([`JsonPath::pointer`]), made without the path.
    pub fn pointer(&self) -> String {
        fn push(at: &At<'_>, out: &mut String) {
            match at {
                At::Path(path) => out.push_str(&path.pointer()),
                At::Field(parent, name) => {
                    push(parent, out);
                    push_pointer_field(out, name);
                }
                At::Index(parent, index) => {
                    use std::fmt::Write as _;
                    push(parent, out);
                    let _ = write!(out, "/{index}");
                }
            }
        }
        let mut out = String::new();
        push(self, &mut out);
        out
    }

    /// The JSON path of where this stands.
    pub fn to_path(&self) -> JsonPath {
        let mut steps = Vec::new();
        let mut here = self;
        let base = loop {
            match here {
                At::Path(path) => break path,
                At::Field(parent, name) => {
                    steps.push(Step::Field((*name).to_owned()));
                    here = parent;
                }
                At::Index(parent, index) => {
                    steps.push(Step::Index(*index));
                    here = parent;
                }
            }
        };
        let mut path = base.0.clone();
        path.extend(steps.into_iter().rev());
        JsonPath(path)
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_path().fmt(f)
    }
}

/// The first segment of a declaration path (a field name, and whether it stands for every
/// element of its array), and the rest of the path; `None` for an empty path.
fn split_segment(path: &str) -> Option<(Segment<'_>, &str)> {
    if path.is_empty() {
        return None;
    }
    let (part, rest) = path.split_once('/').unwrap_or((path, ""));
    let segment = match part.strip_suffix("[]") {
        Some(name) => Segment { name, each: true },
        None => Segment {
            name: part,
            each: false,
        },
    };
    Some((segment, rest))
}

/// Calls `visit` with every value at `path` (nulls included) and where it stands.
pub fn for_each<'v, E>(
    root: &'v Value,
    path: &str,
    when: Option<&When>,
    visit: &mut dyn FnMut(&'v Value, &At<'_>) -> Result<(), E>,
) -> Result<(), E> {
    fn walk<'v, E>(
        value: &'v Value,
        path: &str,
        when: Option<&When>,
        at: &At<'_>,
        visit: &mut dyn FnMut(&'v Value, &At<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((segment, rest)) = split_segment(path) else {
            return visit(value, at);
        };
        let Value::Object(object) = value else {
            return Ok(());
        };
        if rest.is_empty() && !holds(object, when) {
            return Ok(());
        }
        let Some(child) = member(object, segment.name) else {
            return Ok(());
        };
        let at = at.field(segment.name);
        if !segment.each {
            return walk(child, rest, when, &at, visit);
        }
        if let Value::Array(items) = child {
            for (i, item) in items.iter().enumerate() {
                walk(item, rest, when, &at.index(i), visit)?;
            }
        }
        Ok(())
    }
    walk(root, path, when, &At::ROOT, visit)
}

/// Calls `visit` with every value at `path` (nulls included), mutably, and where it stands.
pub fn for_each_mut<E>(
    root: &mut Value,
    path: &str,
    when: Option<&When>,
    visit: &mut dyn FnMut(&mut Value, &At<'_>) -> Result<(), E>,
) -> Result<(), E> {
    fn walk<E>(
        value: &mut Value,
        path: &str,
        when: Option<&When>,
        at: &At<'_>,
        visit: &mut dyn FnMut(&mut Value, &At<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some((segment, rest)) = split_segment(path) else {
            return visit(value, at);
        };
        let Value::Object(object) = value else {
            return Ok(());
        };
        if rest.is_empty() && !holds(object, when) {
            return Ok(());
        }
        let Some(child) = member_mut(object, segment.name) else {
            return Ok(());
        };
        let at = at.field(segment.name);
        if !segment.each {
            return walk(child, rest, when, &at, visit);
        }
        if let Value::Array(items) = child {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, rest, when, &at.index(i), visit)?;
            }
        }
        Ok(())
    }
    walk(root, path, when, &At::ROOT, visit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_member_is_found_in_small_and_large_objects() {
        for size in [0, 1, SMALL_OBJECT, SMALL_OBJECT + 1, 3 * SMALL_OBJECT] {
            let mut object: serde_json::Map<String, Value> = (0..size)
                .map(|i| (format!("m{i}"), Value::from(i)))
                .collect();
            for i in 0..size {
                let name = format!("m{i}");
                assert_eq!(member(&object, &name), Some(&Value::from(i)));
                *member_mut(&mut object, &name).unwrap() = Value::from(i + 1);
                assert_eq!(object[&name], Value::from(i + 1));
            }
            assert_eq!(member(&object, "absent"), None);
            assert_eq!(member_mut(&mut object, "m"), None);
        }
    }

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
    fn a_walk_makes_a_path_from_its_frames_only_when_asked() {
        let base = JsonPath::root().field("variables").index(3);
        let at = At::Path(&base);
        let scope = at.field("scope");
        let element = scope.index(1);
        assert_eq!(element.to_path(), base.clone().field("scope").index(1));
        assert_eq!(element.to_string(), "$.variables[3].scope[1]");
        assert_eq!(At::ROOT.to_path(), JsonPath::root());
        // Its pointer, too, made without the path.
        let escaped = scope.field("a/b~c");
        assert_eq!(escaped.pointer(), "/variables/3/scope/a~1b~0c");
        assert_eq!(escaped.pointer(), escaped.to_path().pointer());
        assert_eq!(At::ROOT.pointer(), "");

        // Mutably, with the same paths; the first error stops the walk.
        let mut doc = json!({"a": [{"b": 1}, {"b": 2}, {"c": 3}, {"b": 4}]});
        let mut seen = Vec::new();
        for_each_mut::<()>(&mut doc, "a[]/b", None, &mut |v, at| {
            *v = json!(v.as_i64().unwrap() * 10);
            seen.push(at.to_path().pointer());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["/a/0/b", "/a/1/b", "/a/3/b"]);
        assert_eq!(
            doc,
            json!({"a": [{"b": 10}, {"b": 20}, {"c": 3}, {"b": 40}]})
        );
        let mut visited = 0;
        let stopped = for_each::<String>(&doc, "a[]/b", None, &mut |_, at| {
            visited += 1;
            Err(at.to_string())
        });
        assert_eq!(stopped, Err("$.a[0].b".to_owned()));
        assert_eq!(visited, 1);
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
