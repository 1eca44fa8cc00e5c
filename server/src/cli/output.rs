//! How remote commands print: an aligned table for people, JSON for scripts.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Plain columns, no borders, so the output greps and pastes well.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(headers.to_vec());
    for row in rows {
        t.add_row(row);
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    t.to_string().lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// Key/value pairs, one per line.
pub fn facts(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<width$}  {v}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out =
            table(&["NAME", "ID"], vec![vec!["a".into(), "1".into()], vec!["long-name".into(), "2".into()]]);
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("ID").unwrap();
        assert_eq!(lines[1].find('1').unwrap(), col);
        assert_eq!(lines[2].find('2').unwrap(), col);
    }

    #[test]
    fn facts_align_values() {
        assert_eq!(facts(&[("a", "1".into()), ("bbb", "2".into())]), "a    1\nbbb  2");
    }
}
