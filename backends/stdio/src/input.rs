//! Where the hub's lines come from, and how a read fills its buffer.
//!
//! From a file descriptor (the process's stdin, or one given), a read goes
//! straight into the buffer's spare capacity: no zeroing first, which cost
//! about a tenth of the reader's instructions. Any other `Read` gets a zeroed
//! slice, as `Read::read` requires.
//!
//! On Linux the process's stdin and stdout, when they are pipes, are grown to
//! [`PIPE_SIZE`] so that a writer and a reader of a full pipe wake each other
//! less often; a read then takes up to a whole pipe.

use std::io::Read;
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// How much a read asks for at least (and all it asks for from anything
/// but a larger pipe).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The pipe size asked for (Linux's default is 64 KiB). A larger pipe means
/// fewer wake-ups still, but 1 MiB made `weir relay` slower through pipes
/// than 256 KiB did: a pipe's and a read's data no longer stayed in cache.
#[cfg(target_os = "linux")]
const PIPE_SIZE: usize = 256 * 1024;

/// The hub's input.
pub(crate) enum Source {
    /// The process's stdin: what std's own buffer holds first, then the descriptor.
    #[cfg(unix)]
    Stdin { stdin: std::io::Stdin, std_drained: bool },
    /// A file descriptor of its own, e.g. a pipe or a file.
    #[cfg(unix)]
    Fd(OwnedFd),
    /// Anything else.
    Reader(Box<dyn Read + Send>),
}

impl Source {
    /// The process's stdin.
    pub(crate) fn stdin() -> Self {
        #[cfg(unix)]
        {
            Self::Stdin { stdin: std::io::stdin(), std_drained: false }
        }
        #[cfg(not(unix))]
        {
            Self::Reader(Box::new(std::io::stdin()))
        }
    }

    /// How much a read asks for: at least [`READ_CHUNK`], and a whole pipe
    /// from a pipe.
    pub(crate) fn read_size(&self) -> usize {
        let pipe = match self {
            #[cfg(unix)]
            Self::Stdin { stdin, .. } => pipe_size(stdin.as_fd()),
            #[cfg(unix)]
            Self::Fd(fd) => pipe_size(fd.as_fd()),
            Self::Reader(_) => None,
        };
        pipe.unwrap_or(0).max(READ_CHUNK)
    }

    /// Reads once into `buf`'s spare capacity (there must be some) and
    /// appends what was read: its length, 0 at the end of input.
    pub(crate) fn read_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        debug_assert!(buf.capacity() > buf.len(), "no room to read into");
        match self {
            #[cfg(unix)]
            Self::Stdin { stdin, std_drained } => {
                if !*std_drained {
                    // Whatever std buffered (less than its 8 KiB, less than a
                    // read) comes first, through std; after it, std's buffer
                    // is empty and the descriptor is read directly.
                    *std_drained = true;
                    return read_zeroed(&mut stdin.lock(), buf);
                }
                read_fd(stdin.as_fd(), buf)
            }
            #[cfg(unix)]
            Self::Fd(fd) => read_fd(fd.as_fd(), buf),
            Self::Reader(reader) => read_zeroed(reader, buf),
        }
    }
}

#[cfg(unix)]
fn read_fd(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    Ok(rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?)
}

/// `Read::read` into `buf`'s spare capacity, zeroed first.
fn read_zeroed(reader: &mut (impl Read + ?Sized), buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let filled = buf.len();
    buf.resize(buf.capacity(), 0);
    let read = reader.read(&mut buf[filled..]);
    buf.truncate(filled + *read.as_ref().unwrap_or(&0));
    read
}

/// The size of the pipe `fd` is, if it is one.
#[cfg(unix)]
fn pipe_size(fd: BorrowedFd<'_>) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        rustix::pipe::fcntl_getpipe_size(fd).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        None
    }
}

/// Grows the pipe `fd` is, if it is one, to [`PIPE_SIZE`]. A refusal (the
/// user's pipe memory at its limit) leaves it as it was.
#[cfg(unix)]
pub(crate) fn grow_pipe(fd: BorrowedFd<'_>) {
    #[cfg(target_os = "linux")]
    if let Some(size @ ..PIPE_SIZE) = pipe_size(fd) {
        if let Err(err) = rustix::pipe::fcntl_setpipe_size(fd, PIPE_SIZE) {
            tracing::debug!(size, %err, "cannot grow a pipe of stdin or stdout: keeping its size");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}
