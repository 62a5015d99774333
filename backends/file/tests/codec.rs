//! The pure codec: what the encoder writes the decoder reads back, from the
//! start or from any beacon; corrupt and torn files give errors naming offsets.

use bytes::Bytes;
use proptest::prelude::*;
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};
use weir_file::format::HEADER_SIZE;
use weir_file::{decode_all, Decoder, Encoder, FileHeader, FormatError, Item};

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis).expect("test timestamps are in range")
}

/// Messages over three streams and two shards, with binary payloads of every
/// size from empty to several intervals long.
fn messages(count: usize) -> Vec<Message> {
    let keys = ["orders", "payments", "a.b-c_d"].map(|k| StreamKey::new(k).expect("valid key"));
    (0..count)
        .map(|i| {
            let key = keys[i % 3].clone();
            let len = (i * 97) % 3000;
            let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8).collect();
            let header = MessageHeader::new(
                key,
                ShardId((i % 2) as u32),
                SeqNo(i as u64 + 1),
                at(1_700_000_000_000 + i as i64),
            );
            Message::new(header, Payload::new(payload))
        })
        .collect()
}

fn write(messages: &[Message], interval: u32, eos: bool) -> Bytes {
    let header = FileHeader::new("test.ss", at(1_700_000_000_000), interval).expect("valid header");
    let mut out = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut out).expect("header encodes");
    for message in messages {
        encoder.encode(&message.header, message.payload.as_bytes(), &mut out).expect("frame encodes");
    }
    if eos {
        let key = StreamKey::new("SEA_STREAMER_INTERNAL").expect("valid key");
        let header = MessageHeader::new(key, ShardId(0), SeqNo(0), at(1_800_000_000_000));
        encoder.encode(&header, b"EOS", &mut out).expect("eos encodes");
    }
    assert_eq!(encoder.offset(), out.len() as u64, "the encoder tracks the file offset");
    Bytes::from(out)
}

