//! TLS for `rediss://` URLs: which certificates the server's must chain to,
//! the client's own certificate if the server asks for one, and a handshake
//! bounded by the connect timeout.
//!
//! The `redis` crate (feature `tls-native-tls`: OpenSSL) does the TLS of every
//! connection, but its synchronous handshake has no time limit: a server that
//! accepts the connection and never answers would hold a consumer's thread
//! forever. So before each connection weir does one handshake of its own with
//! the same settings, each read bounded by the connect timeout, and reports
//! what went wrong there: no answer, an untrusted certificate, a plaintext port.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use native_tls::{Certificate, HandshakeError, Identity, TlsConnector, TlsStream};
use redis::{ClientTlsConfig, ConnectionInfo, TlsCertificates};
use weir_core::{BackendError, BackendErrorKind};

use crate::error::BACKEND;
use crate::options::RedisOptions;

/// How a `rediss://` streamer checks the server's certificate, and shows its own.
#[derive(Clone)]
pub(crate) struct Tls {
    /// The certificates of `ssl.ca.location` as read, for the `redis`
    /// crate; `None`: the system's trusted roots.
    roots: Option<Vec<u8>>,
    /// `ssl.certificate.location` and `ssl.key.location` as read.
    client: Option<ClientTlsConfig>,
    /// `enable.ssl.certificate.verification`: false accepts any certificate
    /// for any name.
    verify: bool,
    /// For weir's own handshake: the same settings as the `redis` crate's.
    connector: TlsConnector,
}

impl Tls {
    /// The settings `options` give, with their files read and parsed. The
    /// error names the parameter whose file cannot serve, and says why.
    pub(crate) fn new(options: &RedisOptions) -> Result<Self, (&'static str, String)> {
        let mut builder = TlsConnector::builder();
        let roots = match &options.ssl_ca_location {
            Some(path) => {
                let name = "ssl.ca.location";
                let pem = read(path, "CA").map_err(|reason| (name, reason))?;
                // As the redis crate does: given roots replace the system's.
                builder.disable_built_in_roots(true);
                for certificate in certificates(&pem).map_err(|reason| (name, reason))? {
                    builder.add_root_certificate(certificate);
                }
                Some(pem)
            }
            None => None,
        };
        let client = match (&options.ssl_certificate_location, &options.ssl_key_location) {
            (Some(certificate), Some(key)) => {
                let client_cert =
                    read(certificate, "certificate").map_err(|r| ("ssl.certificate.location", r))?;
                let client_key = read(key, "key").map_err(|reason| ("ssl.key.location", reason))?;
                let identity = Identity::from_pkcs8(&client_cert, &client_key).map_err(|err| {
                    let reason = format!(
                        "the certificate and key do not make a client identity ({err}); \
                         the key must be PEM PKCS#8 (-----BEGIN PRIVATE KEY-----)"
                    );
                    ("ssl.key.location", reason)
                })?;
                builder.identity(identity);
                Some(ClientTlsConfig { client_cert, client_key })
            }
            // RedisOptions::from_url takes both or neither.
            _ => None,
        };
        let verify = options.ssl_certificate_verification;
        if !verify {
            builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true).use_sni(false);
        }
        let connector =
            builder.build().map_err(|err| ("ssl.ca.location", format!("cannot set up TLS: {err}")))?;
        Ok(Self { roots, client, verify, connector })
    }

    /// Whether the certificate and the name in it are checked.
    pub(crate) fn verify(&self) -> bool {
        self.verify
    }

    /// A `redis` client for `info` (a `TcpTls` address) with these settings.
    pub(crate) fn client(&self, info: ConnectionInfo) -> redis::RedisResult<redis::Client> {
        if self.roots.is_none() && self.client.is_none() {
            return redis::Client::open(info);
        }
        let certificates = TlsCertificates { client_tls: self.client.clone(), root_cert: self.roots.clone() };
        redis::Client::build_with_tls(info, certificates)
    }

    /// One TLS handshake with `host:port`, each step within `timeout`; the
    /// connection is closed again. `doing` names the attempt in errors.
    pub(crate) fn check(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        doing: &str,
    ) -> Result<(), BackendError> {
        let error = |kind, what: String| BackendError::new(BACKEND, kind, format!("{doing}: {what}"));
        let io_kind = |err: &std::io::Error| match err.kind() {
            std::io::ErrorKind::ConnectionRefused => BackendErrorKind::Connect,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => BackendErrorKind::Timeout,
            _ => BackendErrorKind::Io,
        };
        let addresses = (host, port)
            .to_socket_addrs()
            .map_err(|err| error(BackendErrorKind::Connect, err.to_string()))?;
        let mut last = None;
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        let stream = match (stream, last) {
            (Some(stream), _) => stream,
            (None, Some(err)) => return Err(error(io_kind(&err), err.to_string())),
            (None, None) => return Err(error(BackendErrorKind::Connect, "no address".into())),
        };
        let bounded = stream.set_read_timeout(Some(timeout)).and(stream.set_write_timeout(Some(timeout)));
        bounded.map_err(|err| error(io_kind(&err), err.to_string()))?;
        match self.connector.connect(host, stream) {
            Ok(mut session) => {
                // With TLS 1.3 the server checks a client certificate after
                // the client finished its handshake, and says no in its first
                // record: so one reply is read too (any reply, even NOAUTH).
                let answered = ping(&mut session);
                let _ = session.shutdown();
                answered.map_err(|err| match err.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => error(
                        BackendErrorKind::Timeout,
                        format!("no answer over TLS within {} ms", timeout.as_millis()),
                    ),
                    std::io::ErrorKind::UnexpectedEof => error(
                        BackendErrorKind::Io,
                        "the server closed the TLS connection before answering \
                         (does it want a client certificate? see ssl.certificate.location)"
                            .into(),
                    ),
                    _ => error(BackendErrorKind::Io, format!("no answer over TLS: {err}")),
                })
            }
            Err(HandshakeError::WouldBlock(_)) => Err(error(
                BackendErrorKind::Timeout,
                format!("no TLS handshake within {} ms (is the port a TLS port?)", timeout.as_millis()),
            )),
            Err(HandshakeError::Failure(err)) => {
                Err(error(BackendErrorKind::Connect, format!("TLS handshake failed: {err}")))
            }
        }
    }
}

