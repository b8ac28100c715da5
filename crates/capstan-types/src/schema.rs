//! Schema fragments for fields whose Rust type does not describe their CRD schema.
//!
//! Used with `#[schemars(schema_with = "...")]`. Every fragment is a valid structural schema for
//! a Kubernetes v1 CRD (API server v1.20 and later).

use schemars::{Schema, SchemaGenerator, json_schema};

/// A JSON object of any shape, kept verbatim by the API server.
pub(crate) fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A list of JSON values of any shape, kept verbatim by the API server.
pub(crate) fn any_value_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "x-kubernetes-preserve-unknown-fields": true },
    })
}
