//! CSV tables: one sample per row, numeric feature columns, one optional target column.
//!
//! Rules: the header row is optional (auto-detected unless stated); the target column is chosen
//! by name or 0-based index, by default a column named `label`, else the last column. Every
//! other column is an `f32` feature. Class labels may be integers (class id = value) or strings
//! (class ids follow sorted name order). A ragged row, an empty or non-numeric cell is an error
//! carrying the file, the 1-based line and the 1-based column. Samples default to shape
//! `[features]`; `sample_shape` reinterprets them (e.g. `[8, 8, 1]` for the UCI digits).
//!
//! Neighbours: `spec` dispatches here for `.csv` paths; the result is a plain [`Dataset`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};

/// A column chosen by 0-based index or by header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

/// How the target column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Class labels (integers or names).
    #[default]
    Classes,
    /// One real value per row (regression).
    Values,
    /// No target column: every column is a feature.
    None,
}

/// Options of the CSV loader; every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// `Some(true)`/`Some(false)` force the header row on or off; `None` detects it (a first row
    /// with a non-numeric cell where the second row is numeric is a header).
    pub header: Option<bool>,
    /// Target column; `None` picks a column named `label`, else the last one.
    pub label: Option<ColumnRef>,
    pub target: TargetKind,
    /// Field delimiter (ASCII).
    pub delimiter: char,
    /// Shape of one sample, e.g. `[8, 8, 1]`; its product must equal the feature count.
    pub sample_shape: Option<Vec<usize>>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: None,
            label: None,
            target: TargetKind::Classes,
            delimiter: ',',
            sample_shape: None,
        }
    }
}

