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
    ),
    components(schemas(crate::problem::Problem)),
    modifiers(&Bearer),
    tags(
        (name = "server", description = "Health, this document, who is asking"),
        (name = "documents", description = "The instance's documents, by collection"),
        (name = "audit", description = "Every write and refusal"),
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
        let mut text = Document::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes");
        text.push('\n');
        text
    })
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
