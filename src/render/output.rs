//! Writing rendered files, and comparing them with what is on disk (`synth --check`).

use std::fmt;
use std::path::Path;

use super::{RenderError, RenderedFile};

/// A rendered file that differs from (or is missing in) the output folder.
#[derive(Debug)]
pub struct Drift {
    pub path: String,
    /// Unified diff from the file on disk to the rendered one.
    pub diff: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diff)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RenderError + '_ {
    move |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write files under `out`, leaving unchanged files untouched. Returns how many were written.
pub fn write(files: &[RenderedFile], out: &Path) -> Result<usize, RenderError> {
    for file in files {
        let path = out.join(&file.path);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == file.contents) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&path, &file.contents).map_err(io(&path))?;
    }
    Ok(files.len())
}

/// Every rendered file that differs from the file on disk, with a unified diff.
pub fn compare(files: &[RenderedFile], out: &Path) -> Result<Vec<Drift>, RenderError> {
    let mut drift = Vec::new();
    for file in files {
        let path = out.join(&file.path);
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        if old != file.contents {
            let name = path.display().to_string();
            let diff = similar::TextDiff::from_lines(&old, &file.contents)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string();
            drift.push(Drift { path: name, diff });
        }
    }
    Ok(drift)
}