fn read_messages(file: &Bytes) -> Vec<Message> {
    decode_all(file)
        .items
        .into_iter()
        .filter_map(|d| match d.item {
            Item::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn frames_split_by_beacons_read_back_whole() {
    let sent = messages(200);
    let file = write(&sent, 1024, true);
    let whole = decode_all(&file);
    assert_eq!(whole.error, None);
    assert_eq!(read_messages(&file), sent);
    // The file spans hundreds of beacon intervals: most frames are split by one.
    assert!(file.len() > 200 * 1024, "{} bytes", file.len());
    assert_eq!(whole.items.last().map(|d| &d.item), Some(&Item::EndOfStream(at(1_800_000_000_000))));
}

#[test]
fn every_beacon_leads_to_the_next_frame() {
    let sent = messages(120);
    let file = write(&sent, 1024, false);
    let whole = decode_all(&file);
    let header = whole.header.clone().expect("valid header");
    let mut decoder = Decoder::new(&header);
    let mut checked = 0;
    for index in 1..=(file.len() as u64 / 1024) {
        let base = index * 1024;
        let (beacon, next) = decoder
            .after_beacon(&file.slice(base as usize..), base)
            .expect("beacon parses")
            .expect("beacon is whole");
        assert_eq!(beacon.index, index);
        // The first message starting at or after `next` is what a reader from here gets.
        let expected = whole.items.iter().find(|d| d.offset >= next).map(|d| d.offset);
        if (next as usize) < file.len() {
            assert_eq!(expected, Some(next), "beacon {index} points at an item boundary");
            checked += 1;
        }
        // Markers report, for their shard, the last message written up to the beacon.
        for marker in &beacon.markers {
            let last = sent
                .iter()
                .zip(whole.items.iter().filter(|d| matches!(d.item, Item::Message(_))))
                .filter(|(m, d)| {
                    d.offset < base
                        && m.header.stream_key == marker.stream_key
                        && m.header.shard == marker.shard
                })
                .map(|(m, _)| m.header.seq)
                .max();
            assert_eq!(Some(marker.seq), last, "marker of beacon {index}");
        }
    }
    assert!(checked > 10);
}

#[test]
fn a_torn_last_frame_keeps_every_frame_before_it() {
    let sent = messages(30);
    let file = write(&sent, 1024, false);
    let full = decode_all(&file);
    let last = full.items.iter().rev().find(|d| matches!(d.item, Item::Message(_))).expect("a message");
    for cut in last.offset as usize + 1..last.end as usize {
        let torn = decode_all(&file.slice(..cut));
        assert_eq!(read_messages(&file.slice(..cut)), sent[..sent.len() - 1], "cut at {cut}");
        assert_eq!(
            torn.error,
            Some(FormatError::TornFrame { offset: last.offset, present: cut as u64 - last.offset }),
            "cut at {cut}"
        );
    }
}

#[test]
fn corruption_is_an_error_naming_its_offset() {
    let sent = messages(10);
    let file = write(&sent, 1024, false);
    let full = decode_all(&file);
    let third = &full.items[2];
    // A flipped payload byte: the checksum no longer matches.
    let mut bytes = file.to_vec();
    bytes[third.end as usize - 4] ^= 0xff;
    let broken = decode_all(&Bytes::from(bytes));
    assert!(
        matches!(broken.error, Some(FormatError::Checksum { offset, .. }) if offset == third.offset),
        "{:?}",
        broken.error
    );
    assert_eq!(broken.items.len(), 2, "the frames before it are read");
    // A length past the end of the file: a torn frame at that offset.
    let mut bytes = file.to_vec();
    let len_at = third.offset as usize + 1 + sent[2].header.stream_key.name().len() + 24;
    bytes[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let broken = decode_all(&Bytes::from(bytes));
    assert!(matches!(broken.error, Some(FormatError::TornFrame { offset, .. }) if offset == third.offset));
    // A key that is no stream key.
    let mut bytes = file.to_vec();
    bytes[third.offset as usize + 1] = b'/';
    let broken = decode_all(&Bytes::from(bytes));
    let message = broken.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with(&format!("frame at offset {}:", third.offset)), "{message}");
}

#[test]
fn a_bad_header_is_refused() {
    assert_eq!(decode_all(&Bytes::new()).error, Some(FormatError::Empty));
    assert_eq!(decode_all(&Bytes::from_static(b"Ss\x01abc")).error, Some(FormatError::TornHeader { len: 6 }));
    assert_eq!(
        decode_all(&Bytes::from_static(b"{\"not\": 1}")).error,
        Some(FormatError::BadMagic { found: [b'{', b'"'] })
    );
    let mut file = write(&[], 1024, false).to_vec();
    file[2] = 2;
    assert_eq!(decode_all(&Bytes::from(file)).error, Some(FormatError::UnsupportedVersion { version: 2 }));
    assert_eq!(write(&[], 1024, false).len(), HEADER_SIZE);
}

#[test]
fn timestamps_are_stored_to_the_millisecond() {
    let key = StreamKey::new("t").expect("valid key");
    let fine = Timestamp::from_unix_nanos(1_700_000_000_123_456_789).expect("in range");
    let sent = [Message::new(MessageHeader::new(key, ShardId(0), SeqNo(1), fine), Payload::from("x"))];
    let read = read_messages(&write(&sent, 1024, false));
    assert_eq!(read[0].header.timestamp, at(1_700_000_000_123));
}

proptest! {
    #[test]
    fn any_messages_round_trip(
        sizes in proptest::collection::vec(0usize..2500, 0..40),
        interval in 1u32..4,
    ) {
        let key = StreamKey::new("p").expect("valid key");
        let sent: Vec<Message> = sizes.iter().enumerate().map(|(i, &len)| {
            let header = MessageHeader::new(key.clone(), ShardId(i as u32 % 3), SeqNo(i as u64), at(i as i64));
            Message::new(header, Payload::new(vec![i as u8; len]))
        }).collect();
        let file = write(&sent, interval * 1024, false);
        prop_assert_eq!(decode_all(&file).error, None);
        prop_assert_eq!(read_messages(&file), sent);
    }
}
