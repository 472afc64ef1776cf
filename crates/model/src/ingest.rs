//! ETL of ingested records: whatever the rendered ingest writes under the
//! raw prefix becomes one table for the processing step.
//!
//! The API Lambda writes one JSON object per request
//! (`incoming/api/<uuid>.json`), the IoT rule one device message per file
//! (`incoming/iot/<topic>/<ts>-<uuid>.json`), and batch loads arrive as CSV
//! or JSON lines, in any sub-folder, as S3 delivers a prefix. Files are read
//! in sorted path order (so the same records give the same table), symbolic
//! links are never followed, and a record that cannot be read is counted
//! and reported by file and line, never echoed: records are patient data.
//!
//! A JSON record is an object of column → value; numbers and strings are
//! kept as text, booleans become `1`/`0`, `null` is missing, and a nested
//! object (a device message's `vitals`, say) contributes its leaves under
//! their own names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::data::{DataError, Table};

/// Folders nested deeper than this are not read (and reported): S3 keys of
/// the rendered ingest are three levels deep.
pub const MAX_DEPTH: usize = 16;
/// Record problems listed one by one in the summary (the count is complete).
const LISTED_PROBLEMS: usize = 50;

/// Why a record was not taken; fixed texts, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    NotJson,
    NotAnObject,
    ArrayValue,
    DuplicateColumn,
    WrongWidth,
    NotUtf8,
    MalformedCsv,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProblem {
    /// Path relative to the folder read.
    pub file: String,
    /// 1-based line of the record in its file (1 for a one-record file).
    pub line: usize,
    pub problem: Problem,
}

/// What the ETL read, for the quality report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub files: usize,
    pub records: usize,
    pub skipped_records: usize,
    /// Files with another extension, links and folders beyond [`MAX_DEPTH`].
    pub ignored_files: usize,
    pub problems: Vec<RecordProblem>,
}

#[derive(Default)]
pub struct Ingested {
    pub table: Table,
    pub summary: IngestSummary,
    /// Where each row of the table came from: file (relative to the folder
    /// read) and 1-based line.
    pub sources: Vec<Source>,
}

/// A record's place in the files read: the order [`read_records`] gives.
pub type Source = (String, usize);

/// Columns a sharded ETL adds to its curated part so that the processing
/// step can restore the order one instance would have read the records in,
/// whichever instance read which file (see [`read_records`]).
pub const SOURCE_FILE_COLUMN: &str = "_dxops_source_file";
pub const SOURCE_LINE_COLUMN: &str = "_dxops_source_line";

#[derive(Default)]
struct Builder {
    columns: Vec<String>,
    index: BTreeMap<String, usize>,
    rows: Vec<BTreeMap<usize, String>>,
    sources: Vec<Source>,
    summary: IngestSummary,
}

impl Builder {
    fn column(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.columns.push(name.to_string());
        self.index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    fn problem(&mut self, file: &str, line: usize, problem: Problem) {
        self.summary.skipped_records += 1;
        if self.summary.problems.len() < LISTED_PROBLEMS {
            self.summary.problems.push(RecordProblem {
                file: file.to_string(),
                line,
                problem,
            });
        }
    }

    fn json_record(&mut self, file: &str, line: usize, value: &Value) {
        let Value::Object(map) = value else {
            return self.problem(file, line, Problem::NotAnObject);
        };
        let mut cells = BTreeMap::new();
        if let Err(p) = self.flatten(map, &mut cells) {
            return self.problem(file, line, p);
        }
        self.summary.records += 1;
        self.rows.push(cells);
        self.sources.push((file.to_string(), line));
    }

    fn flatten(
        &mut self,
        map: &serde_json::Map<String, Value>,
        cells: &mut BTreeMap<usize, String>,
    ) -> Result<(), Problem> {
        for (key, value) in map {
            let text = match value {
                Value::Object(inner) => {
                    self.flatten(inner, cells)?;
                    continue;
                }
                Value::Array(_) => return Err(Problem::ArrayValue),
                Value::Null => String::new(),
                Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
            };
            let c = self.column(key);
            if cells.insert(c, text).is_some() {
                return Err(Problem::DuplicateColumn);
            }
        }
        Ok(())
    }

    fn json_file(&mut self, file: &str, text: &str) {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                for item in &items {
                    self.json_record(file, 1, item);
                }
            }
            Ok(v) => self.json_record(file, 1, &v),
            Err(_) => self.problem(file, 1, Problem::NotJson),
        }
    }

    fn json_lines(&mut self, file: &str, text: &str) {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) => self.json_record(file, i + 1, &v),
                Err(_) => self.problem(file, i + 1, Problem::NotJson),
            }
        }
    }

    fn csv(&mut self, file: &str, bytes: &[u8]) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut records = reader.records();
        let header: Vec<usize> = match records.next() {
            Some(Ok(h)) => {
                let names: Vec<String> = h
                    .iter()
                    .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
                    .collect();
                let mut seen = std::collections::BTreeSet::new();
                if names.iter().any(|n| !seen.insert(n.clone())) {
                    return self.problem(file, 1, Problem::DuplicateColumn);
                }
                names.iter().map(|n| self.column(n)).collect()
            }
            Some(Err(_)) => return self.problem(file, 1, Problem::MalformedCsv),
            None => return,
        };
        for (i, r) in records.enumerate() {
            let line = i + 2;
            let r = match r {
                Ok(r) => r,
                Err(_) => {
                    self.problem(file, line, Problem::MalformedCsv);
                    continue;
                }
            };
            if r.len() == 1 && r.get(0).is_some_and(|c| c.trim().is_empty()) {
                continue;
            }
            if r.len() != header.len() {
                self.problem(file, line, Problem::WrongWidth);
                continue;
            }
            self.summary.records += 1;
            self.rows.push(
                header
                    .iter()
                    .zip(r.iter())
                    .map(|(c, v)| (*c, v.trim().to_string()))
                    .collect(),
            );
            self.sources.push((file.to_string(), line));
        }
    }
}

