//! Conversions between the generated messages and the values Capstan works with:
//! JSON-encoded Kubernetes objects, Argo CD's string spellings of enums, and
//! `tonic::Status` for conversion failures.

use serde::{Serialize, de::DeserializeOwned};

use crate::common::v1::{KubeObject, WatchEventType};
use crate::repo::v1::{RepoType, SourceType, TrackingMethod};

/// A message could not be converted to or from Capstan's own types.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// A value could not be serialised to JSON (a bug in its `Serialize` impl, or a map
    /// with non-string keys).
    #[error("cannot encode {type_name} as JSON: {source}")]
    Encode {
        /// The Rust type that was being encoded.
        type_name: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A `KubeObject`'s JSON is malformed or does not match the expected type.
    #[error("invalid {type_name} JSON: {source}")]
    Decode {
        /// The Rust type that was expected.
        type_name: &'static str,
        /// The serde error; its message names the offending field and position.
        #[source]
        source: serde_json::Error,
    },
    /// A message field that the receiver requires was not set.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// A string is not one of the known spellings of an enum.
    #[error("unknown {kind} {value:?}")]
    UnknownName {
        /// What the string names, e.g. "source type".
        kind: &'static str,
        /// The string as received.
        value: String,
    },
}

/// Servers answer a request they cannot convert with `INVALID_ARGUMENT`; a value the
/// server itself fails to encode is `INTERNAL`.
impl From<ConversionError> for tonic::Status {
    fn from(err: ConversionError) -> Self {
        match err {
            ConversionError::Encode { .. } => tonic::Status::internal(err.to_string()),
            ConversionError::Decode { .. }
            | ConversionError::MissingField(_)
            | ConversionError::UnknownName { .. } => {
                tonic::Status::invalid_argument(err.to_string())
            }
        }
    }
}

/// Unwraps a message field that the receiver requires (prost makes every message-typed
/// field an `Option`).
///
/// # Errors
///
/// [`ConversionError::MissingField`] naming `field` when `value` is `None`.
pub fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ConversionError> {
    value.ok_or(ConversionError::MissingField(field))
}

impl KubeObject {
    /// Encodes a Kubernetes object (or a fragment of one, such as an `ApplicationSpec`)
    /// as JSON.
    ///
    /// # Errors
    ///
    /// [`ConversionError::Encode`] when serde cannot serialise the value.
    pub fn from_object<T: Serialize + ?Sized>(object: &T) -> Result<Self, ConversionError> {
        serde_json::to_string(object)
            .map(|json| Self { json })
            .map_err(|source| ConversionError::Encode {
                type_name: std::any::type_name::<T>(),
                source,
            })
    }

    /// Decodes the JSON into `T`, typically a `capstan-types` CRD type or
    /// `serde_json::Value`.
    ///
    /// # Errors
    ///
    /// [`ConversionError::Decode`] when the JSON is malformed or does not match `T`.
    pub fn to_object<T: DeserializeOwned>(&self) -> Result<T, ConversionError> {
        serde_json::from_str(&self.json).map_err(|source| ConversionError::Decode {
            type_name: std::any::type_name::<T>(),
            source,
        })
    }
}

/// Implements the mapping between a generated enum and the strings Argo CD (or
/// Kubernetes) uses for it in JSON and ConfigMaps. `Unspecified` maps to "".
macro_rules! argo_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            #[doc = concat!("The ", $kind, " as Argo CD spells it; \"\" for `Unspecified`.")]
            #[must_use]
            pub fn argo_name(self) -> &'static str {
                match self {
                    Self::Unspecified => "",
                    $(Self::$variant => $name,)+
                }
            }

            #[doc = concat!("Parses the ", $kind, " as Argo CD spells it; \"\" is `Unspecified`.")]
            ///
            /// # Errors
            ///
            /// [`ConversionError::UnknownName`] for any other string.
            pub fn from_argo_name(name: &str) -> Result<Self, ConversionError> {
                match name {
                    "" => Ok(Self::Unspecified),
                    $($name => Ok(Self::$variant),)+
                    _ => Err(ConversionError::UnknownName {
                        kind: $kind,
                        value: name.to_owned(),
                    }),
                }
            }
        }
    };
}

argo_names!(SourceType, "source type", {
    Directory => "Directory",
    Kustomize => "Kustomize",
    Helm => "Helm",
    Plugin => "Plugin",
});

argo_names!(TrackingMethod, "tracking method", {
    Annotation => "annotation",
    Label => "label",
    AnnotationAndLabel => "annotation+label",
});

argo_names!(RepoType, "repository type", {
    Git => "git",
    Helm => "helm",
});

argo_names!(WatchEventType, "watch event type", {
    Added => "ADDED",
    Modified => "MODIFIED",
    Deleted => "DELETED",
    Bookmark => "BOOKMARK",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_object_round_trips_json() {
        let app = serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {"project": "default"},
        });
        let object = KubeObject::from_object(&app).expect("encode");
        let back: serde_json::Value = object.to_object().expect("decode");
        assert_eq!(back, app);
    }

    #[test]
    fn kube_object_decode_error_is_invalid_argument() {
        let object = KubeObject {
            json: "{not json".to_owned(),
        };
        let err = object
            .to_object::<serde_json::Value>()
            .expect_err("malformed JSON");
        assert!(matches!(err, ConversionError::Decode { .. }));
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains("invalid serde_json::value::Value JSON")
        );
    }

    #[test]
    fn required_names_the_missing_field() {
        let err = required(None::<KubeObject>, "application").expect_err("missing");
        assert_eq!(err.to_string(), "missing required field `application`");
        assert_eq!(required(Some(1), "x").expect("present"), 1);
    }

    #[test]
    fn argo_names_round_trip() {
        let source_types = [
            (SourceType::Unspecified, ""),
            (SourceType::Directory, "Directory"),
            (SourceType::Kustomize, "Kustomize"),
            (SourceType::Helm, "Helm"),
            (SourceType::Plugin, "Plugin"),
        ];
        for (value, name) in source_types {
            assert_eq!(value.argo_name(), name);
            assert_eq!(SourceType::from_argo_name(name).expect(name), value);
        }
        let tracking = [
            (TrackingMethod::Annotation, "annotation"),
            (TrackingMethod::Label, "label"),
            (TrackingMethod::AnnotationAndLabel, "annotation+label"),
        ];
        for (value, name) in tracking {
            assert_eq!(value.argo_name(), name);
            assert_eq!(TrackingMethod::from_argo_name(name).expect(name), value);
        }
        assert_eq!(
            RepoType::from_argo_name("helm").expect("helm"),
            RepoType::Helm
        );
        assert_eq!(WatchEventType::Deleted.argo_name(), "DELETED");
    }

    #[test]
    fn unknown_argo_name_is_rejected() {
        let err = SourceType::from_argo_name("Ksonnet").expect_err("unsupported");
        assert_eq!(err.to_string(), "unknown source type \"Ksonnet\"");
    }
}