/// Sends a PING and reads up to the end of the reply's first line (or 1 KiB
/// of it): whatever the server answers, it answered.
fn ping(session: &mut TlsStream<TcpStream>) -> std::io::Result<()> {
    session.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    session.flush()?;
    let mut line = [0; 1024];
    let mut got = 0;
    while got < line.len() {
        let n = session.read(&mut line[got..])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line[got..got + n].contains(&b'\n') {
            break;
        }
        got += n;
    }
    Ok(())
}

/// The bytes of the `what` file at `path`, or why not.
fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read the {what} file: {err}"))?;
    // The redis crate reads PEM as text.
    if std::str::from_utf8(&bytes).is_err() {
        return Err(format!("the {what} file is not PEM text (not UTF-8)"));
    }
    Ok(bytes)
}

/// The certificates of a PEM file (a bundle may hold several).
fn certificates(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut found = Vec::new();
    let mut rest = pem;
    while let Some(start) = find(rest, BEGIN) {
        let block = &rest[start..];
        let Some(end) = find(block, END) else {
            return Err(format!("certificate {} has no {}", found.len() + 1, String::from_utf8_lossy(END)));
        };
        let one = &block[..end + END.len()];
        let certificate = Certificate::from_pem(one).map_err(|err| {
            format!("certificate {} is not a valid PEM certificate: {err}", found.len() + 1)
        })?;
        found.push(certificate);
        rest = &block[end + END.len()..];
    }
    if found.is_empty() {
        return Err(format!("the CA file holds no PEM certificate ({})", String::from_utf8_lossy(BEGIN)));
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_ca_file_that_cannot_serve_is_a_reason_not_a_panic() {
        let options = |ca: &str| RedisOptions { ssl_ca_location: Some(ca.into()), ..RedisOptions::default() };
        let (name, reason) = Tls::new(&options("/nonexistent/ca.pem")).err().unwrap();
        assert_eq!(name, "ssl.ca.location");
        assert!(reason.starts_with("cannot read the CA file: "), "{reason}");
        let binary = std::env::temp_dir().join(format!("weir-tls-test-{}.bin", std::process::id()));
        std::fs::write(&binary, [0xff, 0xfe, 0]).unwrap();
        let (_, reason) = Tls::new(&options(binary.to_str().unwrap())).err().unwrap();
        std::fs::remove_file(&binary).unwrap();
        assert_eq!(reason, "the CA file is not PEM text (not UTF-8)");
        assert!(certificates(b"not a certificate").err().unwrap().contains("holds no PEM certificate"));
        let cut = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert!(certificates(cut).err().unwrap().contains("certificate 1 has no -----END CERTIFICATE-----"));
        let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(certificates(garbage)
            .err()
            .unwrap()
            .contains("certificate 1 is not a valid PEM certificate"));
    }
}