fn parse_f32(s: &str) -> Option<f32> {
    let v: f32 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Loads a CSV file into a [`Dataset`].
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<Dataset> {
    if !opts.delimiter.is_ascii() {
        return Err(DataError::invalid(format!(
            "CSV delimiter {:?} must be an ASCII character",
            opts.delimiter
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .delimiter(opts.delimiter as u8)
        .from_reader(std::io::BufReader::new(file));

    let csv_err = |e: ::csv::Error| -> DataError {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        match e.into_kind() {
            ::csv::ErrorKind::Io(io) => DataError::io(path, io),
            other => DataError::Csv {
                path: path.to_path_buf(),
                line,
                column: 0,
                reason: format!("{other:?}"),
            },
        }
    };

    let mut records = reader.records();
    let first = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => return Err(DataError::format(path, "empty CSV file")),
    };
    let second = match records.next() {
        Some(r) => Some(r.map_err(csv_err)?),
        None => None,
    };
    let has_header = match opts.header {
        Some(h) => h,
        None => match &second {
            Some(s) => first
                .iter()
                .zip(s.iter())
                .any(|(a, b)| parse_f32(a).is_none() && parse_f32(b).is_some()),
            None => first.iter().any(|a| parse_f32(a).is_none()),
        },
    };
    let ncols = first.len();
    let names: Vec<String> = if has_header {
        first.iter().map(str::to_string).collect()
    } else {
        (0..ncols).map(|i| format!("column {}", i + 1)).collect()
    };

    let label_col = match opts.target {
        TargetKind::None => None,
        _ => Some(match &opts.label {
            Some(ColumnRef::Index(i)) => {
                if *i >= ncols {
                    return Err(DataError::format(
                        path,
                        format!("label column index {i} beyond the {ncols} columns"),
                    ));
                }
                *i
            }
            Some(ColumnRef::Name(n)) => {
                if !has_header {
                    return Err(DataError::format(
                        path,
                        format!("label column {n:?} asked by name but the file has no header"),
                    ));
                }
                names.iter().position(|c| c == n).ok_or_else(|| {
                    DataError::format(path, format!("no column named {n:?} in the header"))
                })?
            }
            None => {
                if has_header {
                    names.iter().position(|c| c == "label").unwrap_or(ncols - 1)
                } else {
                    ncols - 1
                }
            }
        }),
    };
    let nfeat = ncols - usize::from(label_col.is_some());
    if nfeat == 0 {
        return Err(DataError::format(path, "no feature columns"));
    }

    let mut features = Vec::new();
    let mut raw_labels: Vec<String> = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    let data_rows = (!has_header)
        .then_some(Ok(first.clone()))
        .into_iter()
        .chain(second.map(Ok))
        .chain(records);
    let mut first_line = 1u64;
    for (row_no, rec) in data_rows.enumerate() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map(|p| p.line()).unwrap_or(first_line);
        first_line = line + 1;
        if rec.len() == 1 && rec.get(0) == Some("") {
            continue; // Blank line.
        }
        if rec.len() != ncols {
            return Err(DataError::Csv {
                path: path.to_path_buf(),
                line,
                column: rec.len().min(ncols) + 1,
                reason: format!("ragged row: {} cells, expected {ncols}", rec.len()),
            });
        }
        for (c, cell) in rec.iter().enumerate() {
            if Some(c) == label_col {
                match opts.target {
                    TargetKind::Values => {
                        values.push(parse_f32(cell).ok_or_else(|| DataError::Csv {
                            path: path.to_path_buf(),
                            line,
                            column: c + 1,
                            reason: format!(
                                "target {:?} of row {} is not a number",
                                cell,
                                row_no + 1
                            ),
                        })?)
                    }
                    _ => {
                        if cell.is_empty() {
                            return Err(DataError::Csv {
                                path: path.to_path_buf(),
                                line,
                                column: c + 1,
                                reason: "empty label".into(),
                            });
                        }
                        raw_labels.push(cell.to_string());
                    }
                }
            } else {
                match parse_f32(cell) {
                    Some(v) => features.push(v),
                    None => {
                        return Err(DataError::Csv {
                            path: path.to_path_buf(),
                            line,
                            column: c + 1,
                            reason: format!(
                                "{} ({}): {:?} is not a finite number",
                                if cell.is_empty() {
                                    "empty cell"
                                } else {
                                    "non-numeric cell"
                                },
                                names[c],
                                cell
                            ),
                        })
                    }
                }
            }
        }
    }
    if features.is_empty() {
        return Err(DataError::format(path, "no data rows"));
    }

    let (targets, class_names) = match opts.target {
        TargetKind::None => (Targets::None, Vec::new()),
        TargetKind::Values => (
            Targets::Values {
                data: values,
                shape: vec![1],
            },
            Vec::new(),
        ),
        TargetKind::Classes => class_targets(path, raw_labels)?,
    };
    let shape = opts.sample_shape.clone().unwrap_or_else(|| vec![nfeat]);
    if crate::dataset::checked_volume(&shape) != Some(nfeat) || shape.is_empty() {
        return Err(DataError::format(
            path,
            format!("sample shape {shape:?} does not hold the {nfeat} feature columns"),
        ));
    }
    Dataset::new(features, shape, targets, class_names)
}

/// Integer labels keep their value as class id; otherwise names are sorted and numbered.
fn class_targets(path: &Path, raw: Vec<String>) -> Result<(Targets, Vec<String>)> {
    let ints: Option<Vec<u32>> = raw
        .iter()
        .map(|s| {
            s.parse::<u32>().ok().or_else(|| {
                // Tolerate "3.0" written by tools that export labels as floats.
                let f: f64 = s.parse().ok()?;
                (f >= 0.0 && f.fract() == 0.0 && f < 65_536.0).then_some(f as u32)
            })
        })
        .collect();
    if let Some(ints) = ints {
        let max = ints.iter().copied().max().unwrap_or(0) as usize;
        if max >= 65_536 {
            return Err(DataError::format(
                path,
                format!("class label {max} is too large; use `target = \"values\"` for regression"),
            ));
        }
        let names = (0..=max).map(|c| c.to_string()).collect();
        return Ok((Targets::Classes(ints), names));
    }
    let mut ids: BTreeMap<&str, u32> = raw.iter().map(|s| (s.as_str(), 0)).collect();
    for (i, v) in ids.values_mut().enumerate() {
        *v = i as u32;
    }
    let labels = raw.iter().map(|s| ids[s.as_str()]).collect();
    let names = ids.keys().map(|s| s.to_string()).collect();
    Ok((Targets::Classes(labels), names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn header_and_label_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "a.csv", "x,label,y\n1,2,3\n4,0,6.5\n");
        let d = load_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(d.features, vec![1.0, 3.0, 4.0, 6.5]);
        assert_eq!(d.labels().unwrap(), &[2, 0]);
        assert_eq!(d.num_classes, 3);
        assert_eq!(d.sample_shape, vec![2]);
    }

    #[test]
    fn no_header_last_column_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b.csv", "1,2,1\n3,4,0\n");
        let d = load_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(d.features, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.labels().unwrap(), &[1, 0]);
        let opts = CsvOptions {
            label: Some(ColumnRef::Index(0)),
            ..Default::default()
        };
        let d = load_csv(&p, &opts).unwrap();
        assert_eq!(d.labels().unwrap(), &[1, 3]);
        assert_eq!(d.features, vec![2.0, 1.0, 4.0, 0.0]);
    }

    #[test]
    fn string_labels_values_and_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.csv", "a,b,kind\n1,2,dog\n3,4,cat\n5,6,dog\n");
        let d = load_csv(&p, &CsvOptions::default()).unwrap();
        assert_eq!(d.class_names, vec!["cat", "dog"]);
        assert_eq!(d.labels().unwrap(), &[1, 0, 1]);
        let p = write(dir.path(), "d.csv", "a,b,t\n1,2,0.5\n3,4,-1\n");
        let opts = CsvOptions {
            target: TargetKind::Values,
            ..Default::default()
        };
        let d = load_csv(&p, &opts).unwrap();
        assert_eq!(
            d.targets,
            Targets::Values {
                data: vec![0.5, -1.0],
                shape: vec![1]
            }
        );
        let opts = CsvOptions {
            target: TargetKind::None,
            sample_shape: Some(vec![3, 1]),
            ..Default::default()
        };
        let d = load_csv(&p, &opts).unwrap();
        assert_eq!(d.sample_shape, vec![3, 1]);
        assert_eq!(d.features.len(), 6);
    }

    #[test]
    fn ragged_row_names_file_line_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ragged.csv", "a,b,label\n1,2,0\n3,1\n");
        let err = load_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ragged.csv:3:"), "{err}");
        assert!(err.contains("ragged row: 2 cells, expected 3"), "{err}");
    }

    #[test]
    fn non_numeric_cell_names_file_line_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.csv", "a,b,label\n1,2,0\n3,x,1\n");
        let err = load_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.csv:3: column 2"), "{err}");
        assert!(err.contains("non-numeric cell (b)"), "{err}");
        let p = write(dir.path(), "empty_cell.csv", "1,2,0\n1,,0\n");
        let err = load_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty_cell.csv:2: column 2"), "{err}");
    }

    #[test]
    fn binary_garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("garbage.csv");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        std::fs::write(&p, bytes).unwrap();
        let err = load_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("garbage.csv"), "{err}");
    }

    #[test]
    fn bad_options_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "e.csv", "");
        assert!(load_csv(&p, &CsvOptions::default())
            .unwrap_err()
            .to_string()
            .contains("empty CSV"));
        let p = write(dir.path(), "f.csv", "a,b\n1,2\n");
        let opts = CsvOptions {
            label: Some(ColumnRef::Name("nope".into())),
            ..Default::default()
        };
        assert!(load_csv(&p, &opts)
            .unwrap_err()
            .to_string()
            .contains("nope"));
        let opts = CsvOptions {
            sample_shape: Some(vec![2, 2]),
            ..Default::default()
        };
        assert!(load_csv(&p, &opts).is_err());
        let missing = dir.path().join("missing.csv");
        let err = load_csv(&missing, &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.csv"), "{err}");
    }

    #[test]
    fn semicolon_delimiter_and_options_from_toml() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.csv", "1;2;1\n");
        let opts: CsvOptions =
            toml::from_str("delimiter = ';'\nlabel = 0\nheader = false").unwrap();
        let d = load_csv(&p, &opts).unwrap();
        assert_eq!(d.labels().unwrap(), &[1]);
        let opts: CsvOptions =
            toml::from_str("label = \"label\"\nsample_shape = [8, 8, 1]").unwrap();
        assert_eq!(opts.label, Some(ColumnRef::Name("label".into())));
    }
}
