//! [`RenderError`]: every way rendering can fail, one variant per cause so that callers (the
//! repo-server's gRPC boundary, metrics) can tell a user mistake from a security rejection from a
//! tool failure.

use std::time::Duration;

/// Why manifests could not be rendered.
///
/// Paths in variants are repository-relative (as the user wrote them or as found in the
/// repository), never absolute paths of the checkout, so messages can go back to users as-is.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The source `path` is absolute; Argo CD requires a path relative to the repository root.
    #[error("path {path:?} is absolute: it must be relative to the repository root")]
    AbsolutePath {
        /// The path as given.
        path: String,
    },

    /// The path leaves the repository through `..`.
    #[error("path {path:?} escapes the repository root")]
    PathEscape {
        /// The path as given.
        path: String,
    },

    /// A symlink (or a path through one) points outside the repository, or is absolute.
    #[error("{path:?} is a symlink that points outside the repository")]
    SymlinkEscape {
        /// The offending path, relative to the repository root.
        path: String,
    },

    /// The path does not exist in the repository.
    #[error("path {path:?} does not exist in the repository")]
    PathNotFound {
        /// The path as given.
        path: String,
    },

    /// The source path exists but is not a directory.
    #[error("path {path:?} is not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },

    /// A Helm value file (or `--set-file` file) resolves outside the repository, through `..` or
    /// a symlink.
    #[error("value file {file:?} resolves outside the repository")]
    ValueFileOutsideRepo {
        /// The value file as written in the Application.
        file: String,
    },

    /// A Helm value file does not exist and `ignoreMissingValueFiles` is not set.
    #[error("value file {file:?} does not exist")]
    ValueFileNotFound {
        /// The value file as written in the Application.
        file: String,
    },

    /// A Helm value file is a URL. Argo CD fetches `http(s)` value files (schemes allowed by
    /// `helm.valuesFileSchemes`); Capstan's renderer never touches the network and rejects them.
    #[error(
        "value file {file:?} is a URL ({scheme}://): remote value files are not supported, put the file in the repository"
    )]
    RemoteValueFile {
        /// The value file as written in the Application.
        file: String,
        /// Its URL scheme.
        scheme: String,
    },

    /// A Helm value file refers to another source of a multi-source Application (`$ref/...`),
    /// which this renderer is not given.
    #[error(
        "value file {file:?} refers to another source ({reference}); multi-source references are not supported by the renderer"
    )]
    RefValueFile {
        /// The value file as written in the Application.
        file: String,
        /// The `$ref` it starts with.
        reference: String,
    },

    /// More than one of `helm`, `kustomize`, `directory`, `plugin` is set (Argo CD's wording).
    #[error("multiple application sources defined: {types}")]
    MultipleSourceTypes {
        /// The types set, comma-separated, in Argo CD's order.
        types: String,
    },

    /// The source needs something this renderer does not do (plugins, Helm repository charts).
    #[error("unsupported source: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },

    /// A YAML manifest (or a `.argocd-source*.yaml` / kustomization file) does not parse.
    #[error("{file}: invalid YAML{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    InvalidYaml {
        /// The file, relative to the repository root.
        file: String,
        /// The 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },

    /// A `.json` manifest does not parse or holds more than one object.
    #[error("{file}: invalid JSON{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    InvalidJson {
        /// The file, relative to the repository root.
        file: String,
        /// The 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },

    /// A document is not a Kubernetes object: it has no `apiVersion` or no `kind`, or is not a
    /// mapping.
    #[error("{file}: document {document} is not a Kubernetes object: {problem}")]
    NotAnObject {
        /// The file (repository-relative), or the tool that produced the document.
        file: String,
        /// The 1-based index of the document in the file.
        document: usize,
        /// What is wrong (`missing apiVersion`, `missing kind`, ...).
        problem: String,
    },

    /// A `.jsonnet` file would be evaluated by Argo CD; Capstan does not evaluate Jsonnet and
    /// refuses rather than silently dropping the objects it would generate.
    #[error(
        "{file}: Jsonnet is not supported; exclude the file (directory.exclude) or render it to YAML"
    )]
    JsonnetUnsupported {
        /// The file, relative to the repository root.
        file: String,
    },

    /// `directory.include` or `directory.exclude` is not a valid glob.
    #[error("invalid glob {pattern:?}: {message}")]
    InvalidGlob {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        message: String,
    },

    /// A size or count limit of [`RenderLimits`](crate::RenderLimits) was exceeded.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What was measured.
        what: String,
        /// The limit in force.
        limit: u64,
    },

    /// An external tool exited unsuccessfully.
    #[error("{tool} failed: {stderr}")]
    ToolFailed {
        /// The command (`kustomize build`, `helm template`, ...).
        tool: String,
        /// Its standard error, trimmed, capped in length, checkout paths made repository-relative.
        stderr: String,
    },

    /// An external tool ran longer than [`RenderLimits::exec_timeout`](crate::RenderLimits) and
    /// was killed.
    #[error("{tool} timed out after {timeout:?} and was killed")]
    ToolTimeout {
        /// The command.
        tool: String,
        /// The timeout in force.
        timeout: Duration,
    },

    /// An external tool could not be started.
    #[error("could not run {tool}: {source}")]
    ToolSpawn {
        /// The command.
        tool: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A tool's output is not what was expected (not UTF-8, no version number, ...).
    #[error("{tool} produced unexpected output: {message}")]
    InvalidToolOutput {
        /// The command.
        tool: String,
        /// What is wrong.
        message: String,
    },

    /// An Application's `kustomize` override cannot be applied (as `kustomize edit` would refuse).
    #[error("kustomize override: {message}")]
    KustomizeOverride {
        /// Why.
        message: String,
    },

    /// An Application's `helm` options are invalid.
    #[error("helm options: {message}")]
    HelmOption {
        /// Why.
        message: String,
    },

    /// A `.argocd-source.yaml` / `.argocd-source-<app>.yaml` override file cannot be applied.
    #[error("{file}: {message}")]
    SourceOverride {
        /// The file, relative to the repository root.
        file: String,
        /// Why.
        message: String,
    },

    /// Reading the checkout or writing the scratch directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved (repository-relative when inside the repository).
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl RenderError {
    /// A short stable name of the variant (`path_escape`, `tool_failed`, ...), for metric labels
    /// and logs.
    pub fn label(&self) -> &'static str {
        match self {
            RenderError::AbsolutePath { .. } => "absolute_path",
            RenderError::PathEscape { .. } => "path_escape",
            RenderError::SymlinkEscape { .. } => "symlink_escape",
            RenderError::PathNotFound { .. } => "path_not_found",
            RenderError::NotADirectory { .. } => "not_a_directory",
            RenderError::ValueFileOutsideRepo { .. } => "value_file_outside_repo",
            RenderError::ValueFileNotFound { .. } => "value_file_not_found",
            RenderError::RemoteValueFile { .. } => "remote_value_file",
            RenderError::RefValueFile { .. } => "ref_value_file",
            RenderError::MultipleSourceTypes { .. } => "multiple_source_types",
            RenderError::Unsupported { .. } => "unsupported",
            RenderError::InvalidYaml { .. } => "invalid_yaml",
            RenderError::InvalidJson { .. } => "invalid_json",
            RenderError::NotAnObject { .. } => "not_an_object",
            RenderError::JsonnetUnsupported { .. } => "jsonnet_unsupported",
            RenderError::InvalidGlob { .. } => "invalid_glob",
            RenderError::LimitExceeded { .. } => "limit_exceeded",
            RenderError::ToolFailed { .. } => "tool_failed",
            RenderError::ToolTimeout { .. } => "tool_timeout",
            RenderError::ToolSpawn { .. } => "tool_spawn",
            RenderError::InvalidToolOutput { .. } => "invalid_tool_output",
            RenderError::KustomizeOverride { .. } => "kustomize_override",
            RenderError::HelmOption { .. } => "helm_option",
            RenderError::SourceOverride { .. } => "source_override",
            RenderError::Io { .. } => "io",
        }
    }

    /// Whether the error comes from what the user wrote (the Application or the repository
    /// content) rather than from the server (IO, a missing tool, a timeout): the repo-server maps
    /// these to `InvalidArgument`/`FailedPrecondition` rather than `Internal`.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            RenderError::Io { .. }
                | RenderError::ToolSpawn { .. }
                | RenderError::ToolTimeout { .. }
                | RenderError::InvalidToolOutput { .. }
        )
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        RenderError::Io {
            path: path.into(),
            source,
        }
    }
}
