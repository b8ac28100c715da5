//! Declarative macros that give every Argo CD object struct the same shape.
//!
//! `argo_struct!` is the only way object structs are declared in this crate. It guarantees the
//! crate-wide invariants in one place instead of by convention:
//!
//! * `Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema` are derived;
//! * field names are camelCase on the wire and every field is optional when deserialising;
//! * a trailing `#[serde(flatten)] extra` map catches every field Capstan does not model, so
//!   unknown fields round-trip instead of being dropped;
//! * [`UnknownFields`](crate::UnknownFields) is implemented by walking every field, so tests and
//!   controllers can list exactly what was not modelled.
//!
//! `string_enum!` declares a string enum with Argo CD's exact values and an `Other(String)`
//! variant, so values added by a newer Argo CD deserialise (and re-serialise) unchanged.

/// Declares an Argo CD object struct; see the module documentation for what it adds.
macro_rules! argo_struct {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$smeta])*
        #[derive(
            Clone,
            Debug,
            Default,
            PartialEq,
            ::serde::Serialize,
            ::serde::Deserialize,
            ::schemars::JsonSchema,
        )]
        #[serde(rename_all = "camelCase", default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
            /// Fields Capstan does not model, kept verbatim so that a round trip loses nothing.
            #[serde(flatten)]
            pub extra: ::std::collections::BTreeMap<String, ::serde_json::Value>,
        }

        impl $crate::UnknownFields for $name {
            fn collect_unknown_fields(&self, path: &str, out: &mut Vec<String>) {
                for key in self.extra.keys() {
                    out.push(format!("{path}.{key}"));
                }
                $(
                    $crate::UnknownFields::collect_unknown_fields(
                        &self.$field,
                        &$crate::macros::field_path(path, stringify!($field)),
                        out,
                    );
                )*
            }
        }
    };
}

/// Declares a string enum with known values and a catch-all `Other(String)` variant.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        ///
        /// Unknown values deserialise into `Other` and serialise back unchanged, so a value added
        /// by a newer Argo CD is never rejected or lost. Build values with `From<&str>` so that a
        /// known string always maps to its named variant.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A value this version of Capstan does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value this version of Capstan knows, in Argo CD's spelling.
            pub const KNOWN: &'static [&'static str] = &[$($value),*];

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Other(value) => value,
                }
            }

            /// Whether this is one of the [`KNOWN`](Self::KNOWN) values.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($value => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::from(value.as_str())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(value))
            }
        }

        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                // No `enum` constraint: the API server must accept values a newer Argo CD adds.
                ::schemars::json_schema!({ "type": "string" })
            }
        }

        impl $crate::UnknownFields for $name {
            fn collect_unknown_fields(&self, _path: &str, _out: &mut Vec<String>) {}
        }
    };
}

/// Joins a parent path and a Rust field name into a camelCase path segment, e.g. `.spec.syncPolicy`.
pub(crate) fn field_path(parent: &str, rust_field: &str) -> String {
    let mut path = String::with_capacity(parent.len() + rust_field.len() + 1);
    path.push_str(parent);
    path.push('.');
    let mut upper = false;
    for c in rust_field.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            path.extend(c.to_uppercase());
            upper = false;
        } else {
            path.push(c);
        }
    }
    path
}
