//! TLS for `rediss://` URLs: which certificates the server's must chain to,
//! and a handshake bounded by the connect timeout.
//!
//! The `redis` crate (feature `tls-native-tls`: OpenSSL) does the TLS of every
//! connection, but its synchronous handshake has no time limit: a server that
//! accepts the connection and never answers would hold a consumer's thread
//! forever. So before each connection weir does one handshake of its own with
//! the same settings, each read bounded by the connect timeout, and reports
//! what went wrong there: no answer, an untrusted certificate, a plaintext port.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use native_tls::{Certificate, HandshakeError, TlsConnector};
use redis::{ConnectionInfo, TlsCertificates};
use weir_core::{BackendError, BackendErrorKind};

use crate::error::BACKEND;

/// How a `rediss://` streamer checks the server's certificate.
#[derive(Clone)]
pub(crate) struct Tls {
    /// The certificates of `ssl.ca.location` as read, for the `redis`
    /// crate; `None`: the system's trusted roots.
    roots: Option<Vec<u8>>,
    /// `enable.ssl.certificate.verification`: false accepts any certificate
    /// for any name.
    verify: bool,
    /// For weir's own handshake: the same settings as the `redis` crate's.
    connector: TlsConnector,
}

impl Tls {
    /// The settings for a CA file (or the system's roots) and verification
    /// on or off. The error is a reason to show with the `ssl.ca.location`
    /// parameter: the file cannot be read, or holds no certificate.
    pub(crate) fn new(ca_location: Option<&Path>, verify: bool) -> Result<Self, String> {
        let mut builder = TlsConnector::builder();
        let roots = match ca_location {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|err| format!("cannot read the CA file: {err}"))?;
                // As the redis crate does: given roots replace the system's.
                builder.disable_built_in_roots(true);
                for certificate in certificates(&pem)? {
                    builder.add_root_certificate(certificate);
                }
                Some(pem)
            }
            None => None,
        };
        if !verify {
            builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true).use_sni(false);
        }
        let connector = builder.build().map_err(|err| format!("cannot set up TLS: {err}"))?;
        Ok(Self { roots, verify, connector })
    }

    /// Whether the certificate and the name in it are checked.
    pub(crate) fn verify(&self) -> bool {
        self.verify
    }

    /// A `redis` client for `info` (a `TcpTls` address) trusting these roots.
    pub(crate) fn client(&self, info: ConnectionInfo) -> redis::RedisResult<redis::Client> {
        match &self.roots {
            Some(pem) => redis::Client::build_with_tls(
                info,
                TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) },
            ),
            None => redis::Client::open(info),
        }
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
                // A polite close; the server may already have gone, which is not this check's business.
                let _ = session.shutdown();
                Ok(())
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
        let err = Tls::new(Some(Path::new("/nonexistent/ca.pem")), true).err().unwrap();
        assert!(err.starts_with("cannot read the CA file: "), "{err}");
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
