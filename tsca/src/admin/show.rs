//! How `tsca admin` prints the registry's answers: aligned tables and `field: value` records
//! for people (times in RFC 3339, empty values as `-`), or the registry's JSON unchanged with
//! `--output json` for scripts. A reader that goes away (`tsca admin … | head`) ends the
//! command quietly.

use comfy_table::{presets, Table};
use serde_json::{Map, Value};

use crate::CliResult;

/// `--output`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables and `field: value` lines.
    #[default]
    Table,
    /// The registry's JSON, as answered.
    Json,
}

/// What an answer is, for printing it.
pub enum Shape {
    /// A list of records under `key`, shown with these columns.
    List {
        key: &'static str,
        columns: &'static [&'static str],
        /// The page size asked for: a full page ends with how to ask for the next one.
        page: Option<usize>,
    },
    /// One record.
    Record,
    /// What a change did: a headline made from the answer, then the record.
    Change(fn(&Value) -> String),
}

/// Prints an answer in the chosen format.
pub fn print(format: OutputFormat, shape: &Shape, value: &Value, replayed: bool) -> CliResult<()> {
    if format == OutputFormat::Json {
        return print_quietly(&serde_json::to_string_pretty(value)?);
    }
    let text = match shape {
        Shape::List { key, columns, page } => list(value, key, columns, *page),
        Shape::Record => record(value),
        Shape::Change(headline) => {
            let mut said = headline(value);
            if replayed {
                said.push_str(
                    " (already applied with this Idempotency-Key: this run changed nothing)",
                );
            }
            format!("{said}\n\n{}", record(value))
        }
    };
    print_quietly(text.trim_end())
}

/// Prints a line on stdout; a reader that went away ends the command quietly instead of a
/// panic.
pub fn print_quietly(text: &str) -> CliResult<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn list(value: &Value, key: &str, columns: &[&str], page: Option<usize>) -> String {
    let rows = value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rows.is_empty() {
        return format!("no {key}");
    }
    let mut text = table(&rows, columns);
    let next = value.get("next_after").filter(|n| !n.is_null());
    if let (Some(next), Some(page)) = (next, page) {
        if rows.len() >= page {
            text.push_str(&format!("\nmore: add --after {next}"));
        }
    }
    text
}

fn table(rows: &[Value], columns: &[&str]) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(columns.iter().map(|c| c.to_uppercase()));
    for row in rows {
        table.add_row(
            columns
                .iter()
                .map(|c| cell(c, row.get(*c).unwrap_or(&Value::Null))),
        );
    }
    // comfy-table pads every cell, the last one too.
    table
        .lines()
        .map(|line| line.trim().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One record as `field: value` lines: `id` first, nested objects as `outer.inner`, lists of
/// records as tables after the fields, PEM blocks last as they are.
fn record(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return cell("", value);
    };
    let mut fields = Vec::new();
    let mut tables = Vec::new();
    let mut pems = Vec::new();
    flatten("", object, &mut fields, &mut tables, &mut pems);
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}"))
        .collect();
    for (name, rows) in tables {
        let columns = record_columns(&rows);
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        text.push(format!("\n{name}:\n{}", table(&rows, &columns)));
    }
    for (name, pem) in pems {
        text.push(format!("\n{name}:\n{}", pem.trim_end()));
    }
    text.join("\n")
}

type Fields = Vec<(String, String)>;

fn flatten(
    prefix: &str,
    object: &Map<String, Value>,
    fields: &mut Fields,
    tables: &mut Vec<(String, Vec<Value>)>,
    pems: &mut Vec<(String, String)>,
) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort_by_key(|k| (k.as_str() != "id", k.as_str()));
    for key in keys {
        let name = format!("{prefix}{key}");
        match &object[key] {
            Value::Object(inner) => {
                flatten(&format!("{name}."), inner, fields, tables, pems);
            }
            Value::Array(items) if items.first().is_some_and(Value::is_object) => {
                tables.push((name, items.clone()));
            }
            Value::String(text) if text.contains("-----BEGIN ") => {
                pems.push((name, text.clone()));
            }
            other => fields.push((name, cell(key, other))),
        }
    }
}

/// The columns of a nested list: the first record's fields, `id` first, PEM blocks left out.
fn record_columns(rows: &[Value]) -> Vec<String> {
    let Some(first) = rows.first().and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut columns: Vec<String> = first
        .iter()
        .filter(|(_, v)| !v.as_str().is_some_and(|s| s.contains("-----BEGIN ")))
        .map(|(k, _)| k.clone())
        .collect();
    columns.sort_by_key(|k| (k != "id", k.clone()));
    columns
}

/// Fields the API gives as seconds since the epoch.
fn is_time(field: &str) -> bool {
    field.ends_with("_at")
        || matches!(
            field,
            "at" | "not_before" | "not_after" | "valid_from" | "valid_to"
        )
}

fn cell(field: &str, value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        Value::Number(n) if is_time(field) => n
            .as_i64()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.to_string())
            .unwrap_or_else(|| n.to_string()),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items
            .iter()
            .map(|item| cell(field, item))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_is_an_aligned_table_with_readable_times() {
        let answer = json!({"operators": [
            {"id": 4, "name": "Acme Mobile", "created_at": 1_800_000_000, "status": "active"},
            {"id": 12, "name": "B", "created_at": null, "status": "active"}]});
        let text = list(&answer, "operators", &["id", "name", "created_at"], None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID"), "{text}");
        assert!(lines[1].contains("2027-01-15T08:00:00Z"), "{text}");
        assert!(lines[2].ends_with('-'), "{text}");
        // Columns line up: the names start at the same offset.
        assert_eq!(lines[1].find("Acme"), lines[2].find('B'), "{text}");
        assert_eq!(
            list(&json!({"operators": []}), "operators", &["id"], None),
            "no operators"
        );
    }

    #[test]
    fn a_full_page_says_how_to_get_the_next() {
        let answer = json!({"entries": [{"seq": 1}, {"seq": 2}], "next_after": 2});
        assert!(list(&answer, "entries", &["seq"], Some(2)).ends_with("more: add --after 2"));
        assert!(!list(&answer, "entries", &["seq"], Some(3)).contains("more"));
    }

    #[test]
    fn a_record_puts_the_id_first_and_pem_last() {
        let answer = json!({"operator": {"name": "Acme", "id": 4},
            "token": {"token": "tsca_x", "expires_at": null},
            "certificate_pem": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
            "assignments": [{"id": 1, "resource": "prefix:33"}]});
        let text = record(&answer);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("operator.id") && lines[0].ends_with('4'),
            "{text}"
        );
        assert!(text.contains("token.expires_at  -"), "{text}");
        assert!(
            text.contains("assignments:\nID  RESOURCE\n1   prefix:33"),
            "{text}"
        );
        assert!(text.ends_with("-----END CERTIFICATE-----"), "{text}");
    }
}
