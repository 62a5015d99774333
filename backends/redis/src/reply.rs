//! Reading the replies of XREAD, XREADGROUP, XREVRANGE and XAUTOCLAIM into
//! entries, and of XINFO CONSUMERS into members: pure functions of the
//! client's decoded values, tested without a server.

use std::sync::Arc;

use redis::Value;

use crate::error::RedisError;
use crate::id::EntryId;
use crate::layout::PAYLOAD_FIELD;

/// One stream entry as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The Redis key it was read from (shared by the entries of one reply).
    pub key: Arc<str>,
    /// Its id.
    pub id: EntryId,
    /// Its `msg` field; `None` for an entry without one.
    pub payload: Option<Vec<u8>>,
}

fn unexpected(command: &'static str, value: &Value) -> RedisError {
    let mut reply = format!("{value:?}");
    if reply.len() > 200 {
        let mut cut = 200;
        while !reply.is_char_boundary(cut) {
            cut -= 1;
        }
        reply.truncate(cut);
        reply.push('…');
    }
    RedisError::Reply { command, reply }
}

fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn id_of(command: &'static str, key: &str, value: &Value) -> Result<EntryId, RedisError> {
    let raw = text(value).ok_or_else(|| unexpected(command, value))?;
    EntryId::from_ascii(raw).map_err(|source| RedisError::Id { key: key.to_owned(), source })
}

/// The entries of an XREAD or XREADGROUP reply (`[[key, [[id, [field,
/// value, …]], …]], …]`, or a map of key to entries). A timed-out read
/// (nil) has none. Entries still pending but deleted (nil fields) are left
/// out: there is nothing to deliver.
pub fn read_reply(command: &'static str, value: Value, out: &mut Vec<Entry>) -> Result<(), RedisError> {
    let streams: Vec<(Value, Value)> = match value {
        Value::Nil => return Ok(()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    Ok((pair.next().unwrap_or(Value::Nil), pair.next().unwrap_or(Value::Nil)))
                }
                other => Err(unexpected(command, &other)),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams,
        other => return Err(unexpected(command, &other)),
    };
    for (key, entries) in streams {
        let key =
            text(&key).and_then(|k| std::str::from_utf8(k).ok()).ok_or_else(|| unexpected(command, &key))?;
        entries_of(command, key, entries, out)?;
    }
    Ok(())
}

/// The entries of one key: `[[id, [field, value, …]], …]`, as XRANGE,
/// XREVRANGE and XAUTOCLAIM give them too.
pub fn entries_of(
    command: &'static str,
    key: &str,
    value: Value,
    out: &mut Vec<Entry>,
) -> Result<(), RedisError> {
    let Value::Array(mut entries) = value else {
        return Err(unexpected(command, &value));
    };
    let shared: Arc<str> = Arc::from(key);
    out.reserve(entries.len());
    // Read in place, the payload taken out: the reply is dropped whole after.
    for entry in &mut entries {
        let Value::Array(pair) = entry else {
            return Err(unexpected(command, entry));
        };
        let [id, fields, ..] = pair.as_mut_slice() else {
            return Err(RedisError::Reply { command, reply: "an entry without id and fields".into() });
        };
        let id = id_of(command, key, id)?;
        let mut payload = None;
        match fields {
            Value::Nil => continue,
            Value::Array(flat) => {
                for pair in flat.chunks_exact_mut(2) {
                    if let [field, value] = pair {
                        take_payload(command, field, value, &mut payload)?;
                    }
                }
            }
            Value::Map(pairs) => {
                for (field, value) in pairs {
                    take_payload(command, field, value, &mut payload)?;
                }
            }
            other => return Err(unexpected(command, other)),
        }
        out.push(Entry { key: Arc::clone(&shared), id, payload });
    }
    Ok(())
}

