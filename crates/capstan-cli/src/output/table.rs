//! Aligned tables as argocd prints them with Go's `tabwriter` (padding 2, spaces): every
//! column but the last is padded to its widest cell plus two spaces; the last is not padded.
//! Trailing spaces are trimmed.
//!
//! Also [`field`], argocd's `%-20s%s` lines of `app get` summaries.

/// A table: a header row and data rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub(crate) fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut table = Self::default();
        table.row(header);
        table
    }

    /// A table without a header row (continuation rows of a streamed table).
    pub(crate) fn headless() -> Self {
        Self::default()
    }

    /// Appends a row.
    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, one line per row, each ending with a newline.
    pub(crate) fn render(&self) -> String {
        self.render_aligned(&mut Vec::new())
    }

    /// The table as text, each column at least as wide as in `widths`, which is widened to
    /// this table's columns: tables printed one after the other (the progress rows of a
    /// watch) stay aligned as long as their cells fit.
    pub(crate) fn render_aligned(&self, widths: &mut Vec<usize>) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if widths.len() < columns {
            widths.resize(columns, 0);
        }
        for row in &self.rows {
            // The last cell of a row is not aligned, as with tabwriter.
            for (index, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                widths[index] = widths[index].max(width(cell));
            }
        }
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if index + 1 < row.len() {
                    let pad = widths[index] - width(cell) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// The display width of a cell (characters; Capstan's cells are names, statuses and
/// messages, where this matches what terminals show).
fn width(cell: &str) -> usize {
    cell.chars().count()
}

/// One `Label:   value` line of a summary, the label padded to 20 columns as argocd's
/// `%-20s%s`, with at least one space after it.
pub(crate) fn field(label: &str, value: &str) -> String {
    let label = format!("{label}:");
    let pad = 20usize.saturating_sub(width(&label)).max(1);
    let line = format!("{label}{}{value}", " ".repeat(pad));
    format!("{}\n", line.trim_end())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::{Table, field};

    #[test]
    fn columns_align_with_two_spaces() {
        let cases: &[(&[&[&str]], &str)] = &[
            (&[], ""),
            (&[&["NAME"]], "NAME\n"),
            (
                &[
                    &["NAME", "STATUS", "MESSAGE"],
                    &["guestbook", "Synced", "ok"],
                    &["a", "OutOfSync", ""],
                ],
                "NAME       STATUS     MESSAGE\n\
                 guestbook  Synced     ok\n\
                 a          OutOfSync\n",
            ),
            // Empty cells keep their column; the last column is never padded.
            (
                &[
                    &["GROUP", "KIND", "NAME"],
                    &["", "Service", "web"],
                    &["apps", "Deployment", "web"],
                ],
                "GROUP  KIND        NAME\n\
                 \x20      Service     web\n\
                 apps   Deployment  web\n",
            ),
            // Rows may be shorter than the header.
            (&[&["A", "B", "C"], &["1"]], "A  B  C\n1\n"),
            // Width counts characters, not bytes.
            (&[&["É", "x"], &["ab", "y"]], "É   x\nab  y\n"),
        ];
        for (rows, want) in cases {
            let mut table = Table::headless();
            for row in *rows {
                table.row(row.iter().copied());
            }
            assert_eq!(table.render(), *want, "{rows:?}");
        }
    }

    #[test]
    fn consecutive_tables_stay_aligned() {
        let mut widths = Vec::new();
        let mut first = Table::new(["NAME", "STATUS", "MESSAGE"]);
        first.row(["guestbook", "Synced", "ok"]);
        let mut second = Table::headless();
        second.row(["a", "Running", "x"]);
        assert_eq!(
            first.render_aligned(&mut widths) + &second.render_aligned(&mut widths),
            "NAME       STATUS  MESSAGE\n\
             guestbook  Synced  ok\n\
             a          Running  x\n"
        );
        // A wider cell widens the column from then on.
        assert_eq!(widths, vec![9, 7, 0]);
    }

    #[test]
    fn fields_pad_labels_to_twenty_columns() {
        assert_eq!(
            field("Name", "guestbook"),
            "Name:               guestbook\n"
        );
        assert_eq!(field("Sync Status", ""), "Sync Status:\n");
        assert_eq!(
            field("A very long label here", "v"),
            "A very long label here: v\n"
        );
    }
}
