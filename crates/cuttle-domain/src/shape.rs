//! Document shapes: each collection's typed document checks the shape of incoming JSON and gives
//! it its canonical field order and defaults. (Names and set-like arrays are normalised from the
//! declarations, by the write path, not here.)

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::path::JsonPath;

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
}

/// A typed document. `check` adds the rules that a type alone cannot say (a sensitive variable
/// holds a sensitive value, a number is positive, …).
pub trait Document: Serialize + DeserializeOwned {
    fn check(&self) -> Result<(), ShapeError> {
        Ok(())
    }
}

/// Checks `value` against `T` and returns it in `T`'s canonical form.
pub fn canonical<T: Document>(value: Value) -> Result<Value, ShapeError> {
    let document: T = serde_path_to_error::deserialize(&value).map_err(|error| ShapeError {
        path: JsonPath::from(error.path()),
        message: error.inner().to_string(),
    })?;
    let canonical = serde_json::to_value(&document)
        .map_err(|error| ShapeError::new(JsonPath::root(), error.to_string()))?;
    // Serde also reads a typed object from an array of its fields' values, in order: a document
    // names its fields, so an array where the canonical form has an object is refused.
    let mut at = JsonPath::root();
    if array_for_object(&value, &canonical, &mut at) {
        return Err(ShapeError::new(
            at,
            "an object is expected here (with its fields named), not an array",
        ));
    }
    document.check()?;
    Ok(canonical)
}

/// Whether `input` has an array where `output` has an object; `at` is then where.
fn array_for_object(input: &Value, output: &Value, at: &mut JsonPath) -> bool {
    match (input, output) {
        (Value::Array(_), Value::Object(_)) => true,
        (Value::Object(input), Value::Object(output)) => output.iter().any(|(field, out)| {
            input.get(field).is_some_and(|inp| {
                at.push_field(field);
                let found = array_for_object(inp, out, at);
                if !found {
                    at.pop();
                }
                found
            })
        }),
        (Value::Array(input), Value::Array(output)) if input.len() == output.len() => {
            input.iter().zip(output).enumerate().any(|(i, (inp, out))| {
                at.push_index(i);
                let found = array_for_object(inp, out, at);
                if !found {
                    at.pop();
                }
                found
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::documents::{DeploymentProcess, Environment};

    #[test]
    fn an_array_never_stands_for_an_object() {
        let fields = json!({ "name": "Seq env", "description": "d", "sortOrder": 9 });
        assert!(canonical::<Environment>(fields).is_ok());
        let error = canonical::<Environment>(json!(["Seq env", "d", 9, false, true])).unwrap_err();
        assert_eq!(error.path, JsonPath::root());
        assert!(error.message.contains("not an array"), "{error}");
        assert!(canonical::<Environment>(json!(["Seq env"])).is_err());

        // Deeper: a step written as an array of its fields' values.
        let process = json!({ "project": "Web", "steps": [["Deploy"]] });
        let error = canonical::<DeploymentProcess>(process).unwrap_err();
        assert_eq!(error.path.pointer(), "/steps/0", "{error}");
    }
}
