//! Class-folder datasets: `root/<class>/<sample file>`.
//!
//! Class ids follow the sorted folder names and samples the sorted file names, so a dataset loads
//! identically everywhere. Hidden entries (`.DS_Store`, `.git`) are skipped and files directly in
//! `root` are ignored (a README may sit there); inside a class folder every other file must carry
//! one of the accepted extensions, otherwise it is an error naming it, so a stray file never
//! silently becomes (or hides) a sample. Neighbours: `audio` and `images` list their inputs here.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::spec::list_dir;

/// Whether `p` has one of `exts` (case-insensitive, without the dot).
pub(crate) fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The class sub-folders of `root`, sorted by name.
pub fn class_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = list_dir(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if dirs.is_empty() {
        return Err(DataError::format(
            root,
            "no class sub-folders (expected root/<class>/<files>)",
        ));
    }
    Ok(dirs)
}

/// The listing of a class-folder dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFiles {
    /// Folder names, indexed by class id.
    pub names: Vec<String>,
    /// `(file, class id)` in class then file-name order.
    pub files: Vec<(PathBuf, u32)>,
}

/// Lists a class-folder dataset.
///
/// `exts` are the accepted extensions, `what` names the file kind in error messages.
pub fn class_files(root: &Path, exts: &[&str], what: &str) -> Result<ClassFiles> {
    let dirs = class_dirs(root)?;
    let mut names = Vec::with_capacity(dirs.len());
    let mut files = Vec::new();
    for (c, dir) in dirs.iter().enumerate() {
        names.push(
            dir.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
        let mut n = 0usize;
        for p in list_dir(dir)? {
            if p.is_dir() {
                continue; // Nested folders are not samples; leave room for e.g. `_background_noise_/x`.
            }
            if !has_ext(&p, exts) {
                return Err(DataError::Unsupported {
                    path: p,
                    reason: format!(
                        "unexpected file, expected {what} files ({})",
                        exts.iter()
                            .map(|e| format!(".{e}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            files.push((p, c as u32));
            n += 1;
        }
        if n == 0 {
            return Err(DataError::EmptyClass {
                path: dir.clone(),
                expected: what.to_string(),
            });
        }
    }
    Ok(ClassFiles { names, files })
}

/// Whether any class folder of `root` holds a file with one of `exts` (for auto-detection).
pub(crate) fn any_class_file_with(root: &Path, exts: &[&str]) -> bool {
    let Ok(dirs) = class_dirs(root) else {
        return false;
    };
    dirs.iter().any(|d| {
        list_dir(d)
            .map(|files| files.iter().any(|f| has_ext(f, exts)))
            .unwrap_or(false)
    })
}