/// Takes `value` out as the payload if `field` is the payload field.
fn take_payload(
    command: &'static str,
    field: &Value,
    value: &mut Value,
    payload: &mut Option<Vec<u8>>,
) -> Result<(), RedisError> {
    if text(field) == Some(PAYLOAD_FIELD.as_bytes()) {
        *payload = match value {
            Value::BulkString(bytes) => Some(std::mem::take(bytes)),
            Value::SimpleString(text) => Some(std::mem::take(text).into_bytes()),
            other => return Err(unexpected(command, other)),
        };
    }
    Ok(())
}

/// An XAUTOCLAIM reply: the cursor to continue from (`0-0` when done) and
/// the entries claimed. Redis 6.2 answers `[cursor, entries]`, 7.0 and later
/// `[cursor, entries, deleted ids]`; both are accepted.
pub fn autoclaim_reply(key: &str, value: Value, out: &mut Vec<Entry>) -> Result<EntryId, RedisError> {
    const COMMAND: &str = "XAUTOCLAIM";
    let Value::Array(parts) = value else {
        return Err(unexpected(COMMAND, &value));
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(RedisError::Reply { command: COMMAND, reply: format!("{} elements", parts.len()) });
    }
    let mut parts = parts.into_iter();
    let cursor = id_of(COMMAND, key, &parts.next().unwrap_or(Value::Nil))?;
    entries_of(COMMAND, key, parts.next().unwrap_or(Value::Nil), out)?;
    Ok(cursor)
}

/// One member of a group on one key, as XINFO CONSUMERS lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its consumer name.
    pub name: Vec<u8>,
    /// How many entries are pending on it.
    pub pending: u64,
    /// Milliseconds since it last did anything (`idle`).
    pub idle_ms: u64,
}

