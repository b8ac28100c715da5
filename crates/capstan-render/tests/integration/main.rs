//! Integration tests of `capstan-render` against the real `kubectl kustomize` and `helm` of the
//! test environment (`e2e/testenv-up.sh`): rendered output is compared with what the tools
//! produce when run directly on a hand-made equivalent, which is what Argo CD would produce.

mod common;
mod directory;
mod exec;
mod helm;
mod kustomize;
mod security;
