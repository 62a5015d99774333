//! `--format '{stream} {shard} {seq} {timestamp} {payload}'`: a line made of
//! named fields, parsed once and written per message without re-reading it.

use std::io::Write;

use weir::Message;
use weir_stdio::codec::LineFormatter;

/// A field a template can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Stream,
    Shard,
    Seq,
    Timestamp,
    Payload,
}

const FIELDS: &[(&str, Field)] = &[
    ("stream", Field::Stream),
    ("shard", Field::Shard),
    ("seq", Field::Seq),
    ("timestamp", Field::Timestamp),
    ("payload", Field::Payload),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed template: text and fields in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

impl Template {
    /// Reads `{field}`s among text; `{{` and `}}` are literal braces. A
    /// template names at least one field (else it is a misspelt format name).
    pub fn parse(text: &str) -> Result<Self, String> {
        let known = "{stream}, {shard}, {seq}, {timestamp} or {payload}";
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            let (brace, after) = (&rest[at..=at], &rest[at + 1..]);
            if let Some(after) = after.strip_prefix(brace) {
                literal.push_str(brace);
                rest = after;
                continue;
            }
            if brace == "}" {
                return Err(format!("a lone '}}' in {text:?}: write '}}}}' for a brace"));
            }
            let Some(end) = after.find('}') else {
                return Err(format!("a '{{' without its '}}' in {text:?}: write '{{{{' for a brace"));
            };
            let name = &after[..end];
            let Some(&(_, field)) = FIELDS.iter().find(|(known, _)| *known == name) else {
                return Err(format!("unknown field {{{name}}} in {text:?}: use {known}"));
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field(field));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !pieces.iter().any(|p| matches!(p, Piece::Field(_))) {
            return Err(format!("{text:?} is not line, json, payload or a template naming {known}"));
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self(pieces))
    }

    /// Appends `message` as one line (with its newline) to `line`; `formatter`
    /// writes the timestamp as stdio lines carry it.
    pub fn write(&self, message: &Message, line: &mut Vec<u8>, formatter: &mut LineFormatter) {
        let h = &message.header;
        for piece in &self.0 {
            // Writing to a Vec cannot fail.
            let _ = match piece {
                Piece::Text(text) => line.write_all(text.as_bytes()),
                Piece::Field(Field::Stream) => line.write_all(h.stream_key.name().as_bytes()),
                Piece::Field(Field::Shard) => write!(line, "{}", h.shard),
                Piece::Field(Field::Seq) => write!(line, "{}", h.seq),
                Piece::Field(Field::Timestamp) => {
                    formatter.timestamp(h.timestamp, line);
                    Ok(())
                }
                Piece::Field(Field::Payload) => line.write_all(message.payload.as_bytes()),
            };
        }
        line.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use weir::{MessageHeader, SeqNo, ShardId, StreamKey, Timestamp};

    use super::*;

    fn render(template: &str) -> String {
        let key = StreamKey::new("orders").unwrap_or_else(|err| panic!("{err}"));
        let header = MessageHeader::new(key, ShardId(2), SeqNo(41), Timestamp::UNIX_EPOCH);
        let message = Message::new(header, "hi {there}".into());
        let mut line = Vec::new();
        Template::parse(template).unwrap_or_else(|err| panic!("{err}")).write(
            &message,
            &mut line,
            &mut LineFormatter::new(),
        );
        String::from_utf8_lossy(&line).into_owned()
    }

    #[test]
    fn fields_text_and_escaped_braces() {
        assert_eq!(
            render("{stream} {shard} {seq} {timestamp} {payload}"),
            "orders 2 41 1970-01-01T00:00:00.000000 hi {there}\n"
        );
        assert_eq!(render("{{{seq}}}:{payload}!"), "{41}:hi {there}!\n");
        assert_eq!(render("{payload}"), "hi {there}\n");
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let cases = [
            ("xml", "\"xml\" is not line, json, payload or a template naming {stream}"),
            ("{offset}", "unknown field {offset} in \"{offset}\": use {stream}"),
            ("{seq", "a '{' without its '}' in \"{seq\""),
            ("{seq} }", "a lone '}' in \"{seq} }\""),
            ("{{seq}}", "is not line, json, payload or a template"),
        ];
        for (template, want) in cases {
            let err = Template::parse(template).expect_err(template);
            assert!(err.contains(want), "{template}: {err}");
        }
    }
}
