//! The `.ss` codec on arbitrary bytes, and on files built from the bytes.
//!
//! 1. Any bytes, as a file and after a valid header (so frames and beacons are
//!    reached), decode without panicking; items come in file order, and an
//!    error names an offset inside the file.
//! 2. Messages derived from the bytes, encoded with a small beacon interval,
//!    decode back to themselves; cut anywhere, the file yields a prefix of
//!    them and, unless the cut falls between items, a torn frame.

use bytes::Bytes;
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};
use weir_file::{decode_all, Encoder, FileHeader, FormatError, Item, WholeFile};

use crate::input::Input;

/// Runs both checks on `data`; panics when an invariant is broken.
pub fn file_codec(data: &[u8]) {
    check_arbitrary(&Bytes::copy_from_slice(data));
    let Some(header) = header() else { return };
    let mut file = header.encode().map(|b| b.to_vec()).unwrap_or_default();
    file.extend_from_slice(data);
    check_arbitrary(&Bytes::from(file));
    round_trip(data, &header);
}

fn header() -> Option<FileHeader> {
    let created = Timestamp::from_unix_millis(1_700_000_000_000).ok()?;
    FileHeader::new("fuzz.ss", created, 1024).ok()
}

fn check_arbitrary(file: &Bytes) {
    let whole = decode_all(file);
    let mut at = 0;
    for item in &whole.items {
        assert!(item.offset >= at && item.end > item.offset, "items in order: {item:?}");
        at = item.end;
    }
    assert!(at as usize <= file.len(), "items end inside the file");
    if let Some(FormatError::TornFrame { offset, present }) = &whole.error {
        assert_eq!(offset + present, file.len() as u64, "a torn frame runs to the end of the file");
    }
}

fn messages(data: &[u8]) -> Vec<Message> {
    let mut input = Input::new(data);
    let keys = ["a", "orders", "SEA_STREAMER_INTERNAL"].map(StreamKey::new);
    let mut out = Vec::new();
    while !input.is_empty() && out.len() < 64 {
        let Ok(key) = keys[input.below(3)].clone() else { continue };
        let len = usize::from(input.u16()) % 3000;
        let fill = input.byte();
        let Ok(timestamp) = Timestamp::from_unix_millis(i64::from(input.u16())) else { continue };
        let header = MessageHeader::new(
            key,
            ShardId(u32::from(input.byte() % 3)),
            SeqNo(u64::from(input.u16())),
            timestamp,
        );
        out.push(Message::new(header, Payload::new(vec![fill; len])));
    }
    out
}

fn round_trip(data: &[u8], header: &FileHeader) {
    let sent = messages(data);
    let mut file = Vec::new();
    let Ok(mut encoder) = Encoder::new_file(header, &mut file) else { panic!("a valid header encodes") };
    for message in &sent {
        let encoded = encoder.encode(&message.header, message.payload.as_bytes(), &mut file);
        assert!(encoded.is_ok(), "{encoded:?}");
    }
    let file = Bytes::from(file);
    let whole = decode_all(&file);
    assert_eq!(whole.error, None);
    assert_eq!(payloads(&whole), sent.iter().map(|m| m.payload.clone()).collect::<Vec<_>>());
    // Cut at a point the bytes choose: a prefix of the messages, then a tear.
    let cut = usize::from(Input::new(data).u16()) % (file.len() + 1);
    let torn = decode_all(&file.slice(..cut));
    let read = payloads(&torn);
    assert!(read.len() <= sent.len());
    assert!(read.iter().zip(&sent).all(|(r, s)| *r == s.payload), "a prefix of what was written");
}

/// Payloads of the frames read, the end-of-stream frame included as such.
fn payloads(whole: &WholeFile) -> Vec<Payload> {
    whole
        .items
        .iter()
        .filter_map(|d| match &d.item {
            Item::Message(m) => Some(m.payload.clone()),
            Item::EndOfStream(_) => Some(Payload::from("EOS")),
            Item::Beacon(_) => None,
        })
        .collect()
}
