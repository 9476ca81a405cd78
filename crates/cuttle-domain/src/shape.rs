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
    let document: T = serde_path_to_error::deserialize(value).map_err(|error| ShapeError {
        path: JsonPath::from(error.path()),
        message: error.inner().to_string(),
    })?;
    document.check()?;
    serde_json::to_value(&document)
        .map_err(|error| ShapeError::new(JsonPath::root(), error.to_string()))
}
