//! How `weir consume` prints a message.

use std::io::Write;

use anyhow::Context as _;
use weir::Message;
use weir_stdio::codec::LineFormatter;

use crate::template::Template;

/// Output formats of `weir consume`.
#[derive(Clone, Debug, Default)]
pub enum Format {
    /// The stdio line format, `[timestamp | key | seq | shard] payload`.
    #[default]
    Line,
    /// One JSON object per line.
    Json,
    /// The payload alone.
    Payload,
    /// Named fields among text: `{stream} {shard} {seq} {timestamp} {payload}`.
    Template(Template),
}

impl Format {
    /// `line`, `json`, `payload`, or a template naming fields.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "line" => Ok(Self::Line),
            "json" => Ok(Self::Json),
            "payload" => Ok(Self::Payload),
            _ => Template::parse(text).map(Self::Template),
        }
    }
}

/// What printing one message after another reuses: a line buffer, and the
/// text of the last timestamp's second (timestamps are written without
/// `time`'s general-purpose formatter).
#[derive(Debug, Default)]
pub struct Scratch {
    line: Vec<u8>,
    formatter: LineFormatter,
}

/// Writes `message` to `out` as `format`, one line.
pub fn write(
    out: &mut impl Write,
    format: &Format,
    message: &Message,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    let payload = message.payload.as_bytes();
    let Scratch { line, formatter } = scratch;
    match format {
        Format::Template(template) => {
            line.clear();
            template.write(message, line, formatter);
            out.write_all(line).context("writing stdout")?;
        }
        Format::Line => {
            line.clear();
            formatter.format_line(&message.header, payload, line).with_context(|| {
                let h = &message.header;
                format!(
                    "message {}/{}/{} cannot be printed as a line (--format json can print it)",
                    h.stream_key, h.shard, h.seq
                )
            })?;
            out.write_all(line).context("writing stdout")?;
        }
        Format::Payload => {
            out.write_all(payload).and_then(|()| out.write_all(b"\n")).context("writing stdout")?;
        }
        Format::Json => {
            let h = &message.header;
            line.clear();
            formatter.timestamp(h.timestamp, line);
            let mut object = serde_json::json!({
                "stream": h.stream_key.name(),
                "shard": h.shard.0,
                "seq": h.seq.0,
                "timestamp": String::from_utf8_lossy(line),
            });
            match message.payload.as_str() {
                Ok(text) => object["payload"] = text.into(),
                Err(_) => {
                    object["payload_hex"] =
                        payload.iter().map(|b| format!("{b:02x}")).collect::<String>().into()
                }
            }
            // As an io::Error, so a closed stdout is recognised as one.
            serde_json::to_writer(&mut *out, &object)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .context("writing stdout")?;
        }
    }
    Ok(())
}
