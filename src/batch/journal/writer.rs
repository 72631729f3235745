//! The journal's one writer: a thread of its own that takes every pending record, writes them
//! together and makes them durable with one `fsync` (group commit), then answers each caller —
//! so no async task ever blocks on the disk, and a burst of submits shares its syncs.
//!
//! It also keeps disk space **reserved** ahead of the records (`fallocate` with `KEEP_SIZE` on
//! Linux: blocks owned by the journal, the file's length unchanged). When the reserve runs low and
//! cannot be topped up, the disk is nearly full: the writer refuses records of new spending
//! (`submitting`) while the reserve still holds every record the tasks already paid for need.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Bytes reserved ahead of the journal's end at a time.
pub const RESERVE_CHUNK: u64 = 1 << 20;

/// When fewer reserved bytes than this remain, the reserve is topped up; if that fails, no more
/// new spending is recorded. It covers the closing records of a few thousand tasks in flight.
pub const RESERVE_LOW_WATER: u64 = 512 << 10;

/// Why a record was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteRefusal {
    /// The disk is (nearly) full: no new spending is recorded.
    LowSpace,
    /// Writing or syncing failed (the journal was cut back to its last whole record).
    Failed(String),
    /// The writer has stopped.
    Closed,
}

/// One record to write, and whom to tell.
struct Append {
    line: Vec<u8>,
    new_spending: bool,
    reply: Box<dyn FnOnce(Result<(), WriteRefusal>) + Send>,
}

/// The handle to the writer thread; dropping it writes what is pending and stops the thread.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<Append>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer over `file`, whose records end at `len` bytes.
    pub fn start(file: File, len: u64) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let mut disk = Disk {
            file,
            len,
            reserved_to: len,
            low_space: false,
            broken: None,
        };
        disk.top_up();
        let thread = std::thread::Builder::new()
            .name("bfl-journal".into())
            .spawn(move || disk.serve(&rx))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `line`; `reply` is called once it is on disk, or refused.
    pub fn append(
        &self,
        line: Vec<u8>,
        new_spending: bool,
        reply: Box<dyn FnOnce(Result<(), WriteRefusal>) + Send>,
    ) {
        let append = Append {
            line,
            new_spending,
            reply,
        };
        match &self.tx {
            Some(tx) => {
                if let Err(mpsc::SendError(append)) = tx.send(append) {
                    (append.reply)(Err(WriteRefusal::Closed));
                }
            }
            None => (append.reply)(Err(WriteRefusal::Closed)),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread's side.
struct Disk {
    file: File,
    /// Where the last whole record ends.
    len: u64,
    /// Up to where blocks are reserved.
    reserved_to: u64,
    low_space: bool,
    /// The error that broke a write, if one did: no new spending is recorded after it.
    broken: Option<String>,
}

impl Disk {
    fn serve(&mut self, rx: &mpsc::Receiver<Append>) {
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            group.extend(rx.try_iter());
            self.commit(group);
        }
        self.release_reserve();
    }

    /// Gives back the blocks reserved past the last record once nothing more will be written
    /// (truncating to the file's own length frees what `KEEP_SIZE` allocated beyond it).
    fn release_reserve(&mut self) {
        if self.reserved_to != u64::MAX && self.reserved_to > self.len && self.broken.is_none() {
            if let Err(e) = self.file.set_len(self.len) {
                tracing::debug!(error = %e, "the journal's reserve could not be given back");
            }
        }
    }

    /// Writes the group's accepted records with one write and one sync, then answers each.
    fn commit(&mut self, group: Vec<Append>) {
        let mut batch = Vec::new();
        let mut accepted = Vec::new();
        for append in group {
            if append.new_spending && (self.low_space || self.broken.is_some()) {
                let refusal = match &self.broken {
                    Some(e) => WriteRefusal::Failed(e.clone()),
                    None => WriteRefusal::LowSpace,
                };
                (append.reply)(Err(refusal));
            } else {
                batch.extend_from_slice(&append.line);
                accepted.push(append.reply);
            }
        }
        if accepted.is_empty() {
            return;
        }
        let result = self.write_durably(&batch);
        for reply in accepted {
            reply(result.clone());
        }
        self.top_up();
    }

    fn write_durably(&mut self, batch: &[u8]) -> Result<(), WriteRefusal> {
        let written = self
            .file
            .write_all(batch)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += batch.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut a partial write back off, so later records follow a whole line.
                let _ = self.file.set_len(self.len);
                let _ = self.file.sync_data();
                let message = e.to_string();
                self.broken = Some(message.clone());
                Err(WriteRefusal::Failed(message))
            }
        }
    }

    /// Keeps at least [`RESERVE_LOW_WATER`] bytes reserved past the end, or marks the disk low.
    fn top_up(&mut self) {
        if self.reserved_to.saturating_sub(self.len) >= RESERVE_LOW_WATER {
            return;
        }
        match reserve(&self.file, self.len, RESERVE_CHUNK) {
            Ok(true) => {
                self.reserved_to = self.len + RESERVE_CHUNK;
                self.low_space = false;
            }
            // A file system that cannot reserve: appends take their chance, as before.
            Ok(false) => self.reserved_to = u64::MAX,
            Err(e) => {
                tracing::warn!(error = %e, "the journal's disk is nearly full: no new submits");
                self.low_space = true;
            }
        }
    }
}

/// Reserves `len` bytes of blocks from `offset` without changing the file's length; `Ok(false)`
/// where the platform or file system cannot.
#[cfg(target_os = "linux")]
fn reserve(file: &File, offset: u64, len: u64) -> std::io::Result<bool> {
    use rustix::fs::{fallocate, FallocateFlags};
    match fallocate(file, FallocateFlags::KEEP_SIZE, offset, len) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::OPNOTSUPP) | Err(rustix::io::Errno::NOSYS) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(_file: &File, _offset: u64, _len: u64) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(writer: &Writer, line: &str, new_spending: bool) -> Result<(), WriteRefusal> {
        let (tx, rx) = mpsc::sync_channel(1);
        writer.append(
            line.as_bytes().to_vec(),
            new_spending,
            Box::new(move |r| drop(tx.send(r))),
        );
        rx.recv().unwrap_or(Err(WriteRefusal::Closed))
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_failed_write_is_reported_and_no_new_spending_is_recorded_after_it() {
        // /dev/full fails every write with ENOSPC: an injected journal-write failure.
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: no /dev/full");
            return;
        };
        let writer = Writer::start(full, 0).unwrap();
        let first = append(&writer, "{\"event\":\"submitted\"}\n", false);
        assert!(matches!(first, Err(WriteRefusal::Failed(_))), "{first:?}");
        let next = append(&writer, "{\"event\":\"submitting\"}\n", true);
        assert!(matches!(next, Err(WriteRefusal::Failed(_))), "{next:?}");
    }

    #[test]
    fn records_are_written_whole_and_in_order() {
        let dir = std::env::temp_dir().join(format!("bfl-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.jsonl");
        let file = std::fs::File::create(&path).unwrap();
        let writer = Writer::start(file, 0).unwrap();
        for i in 0..50 {
            append(&writer, &format!("{i}\n"), i % 2 == 0).unwrap();
        }
        drop(writer);
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: String = (0..50).map(|i| format!("{i}\n")).collect();
        assert_eq!(text, expected);
        // The reserve ahead of the records is given back when the writer stops.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let blocks = std::fs::metadata(&path).unwrap().blocks();
            assert!(
                blocks * 512 < RESERVE_LOW_WATER,
                "{blocks} blocks still held"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
