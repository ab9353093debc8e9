//! Saving a rendered report into the reports directory: a file name that cannot leave the
//! directory, then a temporary file next to the target, synced and renamed over it, so that
//! whoever reads the directory (the office's web server) never sees half a page.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use faccia_domain::Lang;

use crate::client::{self, ReportsApi};
use crate::model::{Msg, ReportDoc, SaveError};

fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 120
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The server's suggested file name when it is a plain name (letters, digits, `.`, `-`, `_`,
/// not starting with a dot, at most 120 characters); otherwise ours for `doc`. With `site`
/// (the console watches several offices, whose documents share the reports directory) the
/// name holds the site's id: `milano-faccia-2026-11.html` unless the server's name has it.
pub fn file_name(suggested: &str, doc: ReportDoc, site: Option<&str>) -> String {
    let name = if plain(suggested) {
        suggested.to_string()
    } else {
        doc.fallback_file_name()
    };
    let Some(site) = site else {
        return name;
    };
    let tag: String = site
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let tag = tag.trim_matches('-');
    if tag.is_empty() || name.contains(tag) {
        return name;
    }
    let tagged = format!("{tag}-{name}");
    if plain(&tagged) {
        tagged
    } else {
        name
    }
}

/// Writes `content` to `dir/name` atomically (temporary file, sync, rename). Returns the path
/// written, absolute when it can be made so.
pub fn write_atomic(dir: &Path, name: &str, content: &[u8]) -> Result<PathBuf, SaveError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = dir.join(name);
    let shown = std::path::absolute(&target).unwrap_or_else(|_| target.clone());
    let io = |e: std::io::Error| SaveError::Io {
        path: shown.display().to_string(),
        message: e.to_string(),
    };
    let tmp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::File::create_new(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    // Make the rename itself durable where the platform allows it; a failure here does not undo
    // a file that is already in place.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(shown)
}

/// Where and how a document is saved: into `dir`, named for `site` when several offices share
/// the directory ([`file_name`]).
#[derive(Debug, Clone)]
pub struct SaveTo {
    pub dir: PathBuf,
    pub site: Option<String>,
}

/// Asks the server for `doc` about `site_id` and writes it, as a message for the model.
pub async fn render_and_save(
    api: ReportsApi,
    site_id: &str,
    doc: ReportDoc,
    lang: Lang,
    to: SaveTo,
) -> Msg {
    let SaveTo { dir, site } = to;
    let result = match client::render(api, site_id, doc, lang).await {
        Err(e) => Err(SaveError::Api(e)),
        Ok(d) if d.content.is_empty() => Err(SaveError::Empty),
        Ok(d) => {
            let name = file_name(&d.file_name, doc, site.as_deref());
            match tokio::task::spawn_blocking(move || write_atomic(&dir, &name, &d.content)).await {
                Ok(r) => r.map(|p| p.display().to_string()),
                Err(e) => Err(SaveError::Io {
                    path: String::new(),
                    message: e.to_string(),
                }),
            }
        }
    };
    Msg::ReportSaved { doc, result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::YearMonth;

    #[test]
    fn names_stay_in_the_directory() {
        let m = YearMonth::new(2026, 11).expect("month");
        let doc = ReportDoc::MonthlyHtml(m);
        assert_eq!(
            file_name("faccia-2026-11.html", doc, None),
            "faccia-2026-11.html"
        );
        assert_eq!(
            file_name("faccia-2026-11.html", doc, Some("milano")),
            "milano-faccia-2026-11.html"
        );
        assert_eq!(
            file_name("faccia-milano-2026-11.html", doc, Some("milano")),
            "faccia-milano-2026-11.html"
        );
        assert_eq!(
            file_name("../x", doc, Some("c_e001/../anagrafe")),
            "c_e001----anagrafe-faccia-2026-11.html"
        );
        for bad in [
            "",
            "../etc/passwd",
            "/tmp/x.html",
            ".hidden",
            "a b.html",
            "x\\y",
        ] {
            assert_eq!(file_name(bad, doc, None), "faccia-2026-11.html", "{bad:?}");
        }
        assert_eq!(
            file_name(
                "",
                ReportDoc::Ministry {
                    from: m.january(),
                    to: m
                },
                None
            ),
            "faccia-ministero-2026-01-2026-11.csv"
        );
    }

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_atomic(dir.path(), "r.html", b"one").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"one");
        write_atomic(dir.path(), "r.html", b"two").expect("write");
        assert_eq!(fs::read(dir.path().join("r.html")).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.html")]);
        let missing = dir.path().join("nope");
        match write_atomic(&missing, "r.html", b"x") {
            Err(SaveError::Io { path, .. }) => assert!(path.ends_with("r.html"), "{path}"),
            other => panic!("{other:?}"),
        }
    }
}
