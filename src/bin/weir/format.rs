//! How `weir consume` prints a message.

use std::io::Write;

use anyhow::Context as _;
use weir::Message;

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

/// Writes `message` to `out` as `format`, one line.
pub fn write(
    out: &mut impl Write,
    format: &Format,
    message: &Message,
    scratch: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let payload = message.payload.as_bytes();
    match format {
        Format::Template(template) => {
            scratch.clear();
            template.write(message, scratch);
            out.write_all(scratch).context("writing stdout")?;
        }
        Format::Line => {
            scratch.clear();
            weir_stdio::codec::format_line(&message.header, payload, scratch).with_context(|| {
                let h = &message.header;
                format!(
                    "message {}/{}/{} cannot be printed as a line (--format json can print it)",
                    h.stream_key, h.shard, h.seq
                )
            })?;
            out.write_all(scratch).context("writing stdout")?;
        }
        Format::Payload => {
            out.write_all(payload).and_then(|()| out.write_all(b"\n")).context("writing stdout")?;
        }
        Format::Json => {
            let h = &message.header;
            let mut object = serde_json::json!({
                "stream": h.stream_key.name(),
                "shard": h.shard.0,
                "seq": h.seq.0,
                "timestamp": h.timestamp.to_string(),
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