/// Every readable file under `dir` (or `dir` itself when it is a file), in
/// sorted order, with its path relative to `dir`. Links are not followed.
fn files(dir: &Path, summary: &mut IngestSummary) -> Result<Vec<(String, PathBuf)>, DataError> {
    let io = |path: &Path, source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| io(dir, e))?;
    if meta.is_file() {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        return Ok(vec![(name, dir.to_path_buf())]);
    }
    let mut out = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let entry = entry.map_err(|e| io(&d, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            if kind.is_dir() && depth + 1 < MAX_DEPTH {
                pending.push((path, depth + 1));
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, path));
            } else {
                summary.ignored_files += 1;
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every record under `dir`: `*.json` (one object, or an array of
/// objects), `*.jsonl` / `*.ndjson` (one object per line) and `*.csv` (a
/// header row, then records). Columns are the union of all records' keys,
/// in the order first seen; a record without a column has it missing.
///
/// Curated parts of a sharded ETL (see [`curate`]) carry each record's
/// source as two columns: their rows are put back in source order and the
/// two columns dropped, so the table is the one a single instance would
/// have read from the raw records, however the files were spread.
pub fn read_records(dir: &Path) -> Result<Ingested, DataError> {
    let ingested = read_any(dir)?;
    if ingested.table.rows.is_empty() {
        return Err(DataError::NoRecords {
            dir: dir.to_path_buf(),
            skipped: ingested.summary.skipped_records,
        });
    }
    Ok(ingested)
}

/// [`read_records`], also when no record could be read (an ETL instance's
/// share may hold none).
pub fn read_any(dir: &Path) -> Result<Ingested, DataError> {
    let mut b = Builder::default();
    let mut hasher = Sha256::new();
    for (rel, path) in files(dir, &mut b.summary)? {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(ext.as_str(), "json" | "jsonl" | "ndjson" | "csv") {
            b.summary.ignored_files += 1;
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        b.summary.files += 1;
        hasher.update(rel.as_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
        if ext == "csv" {
            b.csv(&rel, &bytes);
            continue;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            b.problem(&rel, 1, Problem::NotUtf8);
            continue;
        };
        if ext == "json" {
            b.json_file(&rel, text);
        } else {
            b.json_lines(&rel, text);
        }
    }
    let width = b.columns.len();
    let rows: Vec<Vec<String>> = b
        .rows
        .into_iter()
        .map(|cells| {
            let mut row = vec![String::new(); width];
            for (c, v) in cells {
                row[c] = v;
            }
            row
        })
        .collect();
    let mut table = Table {
        headers: b.columns,
        rows,
        sha256: hex::encode(hasher.finalize()),
    };
    let sources = match restore_source_order(&mut table) {
        Some(sources) => sources,
        None => b.sources,
    };
    Ok(Ingested {
        table,
        summary: b.summary,
        sources,
    })
}

/// For a table of curated parts: sorts the rows by their recorded source
/// (stable, so the records of one file keep their order) and drops the
/// source columns. `None` when the table has no source columns.
fn restore_source_order(table: &mut Table) -> Option<Vec<Source>> {
    let file = table.column_index(SOURCE_FILE_COLUMN)?;
    let line = table.column_index(SOURCE_LINE_COLUMN)?;
    let rows = std::mem::take(&mut table.rows);
    let mut keyed: Vec<(Source, Vec<String>)> = rows
        .into_iter()
        .map(|row| {
            let source = (row[file].clone(), row[line].parse().unwrap_or(0));
            let cells = row
                .into_iter()
                .enumerate()
                .filter(|(j, _)| *j != file && *j != line)
                .map(|(_, c)| c)
                .collect();
            (source, cells)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    table.headers = std::mem::take(&mut table.headers)
        .into_iter()
        .enumerate()
        .filter(|(j, _)| *j != file && *j != line)
        .map(|(_, h)| h)
        .collect();
    let (sources, rows) = keyed.into_iter().unzip();
    table.rows = rows;
    Some(sources)
}

/// One ETL instance's share of the records, as its curated part: the
/// columns the data contract names (all columns when it declares no
/// features; only those some record of the share has, so that a column no
/// record has stays absent), then the two source columns.
pub fn curate(ingested: &Ingested, columns: &[String]) -> Table {
    let t = &ingested.table;
    let keep: Vec<usize> = if columns.is_empty() {
        (0..t.headers.len()).collect()
    } else {
        columns.iter().filter_map(|c| t.column_index(c)).collect()
    };
    let mut headers: Vec<String> = keep.iter().map(|&j| t.headers[j].clone()).collect();
    headers.extend([
        SOURCE_FILE_COLUMN.to_string(),
        SOURCE_LINE_COLUMN.to_string(),
    ]);
    let rows = t
        .rows
        .iter()
        .zip(&ingested.sources)
        .map(|(row, (file, line))| {
            let mut cells: Vec<String> = keep.iter().map(|&j| row[j].clone()).collect();
            cells.extend([file.clone(), line.to_string()]);
            cells
        })
        .collect();
    Table {
        headers,
        rows,
        sha256: String::new(),
    }
}

/// The summaries of every ETL instance as one: what a single instance
/// reading all files would have reported (problems in file and line order,
/// the first [`LISTED_PROBLEMS`] of them).
pub fn merge_summaries(parts: impl IntoIterator<Item = IngestSummary>) -> IngestSummary {
    let mut merged = IngestSummary::default();
    for p in parts {
        merged.files += p.files;
        merged.records += p.records;
        merged.skipped_records += p.skipped_records;
        merged.ignored_files += p.ignored_files;
        merged.problems.extend(p.problems);
    }
    merged
        .problems
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    merged.problems.truncate(LISTED_PROBLEMS);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn api_objects_device_messages_csv_and_json_lines_become_one_table() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "api/b.json",
            r#"{"age": 61, "fever": true, "diagnosis": "infection"}"#,
        );
        write(
            d.path(),
            "iot/devices/7/vitals/1-a.json",
            r#"{"patient_id": "p1", "vitals": {"heart_rate": 88}, "diagnosis": "healthy"}"#,
        );
        write(
            d.path(),
            "batch/x.csv",
            "age,diagnosis\n40,healthy\n\n52,infection\n",
        );
        write(
            d.path(),
            "batch/y.jsonl",
            "{\"age\": 33, \"diagnosis\": \"healthy\"}\n\n{\"age\": null, \"diagnosis\": \"lupus\"}\n",
        );
        write(d.path(), "notes.txt", "ignored");
        let got = read_records(d.path()).unwrap();
        assert_eq!(
            got.table.headers,
            ["age", "fever", "diagnosis", "patient_id", "heart_rate"]
        );
        assert_eq!(got.summary.records, 6);
        assert_eq!(got.summary.files, 4);
        assert_eq!(got.summary.ignored_files, 1);
        let col = |name: &str| got.table.column_index(name).unwrap();
        let row = &got.table.rows;
        // Sorted paths: api/b.json, batch/x.csv, batch/y.jsonl, iot/...
        assert_eq!(row[0][col("fever")], "1");
        assert_eq!(row[1][col("age")], "40");
        assert_eq!(row[4][col("age")], "");
        assert_eq!(row[5][col("heart_rate")], "88");
        assert_eq!(row[5][col("patient_id")], "p1");
        assert_eq!(row[5][col("fever")], "");
        let again = read_records(d.path()).unwrap();
        assert_eq!(again.table.sha256, got.table.sha256);
    }

    #[test]
    fn malformed_records_are_counted_by_file_and_line_never_echoed() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.jsonl",
            "{\"age\": 1}\n{\"age\": SECRET\n[1]\n{\"x\": [2]}\n",
        );
        write(d.path(), "b.csv", "age,label\n1,a\n2,SECRET,extra\n");
        write(d.path(), "c.json", "SECRET");
        let got = read_records(d.path()).unwrap();
        assert_eq!(got.summary.records, 2);
        assert_eq!(got.summary.skipped_records, 5);
        let listed: Vec<(String, usize, Problem)> = got
            .summary
            .problems
            .iter()
            .map(|p| (p.file.clone(), p.line, p.problem))
            .collect();
        assert_eq!(
            listed,
            [
                ("a.jsonl".to_string(), 2, Problem::NotJson),
                ("a.jsonl".to_string(), 3, Problem::NotAnObject),
                ("a.jsonl".to_string(), 4, Problem::ArrayValue),
                ("b.csv".to_string(), 3, Problem::WrongWidth),
                ("c.json".to_string(), 1, Problem::NotJson),
            ]
        );
        let json = serde_json::to_string(&got.summary).unwrap();
        assert!(!json.contains("SECRET"));
    }

    #[test]
    fn links_are_not_followed_and_an_empty_folder_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "in/a.json", r#"{"age": 1}"#);
        std::os::unix::fs::symlink(d.path(), d.path().join("in/loop")).unwrap();
        let got = read_records(&d.path().join("in")).unwrap();
        assert_eq!(got.summary.records, 1);
        assert_eq!(got.summary.ignored_files, 1);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_records(empty.path()),
            Err(DataError::NoRecords { .. })
        ));
    }
}
