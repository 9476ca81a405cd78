//! The OpenAPI document, generated from the routes' annotations (utoipa), served at
//! `/api/v1/openapi.json`, and committed at `docs/openapi.json`: a test fails when the two
//! drift apart (`CUTTLE_UPDATE_OPENAPI=1 cargo test -p cuttle-server openapi` rewrites it).

use std::sync::OnceLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cuttle",
        description = "One Cuttle instance over HTTP: its documents in the export shape (sensitive values masked on the way out, `{\"secret\": …}` accepted on the way in), authenticated by API key (`Authorization: Bearer <key>`), authorised by the instance's own teams and user roles. Errors are RFC 9457 problem details.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::routes::health,
        crate::routes::openapi,
        crate::routes::whoami,
        crate::routes::collections,
        crate::routes::list,
        crate::routes::read,
        crate::routes::write,
        crate::routes::delete,
        crate::routes::audit,
        crate::migrations::upload,
        crate::migrations::start,
        crate::migrations::list,
        crate::migrations::show,
        crate::migrations::cancel,
        crate::migrations::archive,
        crate::migrations::backup,
        crate::migrations::plan,
        crate::migrations::events,
        crate::migrations::script,
    ),
    components(schemas(crate::problem::Problem, crate::routes::IfNoneMatch)),
    modifiers(&Bearer),
    tags(
        (name = "server", description = "Health, this document, who is asking"),
        (name = "documents", description = "The instance's documents, by collection"),
        (name = "audit", description = "Every write and refusal"),
        (name = "migrations", description = "Export, import (previewed, then applied exactly), backup: as tasks"),
    )
)]
struct Document;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document, as served (pretty JSON, a trailing newline).
pub fn document() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut value =
            serde_json::to_value(Document::openapi()).expect("the OpenAPI document serializes");
        complete(&mut value);
        let mut text = serde_json::to_string_pretty(&value).expect("JSON serializes");
        text.push('\n');
        text
    })
}

/// What every operation has in common, said once instead of on each route: every error is a
/// problem (`application/problem+json`), an operation that needs a key may answer 401 and 429,
/// any may answer 400 (a credential in the URL) and, but an upload, 408 (the request timeout),
/// and a `{collection}` is one of the declared collections.
fn complete(document: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let names: Vec<&str> = cuttle_domain::COLLECTIONS.iter().map(|d| d.name).collect();
    // A task's request is its kind's fields and the kind itself (serde's tag, which the
    // variants' schemas, closed to unknown fields, would otherwise refuse).
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (variant, kind) in [
            ("ExportTask", "export"),
            ("PartialExportTask", "partial-export"),
            ("ImportTask", "import"),
            ("BackupTask", "backup"),
        ] {
            if let Some(schema) = schemas.get_mut(variant) {
                schema["properties"]["kind"] = json!({"type": "string", "enum": [kind]});
            }
        }
    }
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let secured = operation.get("security").is_some();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let mut common = vec![(
                "400",
                "Bad request: a usage error, or a credential in the URL",
            )];
            if secured {
                common.push(("401", "No valid API key"));
                common.push(("429", "Too many failed authentications from this address"));
            }
            if path.contains("{collection}") {
                common.push(("404", "No such collection or document"));
            }
            // Every route but an upload's answers within the request timeout.
            if !path.ends_with("/uploads") {
                common.push((
                    "408",
                    "The request took longer than the request timeout (`--request-timeout`); the connection is closed after this answer",
                ));
            }
            for (status, description) in common {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({"description": description}));
            }
            for (status, response) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    response["content"] = problem.clone();
                }
            }
            if let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            {
                for parameter in parameters {
                    if parameter["name"] == "collection" && parameter["in"] == "path" {
                        parameter["schema"] = json!({"type": "string", "enum": names});
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_openapi_document_is_the_served_one() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        if std::env::var("CUTTLE_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
            std::fs::write(&committed, super::document()).unwrap();
        }
        let text = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            text == super::document(),
            "docs/openapi.json differs from what the server serves: run `CUTTLE_UPDATE_OPENAPI=1 cargo test -p cuttle-server openapi` and commit it"
        );
    }
}
