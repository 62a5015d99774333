//! The read-ahead bound, seen on a feed directly: reading stops once a
//! member holds [`INBOX_LIMIT`] messages, and goes on once it takes them.

#![allow(clippy::unwrap_used)]

use std::task::Waker;

use weir_core::{MessageHeader, SeqNo, ShardId, StreamKey, Timestamp};

use super::{Feed, BATCH, INBOX_LIMIT};
use crate::{Encoder, FileHeader};

const MESSAGES: u64 = 10_000;

fn file_of(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-file-feed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let at = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
    let header = FileHeader::new(name, at, 1024 * 1024).unwrap();
    let mut out = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut out).unwrap();
    let key = StreamKey::new("s").unwrap();
    for i in 0..MESSAGES {
        encoder
            .encode(&MessageHeader::new(key.clone(), ShardId(0), SeqNo(i), at), b"0123456789", &mut out)
            .unwrap();
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// Runs the feed's jobs until none is due; how many ran (bounded: a feed
/// that always has work would read the whole file, and fail the test).
fn run_jobs(feed: &std::sync::Arc<Feed>) -> usize {
    let mut ran = 0;
    while let Some(job) = feed.take_job() {
        job();
        ran += 1;
        assert!(ran < 100, "still reading after {ran} jobs: the read-ahead has no bound");
    }
    ran
}

fn held(feed: &Feed, id: super::MemberId) -> usize {
    feed.lock().members[&id].inbox.len()
}

#[test]
fn a_member_that_takes_nothing_stops_the_reading() {
    let path = file_of("bound.ss");
    let feed = Feed::new(&path, false, false, None);
    let id = feed.join(vec![StreamKey::new("s").unwrap()]);
    assert!(run_jobs(&feed) > 0);
    let first = held(&feed, id);
    assert!((INBOX_LIMIT..INBOX_LIMIT + BATCH).contains(&first), "{first} held after reading stopped");
    // Taking them makes room: reading goes on, to the bound again.
    let taken = feed.take(id, Waker::noop());
    assert_eq!((taken.messages.len(), taken.messages[0].header.seq), (first, SeqNo(0)));
    assert!(run_jobs(&feed) > 0, "room again: reading goes on");
    let second = held(&feed, id);
    assert!((INBOX_LIMIT..INBOX_LIMIT + BATCH).contains(&second), "{second} held");
    assert_eq!(feed.take(id, Waker::noop()).messages[0].header.seq, SeqNo(first as u64), "nothing skipped");
    // A paused member (its core's buffer is full) holds reading back too.
    feed.set_paused(id, true);
    assert_eq!(run_jobs(&feed), 0, "no read for a paused member");
    let _ = std::fs::remove_file(&path);
}
