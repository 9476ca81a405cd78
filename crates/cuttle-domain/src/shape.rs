//! Document shapes: each collection's typed document checks the shape of incoming JSON and gives
//! it its canonical field order and defaults. (Names and set-like arrays are normalised from the
//! declarations, by the write path, not here.)

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use crate::json::{self, JsonError};
use crate::path::JsonPath;

mod exact;

/// A document that does not have the shape its collection declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ShapeError {
    pub path: JsonPath,
    pub message: String,
}

impl ShapeError {
    pub fn new(path: JsonPath, message: impl Into<String>) -> Self {
        ShapeError {
            path,
            message: message.into(),
        }
    }

    /// The same error, found in a part of a document that stands at `at`.
    pub fn under(self, at: JsonPath) -> Self {
        ShapeError {
            path: at.join(&self.path),
            ..self
        }
    }
}

/// Why a document's text was refused: it is not JSON that Cuttle reads (an object holds each
/// member once, [`crate::json`]), or it is not the shape its collection declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// The shape of a declaration that names none: every document is refused.
pub fn undeclared(_: &str) -> Result<Value, Refused> {
    Err(ShapeError::new(JsonPath::root(), "this collection declares no shape").into())
}

/// A typed document. `check` adds the rules that a type alone cannot say (a sensitive variable
/// holds a sensitive value, a number is positive, …).
pub trait Document: Serialize + DeserializeOwned {
    fn check(&self) -> Result<(), ShapeError> {
        Ok(())
    }
}

/// Parses the document `text` into `T`, checks it and returns it in `T`'s canonical form,
/// without building a value of the input (a large document costs its typed form and its
/// canonical form, not a third tree). Text that is not JSON as [`json::parse`] reads it (an
/// object holding a member twice, …) is refused as such, before its shape.
///
/// A document is read once (module `exact`); a part that reading could not see into is looked
/// at again alongside what it became, and a refused document is read as serde reads it, to say
/// what is wrong and where.
pub fn canonical<T: Document>(text: &str) -> Result<Value, Refused> {
    match exact::read::<T>(text) {
        Some((document, unsure)) => finish(text, &document, unsure),
        None => canonical_in_two::<T>(text),
    }
}

/// [`canonical`], reading the text twice: into `T` as serde does, and [`along`] the result, for
/// what serde lets through (an object written twice, an array of an object's fields' values).
fn canonical_in_two<T: Document>(text: &str) -> Result<Value, Refused> {
    let mut de = serde_json::Deserializer::from_str(text);
    let document = match T::deserialize(&mut de) {
        Ok(document) => document,
        Err(error) => return Err(refused_as::<T>(text, error)),
    };
    if let Err(error) = de.end() {
        along(text, None)?;
        return Err(JsonError::new(text, &error).into());
    }
    finish(text, &document, true)
}

/// The canonical form of `document`, read from `text`, once checked; with `read_again`, once
/// `text` is known to have an object wherever the canonical form has one.
fn finish<T: Document>(text: &str, document: &T, read_again: bool) -> Result<Value, Refused> {
    let canonical = serde_json::to_value(document)
        .map_err(|error| ShapeError::new(JsonPath::root(), error.to_string()))?;
    // Serde also reads a typed object from an array of its fields' values, in order: a document
    // names its fields, so an array where the canonical form has an object is refused.
    if read_again && let Some(at) = along(text, Some(&canonical))? {
        return Err(ShapeError::new(at, ARRAY_FOR_OBJECT).into());
    }
    document.check()?;
    Ok(canonical)
}

/// Why `text` is not a `T`, which reading it refused with `error`: a text that is not JSON as
/// [`json::parse`] reads it is refused as such; otherwise it is read again, tracking where it
/// stands, so that only a refused document pays for the path of its problem.
fn refused_as<T: Document>(text: &str, error: serde_json::Error) -> Refused {
    if let Err(e) = along(text, None) {
        return e.into();
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let (path, error) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(tracked) => (JsonPath::from(tracked.path()), tracked.into_inner()),
        // The same reader gives the same answer; were it not so, the first error stands.
        Ok(_) => (JsonPath::root(), error),
    };
    ShapeError {
        path,
        message: JsonError::new(text, &error).message,
    }
    .into()
}

const ARRAY_FOR_OBJECT: &str = "an object is expected here (with its fields named), not an array";

