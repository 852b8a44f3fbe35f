//! Reading manifest files: a path is a file, or a directory whose `*.yaml` and `*.yml` files
//! (at any depth, in name order) together form the register.

use std::fs;
use std::path::{Path, PathBuf};

use custos_core::manifest::{MAX_FILE_BYTES, Source};

use crate::AppError;

pub fn read(paths: &[PathBuf]) -> Result<Vec<Source>, AppError> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = fs::metadata(path).map_err(|e| read_error(path, &e))?;
        if metadata.is_dir() {
            collect_dir(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(AppError::Read {
            path: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: "no manifest files (*.yaml, *.yml) found".into(),
        });
    }
    files
        .into_iter()
        .map(|path| {
            let size = fs::metadata(&path)
                .map_err(|e| read_error(&path, &e))?
                .len();
            if size > MAX_FILE_BYTES as u64 {
                return Err(AppError::Read {
                    path: path.display().to_string(),
                    reason: format!("the file is larger than {MAX_FILE_BYTES} bytes"),
                });
            }
            let text = fs::read_to_string(&path).map_err(|e| read_error(&path, &e))?;
            Ok(Source {
                name: path.display().to_string(),
                text,
            })
        })
        .collect()
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), AppError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| read_error(dir, &e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| read_error(dir, &e)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            collect_dir(&entry, files)?;
        } else if entry
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(entry);
        }
    }
    Ok(())
}

fn read_error(path: &Path, error: &std::io::Error) -> AppError {
    AppError::Read {
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}