/// An XINFO CONSUMERS reply: one field list per member (flat pairs in
/// RESP2, a map in RESP3). Fields other than `name`, `pending` and `idle`
/// are ignored (Redis 7.2 added `inactive`).
pub fn members_reply(value: Value) -> Result<Vec<Member>, RedisError> {
    const COMMAND: &str = "XINFO CONSUMERS";
    let Value::Array(members) = value else {
        return Err(unexpected(COMMAND, &value));
    };
    let count = |value: &Value| match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    };
    members
        .into_iter()
        .map(|info| {
            let fields: Vec<(Value, Value)> = match info {
                Value::Array(flat) => {
                    let mut flat = flat.into_iter();
                    std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
                }
                Value::Map(pairs) => pairs,
                other => return Err(unexpected(COMMAND, &other)),
            };
            let field =
                |name: &str| fields.iter().find(|(f, _)| text(f) == Some(name.as_bytes())).map(|(_, v)| v);
            match (
                field("name").and_then(text),
                field("pending").and_then(count),
                field("idle").and_then(count),
            ) {
                (Some(name), Some(pending), Some(idle_ms)) => {
                    Ok(Member { name: name.to_vec(), pending, idle_ms })
                }
                _ => Err(RedisError::Reply {
                    command: COMMAND,
                    reply: "a member without name, pending and idle".into(),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![bulk(id), Value::Array(fields.iter().map(|f| bulk(f)).collect())])
    }

    #[test]
    fn reads_entries_of_every_key_in_order() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("a:0"),
                Value::Array(vec![entry("1-0", &["msg", "x"]), entry("1-1", &["other", "y", "msg", "z"])]),
            ]),
            Value::Array(vec![bulk("a:1"), Value::Array(vec![entry("2-0", &["msg", ""])])]),
        ]);
        let mut out = Vec::new();
        read_reply("XREAD", reply, &mut out).unwrap();
        let got: Vec<(&str, String, Option<&[u8]>)> =
            out.iter().map(|e| (&*e.key, e.id.to_string(), e.payload.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("a:0", "1-0".into(), Some(&b"x"[..])),
                ("a:0", "1-1".into(), Some(&b"z"[..])),
                ("a:1", "2-0".into(), Some(&b""[..]))
            ]
        );
        let mut none = Vec::new();
        read_reply("XREAD", Value::Nil, &mut none).unwrap();
        assert!(none.is_empty(), "a timed-out read has no entries");
    }

    #[test]
    fn entries_without_payload_or_deleted_are_told_apart() {
        let mut out = Vec::new();
        let deleted = Value::Array(vec![bulk("3-0"), Value::Nil]);
        entries_of("XREADGROUP", "k", Value::Array(vec![entry("1-0", &["name", "v"]), deleted]), &mut out)
            .unwrap();
        assert_eq!(out, [Entry { key: "k".into(), id: "1-0".parse().unwrap(), payload: None }]);
    }

    #[test]
    fn fields_as_a_map_give_the_payload_too() {
        let fields = Value::Map(vec![(bulk("other"), bulk("y")), (bulk("msg"), bulk("z"))]);
        let mut out = Vec::new();
        entries_of("XREAD", "k", Value::Array(vec![Value::Array(vec![bulk("7-1"), fields])]), &mut out)
            .unwrap();
        assert_eq!(
            out,
            [Entry { key: "k".into(), id: EntryId { ms: 7, n: 1 }, payload: Some(b"z".to_vec()) }]
        );
        let bad = Value::Map(vec![(bulk("msg"), Value::Int(1))]);
        let err =
            entries_of("XREAD", "k", Value::Array(vec![Value::Array(vec![bulk("7-2"), bad])]), &mut out);
        assert!(matches!(err, Err(RedisError::Reply { command: "XREAD", .. })), "{err:?}");
    }

    #[test]
    fn bad_ids_and_shapes_are_errors() {
        let mut out = Vec::new();
        let err =
            entries_of("XREAD", "k", Value::Array(vec![entry("x-1", &["msg", "a"])]), &mut out).unwrap_err();
        assert!(err.to_string().contains("\"x-1\""), "{err}");
        let err = read_reply("XREAD", Value::Int(3), &mut out).unwrap_err();
        assert!(matches!(err, RedisError::Reply { command: "XREAD", .. }), "{err}");
    }

    #[test]
    fn members_in_both_protocols() {
        let int = Value::Int;
        let flat = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("a"),
            bulk("pending"),
            int(2),
            bulk("idle"),
            int(40),
            bulk("inactive"),
            int(-1),
        ])]);
        let map = Value::Array(vec![Value::Map(vec![
            (bulk("idle"), int(40)),
            (bulk("name"), bulk("a")),
            (bulk("pending"), int(2)),
        ])]);
        let want = [Member { name: b"a".to_vec(), pending: 2, idle_ms: 40 }];
        assert_eq!(members_reply(flat).unwrap(), want);
        assert_eq!(members_reply(map).unwrap(), want);
        assert!(members_reply(Value::Array(vec![Value::Array(vec![bulk("name"), bulk("a")])])).is_err());
        assert!(members_reply(Value::Nil).is_err());
    }

    #[test]
    fn autoclaim_takes_both_reply_forms() {
        let claimed = || Value::Array(vec![entry("5-0", &["msg", "a"])]);
        for reply in [
            Value::Array(vec![bulk("0-0"), claimed()]),
            Value::Array(vec![bulk("0-0"), claimed(), Value::Array(vec![bulk("4-0")])]),
        ] {
            let mut out = Vec::new();
            assert_eq!(autoclaim_reply("k", reply, &mut out).unwrap(), EntryId::ZERO);
            assert_eq!(out.len(), 1);
        }
        let mut out = Vec::new();
        let more = Value::Array(vec![bulk("9-3"), Value::Array(vec![])]);
        assert_eq!(autoclaim_reply("k", more, &mut out).unwrap(), EntryId { ms: 9, n: 3 });
        assert!(autoclaim_reply("k", Value::Array(vec![bulk("0-0")]), &mut out).is_err());
    }
}
