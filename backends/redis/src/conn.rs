//! Opening connections: one server, its database and login, bounded by the
//! connect timeout. Every connection is synchronous and belongs to one
//! thread (a reader, a writer, or a blocking job).

use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use weir_core::BackendError;

use crate::error::failed;

/// Where and as whom to connect.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: u32,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without the password.
        write!(f, "{}:{}/{}", self.host, self.port, self.database)
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
        let info = ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()
            .map_err(|err| failed(&doing, &err))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|err| failed(&doing, &err))?;
        let connection =
            client.get_connection_with_timeout(self.timeout).map_err(|err| failed(&doing, &err))?;
        let limit = Some(self.timeout + wait);
        connection.set_read_timeout(limit).map_err(|err| failed(&doing, &err))?;
        connection.set_write_timeout(Some(self.timeout)).map_err(|err| failed(&doing, &err))?;
        Ok(connection)
    }
}
