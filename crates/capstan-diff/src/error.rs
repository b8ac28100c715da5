//! The crate's error type.

/// Why ignore rules could not be compiled or two objects could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A `jsonPointers` entry is not an RFC 6901 pointer to a field (it must start with `/`).
    #[error("ignore rule {rule}: invalid JSON pointer {pointer:?}: {reason}")]
    InvalidJsonPointer {
        /// Which rule, for example `spec.ignoreDifferences[0]`.
        rule: String,
        /// The pointer as written.
        pointer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `jqPathExpressions` entry does not parse or compile as a jq path expression.
    #[error("ignore rule {rule}: invalid jq path expression {expression:?}: {message}")]
    InvalidJq {
        /// Which rule.
        rule: String,
        /// The expression as written.
        expression: String,
        /// The jq parser's or compiler's complaint.
        message: String,
    },
    /// A rule's group or kind is not a valid glob.
    #[error("ignore rule {rule}: invalid glob {pattern:?}")]
    InvalidGlob {
        /// Which rule.
        rule: String,
        /// The pattern as written.
        pattern: String,
        /// The glob parser's complaint.
        #[source]
        source: globset::Error,
    },
    /// Neither a desired nor a live object was given.
    #[error("nothing to compare: both the desired and the live object are absent")]
    NothingToCompare,
    /// The desired or live value is not a JSON object.
    #[error("the {side} object is not a JSON object")]
    NotAnObject {
        /// `desired` or `live`.
        side: &'static str,
    },
    /// A normalised object could not be rendered as YAML for the unified diff.
    #[error("rendering the {side} object as YAML")]
    Render {
        /// `desired` or `live`.
        side: &'static str,
        /// The YAML serialiser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
}
