//! Streaming a result image to disk: frames go to a temporary file beside the destination, which
//! is synced and renamed into place only when the whole body arrived and is an image
//! ([`bfl_core::image::check_image`]). On any failure — a body that is not the image, or the
//! request being dropped by its timeout — the temporary file is removed, so an existing file of
//! that name is never replaced by a bad body.

use crate::body::{body_error, check_declared};
use bfl_core::image::{check_image, declared_length, Head};
use bfl_core::transport::{temp_path_for, Cause, DownloadedFile, TransportError};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Removes the temporary file when dropped, unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the file may not exist yet.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> TransportError {
    TransportError::Io(Cause::with_source(
        format!("{what} {}: {err}", path.display()),
        err,
    ))
}

/// Writes the body to `dest` through a temporary file, enforcing `cap`, `Content-Length` and the
/// image check.
pub(crate) async fn stream_to_file(
    headers: &http::HeaderMap,
    mut body: Incoming,
    dest: &Path,
    cap: u64,
) -> Result<DownloadedFile, TransportError> {
    check_declared(headers, cap)?;
    let declared = declared_length(headers);
    let mut tmp = TempFile {
        path: temp_path_for(dest),
        armed: true,
    };
    // The image is paid for: a missing output directory must not be what loses it.
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error("creating the directory of", dest, e))?;
    }
    let mut file = tokio::fs::File::create(&tmp.path)
        .await
        .map_err(|e| io_error("creating", &tmp.path, e))?;
    let mut written: u64 = 0;
    let mut head = Head::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            written += data.len() as u64;
            head.push(&data);
            if written > cap {
                return Err(TransportError::BodyTooLarge { limit: cap });
            }
            file.write_all(&data)
                .await
                .map_err(|e| io_error("writing", &tmp.path, e))?;
        }
    }
    let format = check_image(head.as_bytes(), written, declared)?;
    file.flush()
        .await
        .map_err(|e| io_error("flushing", &tmp.path, e))?;
    file.sync_all()
        .await
        .map_err(|e| io_error("syncing", &tmp.path, e))?;
    drop(file);
    tokio::fs::rename(&tmp.path, dest)
        .await
        .map_err(|e| io_error("renaming into", dest, e))?;
    tmp.armed = false;
    Ok(DownloadedFile {
        path: dest.to_path_buf(),
        len: written,
        format: Some(format),
    })
}
