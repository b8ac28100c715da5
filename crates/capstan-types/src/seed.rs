//! The YAML documents of a Markdown guide, for tests that check the users' guide
//! (`testdata/seed/argocd-aks-guide.md`) works unchanged.
//!
//! Only fenced blocks opened with ```` ```yaml ```` or ```` ```yml ```` are read (indented fences,
//! as in numbered lists, included); each block may hold several `---`-separated documents.
//! Empty documents (for example comment-only ones) are skipped.

use serde::Deserialize;
use serde_json::Value;

/// One YAML document found in a Markdown file.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedDocument {
    /// 1-based line of the block's opening fence in the Markdown file.
    pub fence_line: usize,
    /// The document as JSON.
    pub value: Value,
}

impl SeedDocument {
    /// The document's `kind`, if it has one.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// The document's `metadata.name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }
}

/// A YAML block of a Markdown file that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("YAML block opened at line {fence_line}: {source}")]
pub struct SeedError {
    /// 1-based line of the block's opening fence.
    pub fence_line: usize,
    /// Parser error (its line numbers are relative to the block).
    #[source]
    pub source: serde_yaml_ng::Error,
}

/// Every YAML document in the fenced `yaml`/`yml` blocks of `markdown`, in order.
pub fn parse_yaml_blocks(markdown: &str) -> Result<Vec<SeedDocument>, SeedError> {
    let mut documents = Vec::new();
    for (fence_line, block) in yaml_blocks(markdown) {
        for document in serde_yaml_ng::Deserializer::from_str(&block) {
            let value =
                Value::deserialize(document).map_err(|source| SeedError { fence_line, source })?;
            if !value.is_null() {
                documents.push(SeedDocument { fence_line, value });
            }
        }
    }
    Ok(documents)
}

/// Every YAML document in the fenced `yaml`/`yml` blocks of `markdown`, as JSON, in order.
///
/// # Panics
///
/// If a block is not valid YAML, naming the block's line; meant for tests over checked-in
/// guides. Use [`parse_yaml_blocks`] to handle the error instead.
pub fn yaml_documents(markdown: &str) -> Vec<Value> {
    match parse_yaml_blocks(markdown) {
        Ok(documents) => documents
            .into_iter()
            .map(|document| document.value)
            .collect(),
        Err(error) => panic!("{error}"),
    }
}

/// The documents of `documents` whose `kind` is `kind`.
pub fn of_kind<'a>(documents: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    documents
        .iter()
        .filter(move |document| document.get("kind").and_then(Value::as_str) == Some(kind))
}

/// The contents of the fenced `yaml`/`yml` blocks, with their opening line, indentation of the
/// fence removed from each line.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let language = info.trim().to_ascii_lowercase();
                    if language == "yaml" || language == "yml" {
                        open = Some((index + 1, indent, String::new()));
                    }
                }
            }
            Some((fence_line, fence_indent, mut body)) => {
                if trimmed.starts_with("```") {
                    blocks.push((fence_line, body));
                } else {
                    let strip = line
                        .char_indices()
                        .take_while(|(i, c)| *i < fence_indent && c.is_whitespace())
                        .count();
                    body.push_str(&line[strip..]);
                    body.push('\n');
                    open = Some((fence_line, fence_indent, body));
                }
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_blocks_and_documents() {
        let markdown = "intro\n```yaml\na: 1\n---\nb: 2\n---\n# only a comment\n```\n```bash\nc: 3\n```\n1. step\n   ```yml\n   d:\n   - 4\n   ```\n```yaml\n```\n";
        let documents = parse_yaml_blocks(markdown).unwrap();
        let values: Vec<&Value> = documents.iter().map(|d| &d.value).collect();
        assert_eq!(
            values,
            [
                &serde_json::json!({"a": 1}),
                &serde_json::json!({"b": 2}),
                &serde_json::json!({"d": [4]}),
            ]
        );
        assert_eq!(documents[0].fence_line, 2);
        assert_eq!(documents[2].fence_line, 13);
    }

    #[test]
    fn reports_the_block_of_invalid_yaml() {
        let error = parse_yaml_blocks("text\n\n```yaml\na: [1\n```\n").unwrap_err();
        assert_eq!(error.fence_line, 3);
        assert!(
            error
                .to_string()
                .starts_with("YAML block opened at line 3: ")
        );
    }
}