/// Reads `text` strictly (each member of an object once) without building it, alongside
/// `output`, the canonical form made from it: the first place (in the text's order) where the
/// text has an array and `output` an object.
fn along(text: &str, output: Option<&Value>) -> Result<Option<JsonPath>, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut at = Vec::new();
    let mut found = None;
    Along {
        output,
        at: &mut at,
        found: &mut found,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| JsonError::new(text, &e))?;
    Ok(found)
}

/// A step of the path [`Along`] stands at, in the output's own names.
enum Step<'v> {
    Field(&'v str),
    Index(usize),
}

struct Along<'v, 'w> {
    /// The output's value where the text stands, while the output has one there.
    output: Option<&'v Value>,
    at: &'w mut Vec<Step<'v>>,
    found: &'w mut Option<JsonPath>,
}

impl<'de> DeserializeSeed<'de> for Along<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Along<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let items = match self.output {
            Some(Value::Object(_)) => {
                if self.found.is_none() {
                    *self.found = Some(path_of(self.at));
                }
                None
            }
            Some(Value::Array(items)) => Some(items),
            _ => None,
        };
        // Elements are compared only when the two arrays are as long.
        let mut inside = None;
        let mut len = 0;
        loop {
            let output = items.and_then(|items| items.get(len));
            if output.is_some() {
                self.at.push(Step::Index(len));
            }
            let element = seq.next_element_seed(Along {
                output,
                at: self.at,
                found: &mut inside,
            })?;
            if output.is_some() {
                self.at.pop();
            }
            if element.is_none() {
                break;
            }
            len += 1;
        }
        if items.is_some_and(|items| items.len() == len) && self.found.is_none() {
            *self.found = inside;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let object = self.output.and_then(Value::as_object);
        let mut members = Members::default();
        while let Some(name) = map.next_key_seed(Name)? {
            // A borrowed name is copied as a pointer; one with escapes, rare, as a string.
            if !members.add(name.clone()) {
                return Err(json::repeated(&name));
            }
            let output = object.and_then(|object| object.get_key_value(&*name));
            if let Some((field, _)) = output {
                self.at.push(Step::Field(field));
            }
            map.next_value_seed(Along {
                output: output.map(|(_, value)| value),
                at: self.at,
                found: self.found,
            })?;
            if output.is_some() {
                self.at.pop();
            }
        }
        Ok(())
    }
}

