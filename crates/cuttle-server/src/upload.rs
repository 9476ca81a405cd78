//! Receiving an upload (an export archive): the body goes to a file as it arrives, never whole
//! in memory, under a size limit; meanwhile a second thread hashes it and reads it through as an
//! archive ([`cuttle_engine::archive::index_stream`]), so that when the last byte is stored the
//! upload is known good (and indexed, for the import not to read it again) or refused, without
//! being read back.

use std::io::{Read, Write};
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use bytes::BytesMut;
use cuttle_engine::archive::{self, Archive, ArchiveError, Limits, Unpacked};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::problem::ApiError;

/// The largest upload taken.
pub(crate) const UPLOAD_LIMIT: u64 = 16 << 30;

/// The body goes to the threads in pieces of about this size (hyper's chunks are a few KiB:
/// passed on one by one, the passing would cost more than the writing).
const PIECE: usize = 1 << 20;
/// Pieces in flight to each thread, at most.
const IN_FLIGHT: usize = 8;

/// An upload, stored.
pub(crate) struct Received {
    pub bytes: u64,
    pub sha256: String,
    /// What reading it through as an archive found, and its index; or why it is refused.
    pub checked: Result<(Unpacked, Archive), ArchiveError>,
}

/// Writes the body to `path` (a new file) as it arrives, and checks and hashes it meanwhile.
/// On an error, what was written is left for the caller to remove.
pub(crate) async fn receive(body: Body, path: &Path) -> Result<Received, ApiError> {
    let storing = |e: std::io::Error| ApiError::internal(&format!("storing the upload: {e}"));
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(storing)?
        .into_std()
        .await;
    let (to_writer, mut for_writer) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let (to_checker, for_checker) = mpsc::channel::<Bytes>(IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        while let Some(chunk) = for_writer.blocking_recv() {
            file.write_all(&chunk)?;
        }
        file.flush()
    });
    let label = path.display().to_string();
    let checker = tokio::task::spawn_blocking(move || {
        let mut stream = Chunks {
            chunks: for_checker,
            current: Bytes::new(),
            hash: Sha256::new(),
        };
        let checked = archive::index_stream(&mut stream, &label, &Limits::default());
        // The rest (after the archive's end, or after what was refused) is hashed too.
        let _ = std::io::copy(&mut stream, &mut std::io::sink());
        (checked, hex::encode(stream.hash.finalize()))
    });
    let mut body = body.into_data_stream();
    let mut bytes = 0u64;
    let mut piece = BytesMut::with_capacity(PIECE);
    // The checker reads to the end whatever it finds; the writer stops at an error, which is
    // reported below.
    let pass_on = async |piece: Bytes| {
        let _ = to_checker.send(piece.clone()).await;
        to_writer.send(piece).await.is_ok()
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body",
                format!("the upload did not arrive whole: {e}"),
            )
        })?;
        bytes += chunk.len() as u64;
        if bytes > UPLOAD_LIMIT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("an upload is at most {} GiB", UPLOAD_LIMIT >> 30),
            ));
        }
        piece.extend_from_slice(&chunk);
        if piece.len() >= PIECE {
            let full = std::mem::replace(&mut piece, BytesMut::with_capacity(PIECE));
            if !pass_on(full.freeze()).await {
                break;
            }
        }
    }
    if !piece.is_empty() {
        pass_on(piece.freeze()).await;
    }
    drop((to_writer, to_checker));
    let stopped = |_| ApiError::internal("receiving the upload stopped");
    writer.await.map_err(stopped)?.map_err(storing)?;
    let (checked, sha256) = checker.await.map_err(stopped)?;
    let checked = checked.and_then(|(unpacked, index)| Ok((unpacked, index.stored_in(path)?)));
    Ok(Received {
        bytes,
        sha256,
        checked,
    })
}

/// The body's chunks as a byte stream, hashed as they are read.
struct Chunks {
    chunks: mpsc::Receiver<Bytes>,
    current: Bytes,
    hash: Sha256,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let taken = self.current.split_to(n);
        self.hash.update(&taken);
        buf[..n].copy_from_slice(&taken);
        Ok(n)
    }
}
