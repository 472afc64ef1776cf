//! Writing rendered files, and comparing them with what is on disk (`synth --check`).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{RenderError, RenderedFile};

/// A rendered file that differs from (or is missing in) the output folder.
#[derive(Debug)]
pub struct Stale {
    pub path: String,
    /// Unified diff from the file on disk to the rendered one.
    pub diff: String,
}

impl fmt::Display for Stale {
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

/// Refuses a symbolic link anywhere on the way to a rendered file: writing
/// or removing through one would touch files outside the output folder.
fn refuse_links(files: &[RenderedFile], out: &Path) -> Result<(), RenderError> {
    let mut checked = BTreeSet::new();
    for file in files {
        let mut path = out.to_path_buf();
        for component in file.path.components() {
            path.push(component);
            if !checked.insert(path.clone()) {
                continue;
            }
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(RenderError::Link { path });
            }
        }
    }
    Ok(())
}

/// Files under `out/<spec name>/` that no longer belong to the rendering.
fn leftovers(files: &[RenderedFile], out: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let rendered: BTreeSet<PathBuf> = files.iter().map(|f| out.join(&f.path)).collect();
    let roots: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.path.components().next())
        .map(|c| out.join(c))
        .collect();
    let mut stale = Vec::new();
    let mut pending: Vec<PathBuf> = roots.into_iter().filter(|r| r.is_dir()).collect();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                return Err(RenderError::Link { path });
            }
            if kind.is_dir() {
                pending.push(path);
            } else if !rendered.contains(&path) {
                stale.push(path);
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// Write files under `out`, leaving unchanged files untouched and removing
/// files of the same specs that are no longer rendered (a dropped
/// environment, say). Returns how many files the rendering has.
pub fn write(files: &[RenderedFile], out: &Path) -> Result<usize, RenderError> {
    refuse_links(files, out)?;
    for path in leftovers(files, out)? {
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
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
pub fn compare(files: &[RenderedFile], out: &Path) -> Result<Vec<Stale>, RenderError> {
    refuse_links(files, out)?;
    let mut stale = Vec::new();
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
            stale.push(Stale { path: name, diff });
        }
    }
    for path in leftovers(files, out)? {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let name = path.display().to_string();
        let diff = similar::TextDiff::from_lines(old.as_str(), "")
            .unified_diff()
            .header(&format!("a/{name}"), "/dev/null")
            .to_string();
        stale.push(Stale { path: name, diff });
    }
    Ok(stale)
}