fn path_of(steps: &[Step<'_>]) -> JsonPath {
    steps
        .iter()
        .fold(JsonPath::root(), |path, step| match step {
            Step::Field(name) => path.field(name),
            Step::Index(i) => path.index(*i),
        })
}

/// A member's name, borrowed from the text unless it holds escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// The names of an object's members met so far: a short list while the object is small.
#[derive(Default)]
struct Members<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Members<'de> {
    const FEW: usize = 16;

    /// Adds `name`; `false` when the object already has it.
    fn add(&mut self, name: Cow<'de, str>) -> bool {
        if self.many.is_empty() {
            if self.few.contains(&name) {
                return false;
            }
            if self.few.len() < Self::FEW {
                self.few.push(name);
                return true;
            }
            self.many.extend(self.few.drain(..));
        }
        self.many.insert(name)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::documents::{
        Account, DeploymentProcess, Environment, Machine, ProjectVariables, Trigger,
    };

    /// `canonical` of `text`; where `json::parse` refuses the text, the same refusal.
    fn shape<T: Document>(text: &str) -> Result<Value, Refused> {
        let shaped = canonical::<T>(text);
        if let Err(e) = json::parse(text) {
            assert_eq!(shaped, Err(Refused::Json(e)), "{text}");
        }
        shaped
    }

    fn shape_error<T: Document>(text: &str) -> ShapeError {
        match shape::<T>(text) {
            Err(Refused::Shape(error)) => error,
            other => panic!("{text}: a shape error expected, not {other:?}"),
        }
    }

    #[test]
    fn an_array_never_stands_for_an_object() {
        let fields = json!({ "name": "Seq env", "description": "d", "sortOrder": 9 });
        assert!(shape::<Environment>(&fields.to_string()).is_ok());
        let error = shape_error::<Environment>(r#"["Seq env", "d", 9, false, true]"#);
        assert_eq!(error.path, JsonPath::root());
        assert!(error.message.contains("not an array"), "{error}");
        assert!(shape::<Environment>(r#"["Seq env"]"#).is_err());

        // Deeper: a step written as an array of its fields' values.
        let error =
            shape_error::<DeploymentProcess>(r#"{"project": "Web", "steps": [["Deploy"]]}"#);
        assert_eq!(error.path.pointer(), "/steps/0", "{error}");
    }

    #[test]
    fn one_reading_vouches_for_a_document_it_sees_whole() {
        let process = r#"{"project": "Web", "steps": [{"name": "S", "actions": [{"name": "A",
            "actionType": "Script", "properties": {"k": "1", "secret": {"encrypted": "x"}}}]}]}"#;
        let (_, unsure) = exact::read::<DeploymentProcess>(process).unwrap();
        assert!(
            !unsure,
            "a typed document with maps and sensitive values is read once"
        );
        let (_, unsure) = exact::read::<Environment>(r#"{"name": "E", "sortOrder": 1}"#).unwrap();
        assert!(!unsure);

        // Refused by the one reading, and so read again to say why: an object from an array, a
        // map's member twice (which serde alone would take, the last one winning).
        assert!(exact::read::<Environment>(r#"["E", "d", 1, false, true]"#).is_none());
        let twice = process.replace(r#""secret": {"encrypted": "x"}"#, r#""k": "2""#);
        assert!(serde_json::from_str::<DeploymentProcess>(&twice).is_ok());
        assert!(exact::read::<DeploymentProcess>(&twice).is_none());
    }

    #[test]
    fn what_serde_buffers_out_of_sight_is_read_again() {
        // A tagged enum is buffered and read from the buffer, where serde takes an array for
        // an object again: the one reading cannot see it, says so, and the text is read again.
        let machine = r#"{"name": "M", "environments": ["Test"],
            "endpoint": ["Ssh", "host", 22, "fp", "acct"]}"#;
        let (_, unsure) = exact::read::<Machine>(machine).unwrap();
        assert!(
            unsure,
            "serde read the endpoint from an array, out of the reading's sight"
        );
        let error = shape_error::<Machine>(machine);
        assert_eq!(error.path.pointer(), "/endpoint", "{error}");
        assert!(error.message.contains("not an array"), "{error}");

        // The same enum written as an object, with an array inside: unsure, and right.
        let trigger = r#"{"project": "Web", "name": "T",
            "filter": {"kind": "MachineCreated", "roles": ["web"]},
            "action": {"kind": "AutoDeploy", "shouldRedeploy": true}}"#;
        assert!(exact::read::<Trigger>(trigger).unwrap().1);
        let shaped = shape::<Trigger>(trigger).unwrap();
        assert_eq!(shaped["filter"]["roles"], json!(["web"]));
        // An empty array is an array; without any in the buffered parts, the reading is sure.
        let trigger = trigger.replace(r#""roles": ["web"]"#, r#""environments": []"#);
        assert!(
            exact::read::<Trigger>(&trigger).unwrap().1,
            "an empty array is an array"
        );
        let trigger = r#"{"project": "Web", "name": "T",
            "filter": {"kind": "Schedule", "cron": "* * * * *", "timezone": "UTC"},
            "action": {"kind": "AutoDeploy", "shouldRedeploy": true}}"#;
        assert!(!exact::read::<Trigger>(trigger).unwrap().1);
    }

    /// How [`mutated`] changes one node of a document.
    #[derive(Clone, Copy, Debug)]
    enum Mutation {
        /// An object written as an array of its members' values.
        ObjectAsArray,
        /// An object's first member written again, last.
        FirstMemberTwice,
        /// An object without its first member.
        FirstMemberDropped,
        /// An object with a member no shape has.
        MemberAdded,
        /// An array written as an object.
        ArrayAsObject,
        /// A value in an array of its own.
        InArray,
        StringAsNumber,
        Null,
    }

    /// The JSON text of `value` with node number `target` (in document order) changed by `how`;
    /// `None` when `how` does not apply there.
    fn mutated(value: &Value, target: usize, how: Mutation) -> Option<String> {
        fn text(
            value: &Value,
            at: &mut usize,
            target: usize,
            how: Mutation,
            hit: &mut bool,
        ) -> String {
            let here = *at;
            *at += 1;
            let members =
                |object: &serde_json::Map<String, Value>, at: &mut usize, hit: &mut bool| {
                    object
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "{}:{}",
                                Value::from(k.as_str()),
                                text(v, at, target, how, hit)
                            )
                        })
                        .collect::<Vec<_>>()
                };
            if here == target {
                *hit = true;
                match (how, value) {
                    (Mutation::ObjectAsArray, Value::Object(o)) => {
                        let items: Vec<String> = o.values().map(|v| v.to_string()).collect();
                        return format!("[{}]", items.join(","));
                    }
                    (Mutation::FirstMemberTwice, Value::Object(o)) if !o.is_empty() => {
                        let mut parts = members(o, at, hit);
                        parts.push(parts[0].clone());
                        return format!("{{{}}}", parts.join(","));
                    }
                    (Mutation::FirstMemberDropped, Value::Object(o)) if !o.is_empty() => {
                        let parts = members(o, at, hit);
                        return format!("{{{}}}", parts[1..].join(","));
                    }
                    (Mutation::MemberAdded, Value::Object(o)) => {
                        let mut parts = members(o, at, hit);
                        parts.push(r#""zzAdded":1"#.into());
                        return format!("{{{}}}", parts.join(","));
                    }
                    (Mutation::ArrayAsObject, Value::Array(items)) => {
                        let parts: Vec<String> = items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| format!(r#""{i}":{v}"#))
                            .collect();
                        return format!("{{{}}}", parts.join(","));
                    }
                    (Mutation::InArray, v) => return format!("[{v}]"),
                    (Mutation::StringAsNumber, Value::String(_)) => return "7".into(),
                    (Mutation::Null, _) => return "null".into(),
                    _ => *hit = false,
                }
            }
            match value {
                Value::Object(o) => format!("{{{}}}", members(o, at, hit).join(",")),
                Value::Array(items) => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|v| text(v, at, target, how, hit))
                        .collect();
                    format!("[{}]", parts.join(","))
                }
                v => v.to_string(),
            }
        }
        let mut hit = false;
        let out = text(value, &mut 0, target, how, &mut hit);
        hit.then_some(out)
    }

    /// Every mutation of every node of `document`: read in one pass or in two, the same result.
    fn one_reading_agrees_with_two<T: Document>(document: &str) -> usize {
        let value: Value = serde_json::from_str(document).unwrap();
        if let Err(e) = canonical::<T>(document) {
            panic!("{e}: {document}");
        }
        let mut compared = 0;
        for how in [
            Mutation::ObjectAsArray,
            Mutation::FirstMemberTwice,
            Mutation::FirstMemberDropped,
            Mutation::MemberAdded,
            Mutation::ArrayAsObject,
            Mutation::InArray,
            Mutation::StringAsNumber,
            Mutation::Null,
        ] {
            // Every node can be null: past the last one, there is no such mutation.
            let nodes = (0..).take_while(|&n| mutated(&value, n, Mutation::Null).is_some());
            for target in nodes {
                let Some(text) = mutated(&value, target, how) else {
                    continue;
                };
                assert_eq!(
                    canonical::<T>(&text),
                    canonical_in_two::<T>(&text),
                    "{how:?}: {text}"
                );
                compared += 1;
            }
        }
        compared
    }

    #[test]
    fn one_reading_agrees_with_two_on_every_mutation_of_every_node() {
        let variables = r#"{"project": "CON", "variables": [{"name": "Db.Server", "value": "sql",
            "type": "String", "description": "", "prompt": null, "scope": {"environments": [],
            "machines": [], "roles": [], "channels": [], "steps": [], "tenantTags": []}},
            {"name": "Db.Password", "value": {"encrypted": "abc"}, "type": "Sensitive",
            "description": "", "prompt": null, "scope": {"environments": ["Development"],
            "machines": [], "roles": [], "channels": [], "steps": [], "tenantTags": []}}]}"#;
        let process = r#"{"project": "CON", "steps": [{"name": "Deploy", "condition": "Success",
            "conditionExpression": null, "startTrigger": "StartAfterPrevious",
            "packageRequirement": "LetCuttleDecide", "targetRoles": ["app-server"],
            "properties": {}, "actions": [{"name": "Deploy", "actionType": "Cuttle.Script",
            "isDisabled": false, "isRequired": false, "stepTemplate": null, "environments": [],
            "excludedEnvironments": [], "channels": [], "tenantTags": ["Hosting/Dedicated"],
            "packages": [{"name": "", "packageId": "etl", "feed": "Maven",
            "acquisitionLocation": "Server"}], "properties": {"A.Account": "SQL admin",
            "A.Secret": {"encrypted": "xyz"}}, "script": {"syntax": "PowerShell",
            "body": "Write-Host hi"}}]}]}"#;
        let machine = r#"{"name": "db-01", "description": "d", "environments": ["DR"],
            "roles": ["db-server"], "tenants": [], "tenantTags": [],
            "tenantedDeploymentParticipation": "Untenanted", "isDisabled": false,
            "endpoint": {"kind": "Ssh", "host": "db-01", "port": 22, "fingerprint": "SHA256:27",
            "account": "Deploy SSH key"}}"#;
        let account = r#"{"name": "AWS", "description": "Sandbox", "environments": ["Test"],
            "tenants": [], "tenantTags": [], "tenantedDeploymentParticipation": "Untenanted",
            "credentials": {"kind": "AmazonWebServices", "accessKey": "AKIA",
            "secretKey": {"encrypted": "rTnJ"}}}"#;
        let trigger = r#"{"project": "Web", "name": "T", "description": "", "isDisabled": false,
            "filter": {"kind": "MachineCreated", "environments": ["Test"], "roles": ["web"]},
            "action": {"kind": "DeployLatestRelease", "sourceEnvironments": ["Test"],
            "destinationEnvironment": "Production", "channel": null}}"#;
        let compared = one_reading_agrees_with_two::<ProjectVariables>(variables)
            + one_reading_agrees_with_two::<DeploymentProcess>(process)
            + one_reading_agrees_with_two::<Machine>(machine)
            + one_reading_agrees_with_two::<Account>(account)
            + one_reading_agrees_with_two::<Trigger>(trigger);
        assert!(compared > 350, "{compared} texts compared");
    }

    #[test]
    fn a_document_is_read_strictly_and_its_shape_said_where_it_is_wrong() {
        let env = shape::<Environment>(r#"{"sortOrder": 9, "name": "Test"}"#).unwrap();
        assert_eq!(env["name"], "Test");
        assert_eq!(env.as_object().unwrap().keys().next().unwrap(), "name");

        // Not JSON, or not as Cuttle reads it: said before the shape.
        for text in [
            r#"{"name": "A", "name": "B"}"#,
            r#"{"name": "A", "nope": 1, "nope": 2}"#,
            r#"{"name": "A", "description": 1, "name": "B"}"#,
            r#"{"name": "A"} x"#,
            r#"{"name": "A""#,
            r#"{"name": "\ud800"}"#,
        ] {
            let refused = shape::<Environment>(text).unwrap_err();
            assert!(matches!(refused, Refused::Json(_)), "{text}: {refused}");
        }
        // A member repeated deep inside a free-form value, and in a large object.
        let process = r#"{"project": "Web", "steps": [{"name": "S", "actions": [{"name": "A",
            "actionType": "Script", "properties": {"k": "1", "k": "2"}}]}]}"#;
        let refused = shape::<DeploymentProcess>(process).unwrap_err();
        assert!(
            refused.to_string().contains(r#""k" appears twice"#),
            "{refused}"
        );
        let many: Vec<String> = (0..40).map(|i| format!(r#""p{i}": "v""#)).collect();
        let process = process.replace(r#""k": "1", "k": "2""#, &many.join(", "));
        shape::<DeploymentProcess>(&process).unwrap();
        let repeated = process.replace(r#""p39""#, r#""p3""#);
        let refused = shape::<DeploymentProcess>(&repeated).unwrap_err();
        assert!(
            refused.to_string().contains(r#""p3" appears twice"#),
            "{refused}"
        );

        // Shapes: the message without serde's position, the path where it is wrong.
        let error = shape_error::<Environment>(r#"{"name": "A", "sortOrder": "x"}"#);
        assert_eq!(error.path.pointer(), "/sortOrder");
        assert!(!error.message.contains("line"), "{error}");
        // Deep inside arrays: the path is found by reading the document again, as only a
        // refused document is.
        let error = shape_error::<DeploymentProcess>(
            r#"{"project": "Web", "steps": [{"name": "S", "actions": [{"name": "A",
            "actionType": "Script"}, {"name": 7, "actionType": "Script"}]}]}"#,
        );
        assert_eq!(error.path.pointer(), "/steps/0/actions/1/name", "{error}");
        assert!(!error.message.contains("line"), "{error}");
    }
}
