//! Opening connections: one server, its database and login, bounded by the
//! connect timeout. Every connection is synchronous and belongs to one
//! thread (a reader, a writer, or a blocking job). Over TLS for
//! `rediss://` URLs (see [`crate::tls`]).

use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use weir_core::BackendError;

use crate::error::failed;
use crate::tls::Tls;

/// Where and as whom to connect.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: u32,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) timeout: Duration,
    /// `rediss://`: how the server's certificate is checked.
    pub(crate) tls: Option<Tls>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without the password.
        let tls = if self.tls.is_some() { " (tls)" } else { "" };
        write!(f, "{}:{}/{}{tls}", self.host, self.port, self.database)
    }
}

impl Target {
    /// A connection whose replies may take `wait` beyond the connect timeout
    /// (a blocking read's BLOCK time).
    pub(crate) fn connect(&self, wait: Duration) -> Result<redis::Connection, BackendError> {
        let doing = format!("connecting to redis at {}:{}", self.host, self.port);
        let mut settings =
            RedisConnectionInfo::default().set_db(i64::from(self.database)).set_skip_set_lib_name();
        if let Some(user) = self.username.as_deref().filter(|u| !u.is_empty()) {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        let address = match &self.tls {
            None => ConnectionAddr::Tcp(self.host.clone(), self.port),
            Some(tls) => {
                // The redis crate's own handshake has no time limit: fail here instead.
                tls.check(&self.host, self.port, self.timeout, &doing)?;
                ConnectionAddr::TcpTls {
                    host: self.host.clone(),
                    port: self.port,
                    insecure: !tls.verify(),
                    tls_params: None,
                }
            }
        };
        let info =
            address.into_connection_info().map_err(|err| failed(&doing, &err))?.set_redis_settings(settings);
        let client = match &self.tls {
            None => redis::Client::open(info),
            Some(tls) => tls.client(info),
        }
        .map_err(|err| failed(&doing, &err))?;
        let mut connection =
            client.get_connection_with_timeout(self.timeout).map_err(|err| failed(&doing, &err))?;
        let limit = Some(self.timeout + wait);
        connection.set_read_timeout(limit).map_err(|err| failed(&doing, &err))?;
        connection.set_write_timeout(Some(self.timeout)).map_err(|err| failed(&doing, &err))?;
        // The first reply shows the server speaks Redis: a connection no
        // command was sent on yet would fail later, on whatever came first.
        redis::cmd("PING").query::<()>(&mut connection).map_err(|err| {
            let mut failure = failed(&doing, &err);
            if self.tls.is_none() && (err.is_connection_dropped() || err.is_io_error()) {
                // What a TLS port does with plaintext.
                failure.message.push_str(
                    " (the server closed the connection at once: if it takes TLS, write rediss://)",
                );
            }
            failure
        })?;
        Ok(connection)
    }
}
