//! Finding the fields Capstan does not model.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Lists the fields of a value that Capstan does not model.
///
/// Every struct in this crate keeps unknown fields in its `extra` map so that they round-trip.
/// This trait walks a value and reports the path of each such field (for example
/// `.spec.source.kustomize.someNewField`). An empty list means Capstan understood every field.
/// The last path segment is the unknown key exactly as written; the segments before it are the
/// camelCase forms of the Rust field names, which match the wire names except for a few renamed
/// fields (for example `repoUrl` for `repoURL`, `reference` for `ref`).
///
/// Arbitrary JSON (`serde_json::Value`, such as Helm `valuesObject` or list-generator elements)
/// is opaque by design and never reported.
pub trait UnknownFields {
    /// Appends the paths of unknown fields below `path` to `out`.
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>);

    /// The paths of all unknown fields, rooted at `""`.
    fn unknown_fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_unknown_fields("", &mut out);
        out
    }
}

macro_rules! opaque {
    ($($ty:ty),* $(,)?) => {
        $(
            impl UnknownFields for $ty {
                fn collect_unknown_fields(&self, _path: &str, _out: &mut Vec<String>) {}
            }
        )*
    };
}

// Scalars, arbitrary JSON, and Kubernetes types whose unknown fields the API server owns.
opaque!(
    String,
    bool,
    i64,
    serde_json::Value,
    Time,
    IntOrString,
    LabelSelector,
    ObjectMeta,
);

impl<T: UnknownFields> UnknownFields for Option<T> {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        if let Some(value) = self {
            value.collect_unknown_fields(path, out);
        }
    }
}

impl<T: UnknownFields> UnknownFields for Vec<T> {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        for (index, value) in self.iter().enumerate() {
            value.collect_unknown_fields(&format!("{path}[{index}]"), out);
        }
    }
}

impl<T: UnknownFields> UnknownFields for BTreeMap<String, T> {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        for (key, value) in self {
            value.collect_unknown_fields(&format!("{path}[{key:?}]"), out);
        }
    }
}

impl<T: UnknownFields> UnknownFields for Box<T> {
    fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
        (**self).collect_unknown_fields(path, out);
    }
}
