//! Streamer and stream URLs: `kafka://host1:9092,host2:9092/orders,payments`,
//! `stdio:///orders`, `sim://name/orders?shards=4`,
//! `redis://user:password@host:6379/2/orders` (credentials and a database
//! number only in `redis://` URLs; `rediss://` is the same over TLS), and a file,
//! `file:///var/log/orders.ss/orders,payments?follow=true`: an absolute path
//! that ends at its first segment named `*.ss`, then the stream keys.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use url::Host;

use crate::error::UrlError;
use crate::key::StreamKey;

/// The backends a URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `stdio://`: lines on stdin and stdout.
    Stdio,
    /// `kafka://`: a Kafka cluster.
    Kafka,
    /// `sim://`: the in-memory simulated broker.
    Sim,
    /// `redis://`: a Redis (or Valkey) server's streams.
    Redis,
    /// `file://`: a SeaStreamer `.ss` log file.
    File,
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Stdio => "stdio",
            Scheme::Kafka => "kafka",
            Scheme::Sim => "sim",
            Scheme::Redis => "redis",
            Scheme::File => "file",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `host[:port]` of a host list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host: a domain, an IPv4 or a bracketed IPv6 address.
    pub host: Host<String>,
    /// The port, if given.
    pub port: Option<u16>,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// Where a streamer lives: a scheme, hosts (or a simulator name), and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamerUrl {
    scheme: Scheme,
    hosts: Vec<HostPort>,
    /// The file of a `file://` URL.
    path: Option<String>,
    params: BTreeMap<String, String>,
    login: Option<Login>,
    database: Option<u32>,
    /// Written `rediss://`: Redis over TLS.
    tls: bool,
}

/// The `user:password@` part of a `redis://` URL, percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name; empty for Redis's `default` user (`redis://:password@host`).
    pub username: String,
    /// The password, if given.
    pub password: Option<String>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password, not even in debug output.
        f.debug_struct("Login").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A streamer URL followed by the stream keys to consume or produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamUrl {
    streamer: StreamerUrl,
    streams: Vec<StreamKey>,
}

impl StreamerUrl {
    /// Parses a URL that may or may not name streams, keeping both parts.
    pub fn parse_with_streams(text: &str) -> Result<(StreamerUrl, Vec<StreamKey>), UrlError> {
        let malformed = |reason: &str| UrlError::Malformed { url: redact(text), reason: reason.to_owned() };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| malformed("expected SCHEME://"))?;
        let (scheme, tls) = match scheme.to_ascii_lowercase().as_str() {
            "stdio" => (Scheme::Stdio, false),
            "kafka" => (Scheme::Kafka, false),
            "sim" => (Scheme::Sim, false),
            "redis" => (Scheme::Redis, false),
            "rediss" => (Scheme::Redis, true),
            "file" => (Scheme::File, false),
            _ => return Err(UrlError::UnknownScheme { scheme: scheme.to_owned() }),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        if scheme == Scheme::File {
            return parse_file(text, rest, query);
        }
        let (authority, mut path) = rest.split_once('/').unwrap_or((rest, ""));
        let (login, authority) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) if scheme == Scheme::Redis => (Some(parse_login(text, userinfo)?), hosts),
            _ => (None, authority),
        };
        let mut database = None;
        if scheme == Scheme::Redis {
            if let Some((db, keys)) = path.split_once('/') {
                let number = db.parse::<u32>().map_err(|_| {
                    malformed(&format!("{db:?} is not a database number (redis://host/DB/stream_a,stream_b)"))
                })?;
                database = Some(number);
                path = keys;
            }
        }
        if path.contains('/') {
            return Err(malformed("the path is a comma-separated list of stream keys and has no '/'"));
        }
        let hosts = parse_hosts(text, scheme, authority)?;
        let params = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        // `stdio:///` names no stream; `a,,b` names an empty one, which is an error.
        let streams = path
            .split(',')
            .filter(|_| !path.is_empty())
            .map(|key| {
                StreamKey::new(key).map_err(|source| UrlError::BadStreamKey { url: redact(text), source })
            })
            .collect::<Result<_, _>>()?;
        Ok((StreamerUrl { scheme, hosts, path: None, params, login, database, tls }, streams))
    }

    /// The file a `file://` URL names.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The backend named.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The hosts (for `sim://`, the simulator's name as a domain).
    pub fn hosts(&self) -> &[HostPort] {
        &self.hosts
    }

    /// The `user:password@` part (`redis://` only).
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// Whether the URL asks for TLS: written `rediss://` (the scheme is still
    /// [`Scheme::Redis`]).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The database number (`redis://host/DB/streams` only).
    pub fn database(&self) -> Option<u32> {
        self.database
    }

    /// The query parameters, sorted by name.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// A query parameter parsed as `T`, or a clear error naming it.
    pub fn param<T: FromStr>(&self, name: &str) -> Result<Option<T>, UrlError>
    where
        T::Err: fmt::Display,
    {
        self.params
            .get(name)
            .map(|value| {
                value.parse().map_err(|err: T::Err| UrlError::BadParam {
                    url: self.to_string(),
                    name: name.to_owned(),
                    value: value.clone(),
                    reason: err.to_string(),
                })
            })
            .transpose()
    }

    /// Fails naming the first parameter not in `known`.
    pub fn deny_unknown_params(&self, known: &[&str]) -> Result<(), UrlError> {
        match self.params.iter().find(|(name, _)| !known.contains(&name.as_str())) {
            Some((name, value)) => Err(UrlError::BadParam {
                url: self.to_string(),
                name: name.clone(),
                value: value.clone(),
                reason: format!("unknown parameter; {} takes {}", self.scheme, list_or_none(known)),
            }),
            None => Ok(()),
        }
    }
}

/// `user:password` (either part may be empty), percent-decoded.
fn parse_login(url: &str, userinfo: &str) -> Result<Login, UrlError> {
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part).decode_utf8().map(|s| s.into_owned()).map_err(|_| {
            UrlError::Malformed { url: redact(url), reason: "the user name or password is not UTF-8".into() }
        })
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(decode(password)?)),
        None => (userinfo, None),
    };
    Ok(Login { username: decode(user)?, password })
}

/// `url` with the password of a `user:password@` part replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.rsplit_once('@').and_then(|(userinfo, _)| userinfo.split_once(':')) {
        Some((user, password)) => {
            let at = scheme.len() + 3 + user.len() + 1;
            format!("{}***{}", &url[..at], &url[at + password.len()..])
        }
        None => url.to_owned(),
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn parse_hosts(url: &str, scheme: Scheme, authority: &str) -> Result<Vec<HostPort>, UrlError> {
    let bad =
        |host: &str, reason: String| UrlError::BadHost { host: host.to_owned(), url: redact(url), reason };
    if authority.contains('@') {
        return Err(bad(authority, "credentials do not belong in the url; pass them as options".into()));
    }
    let hosts = authority
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (host, port) = split_port(part);
            let port = port
                .map(|port| {
                    port.parse::<u16>()
                        .map_err(|_| bad(part, format!("port {port:?} is not a number 0-65535")))
                })
                .transpose()?;
            let host = Host::parse(host).map_err(|err| bad(part, err.to_string()))?;
            // `%2C` decodes to a comma, which would read back (and reach Kafka) as two hosts.
            if matches!(&host, Host::Domain(domain) if domain.contains(',')) {
                return Err(bad(part, "a host name cannot contain a comma, which separates hosts".into()));
            }
            Ok(HostPort { host, port })
        })
        .collect::<Result<Vec<_>, _>>()?;
    match scheme {
        Scheme::Stdio if !hosts.is_empty() => {
            Err(bad(authority, "stdio takes no host: write stdio:///key1,key2".into()))
        }
        Scheme::Kafka | Scheme::Redis if hosts.is_empty() => {
            Err(UrlError::MissingHost { url: redact(url), scheme: scheme.to_string() })
        }
        Scheme::Sim if hosts.len() > 1 || hosts.iter().any(|h| h.port.is_some()) => {
            Err(bad(authority, "sim takes one simulator name and no port, e.g. sim://test1/orders".into()))
        }
        _ => Ok(hosts),
    }
}

/// Splits `host:port`, leaving the colons of a bracketed IPv6 address alone.
fn split_port(part: &str) -> (&str, Option<&str>) {
    let colon = match part.rfind(']') {
        Some(close) => part[close..].find(':').map(|at| close + at),
        None => part.rfind(':'),
    };
    match colon {
        Some(at) => (&part[..at], Some(&part[at + 1..])),
        None => (part, None),
    }
}

impl FromStr for StreamerUrl {
    type Err = UrlError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_with_streams(text).map(|(streamer, _)| streamer)
    }
}

/// What a user name written back into a URL escapes.
const USERINFO: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Writes `items` separated by commas.
fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// `file:///dir/log.ss/key1,key2?params`: the path runs to the first segment
/// ending in `.ss`; what follows it is the key list.
fn parse_file(text: &str, rest: &str, query: &str) -> Result<(StreamerUrl, Vec<StreamKey>), UrlError> {
    let malformed = |reason: &str| UrlError::Malformed { url: text.to_owned(), reason: reason.to_owned() };
    if !rest.starts_with('/') {
        return Err(malformed("a file url has an absolute path: file:///path/to/log.ss"));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let end = segments
        .iter()
        .position(|segment| segment.len() > 3 && segment.ends_with(".ss"))
        .ok_or_else(|| malformed("the path names no .ss file: file:///path/to/log.ss/KEY,KEY"))?;
    let keys = match &segments[end + 1..] {
        [] | [""] => "",
        [keys] => *keys,
        _ => return Err(malformed("after the .ss file comes one comma-separated list of stream keys")),
    };
    let streams = keys
        .split(',')
        .filter(|_| !keys.is_empty())
        .map(|key| {
            StreamKey::new(key).map_err(|source| UrlError::BadStreamKey { url: text.to_owned(), source })
        })
        .collect::<Result<_, _>>()?;
    let params = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let path = Some(segments[..=end].join("/"));
    Ok((
        StreamerUrl {
            scheme: Scheme::File,
            hosts: Vec::new(),
            path,
            params,
            login: None,
            database: None,
            tls: false,
        },
        streams,
    ))
}

impl StreamerUrl {
    /// `scheme://[user:***@]hosts`: a password is never shown.
    fn write_authority(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}://", self.scheme, if self.tls { "s" } else { "" })?;
        if let Some(login) = &self.login {
            let user = percent_encoding::utf8_percent_encode(&login.username, USERINFO);
            match login.password {
                Some(_) => write!(f, "{user}:***@")?,
                None => write!(f, "{user}@")?,
            }
        }
        write_list(f, &self.hosts)
    }

    fn write_params(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.params.is_empty() {
            let query: String =
                url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.params).finish();
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

impl fmt::Display for StreamerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_authority(f)?;
        f.write_str(self.path.as_deref().unwrap_or_default())?;
        if let Some(db) = self.database {
            write!(f, "/{db}/")?;
        }
        self.write_params(f)
    }
}

impl StreamUrl {
    /// The streamer part.
    pub fn streamer(&self) -> &StreamerUrl {
        &self.streamer
    }

    /// The stream keys named, in order.
    pub fn streams(&self) -> &[StreamKey] {
        &self.streams
    }
}

impl FromStr for StreamUrl {
    type Err = UrlError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (streamer, streams) = StreamerUrl::parse_with_streams(text)?;
        if streams.is_empty() {
            return Err(UrlError::MissingStreams { url: redact(text) });
        }
        Ok(StreamUrl { streamer, streams })
    }
}

impl fmt::Display for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.streamer.write_authority(f)?;
        f.write_str(self.streamer.path.as_deref().unwrap_or_default())?;
        f.write_str("/")?;
        if let Some(db) = self.streamer.database {
            write!(f, "{db}/")?;
        }
        write_list(f, &self.streams)?;
        self.streamer.write_params(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StreamKeyError;

    fn keys(url: &StreamUrl) -> Vec<&str> {
        url.streams().iter().map(StreamKey::name).collect()
    }

    #[test]
    fn file_urls_name_a_path_then_keys() {
        let url: StreamUrl = "file:///var/log/orders.ss/orders,payments?follow=true".parse().unwrap();
        assert_eq!(url.streamer().scheme(), Scheme::File);
        assert_eq!(url.streamer().path(), Some("/var/log/orders.ss"));
        assert_eq!(keys(&url), ["orders", "payments"]);
        assert_eq!(url.streamer().param::<bool>("follow"), Ok(Some(true)));
        assert_eq!(url.to_string(), "file:///var/log/orders.ss/orders,payments?follow=true");
        let (streamer, streams) = StreamerUrl::parse_with_streams("file:///tmp/x.ss").unwrap();
        assert_eq!((streamer.path(), streams.len()), (Some("/tmp/x.ss"), 0));
        assert_eq!(streamer.to_string(), "file:///tmp/x.ss");
        for bad in [
            "file://relative/x.ss/k",
            "file:///tmp/nothing/k",
            "file:///a.ss/k/extra",
            "file:///a.ss/bad key",
        ] {
            assert!(bad.parse::<StreamUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_each_scheme() {
        let kafka: StreamUrl = "kafka://h1:9092,h2:9093/orders,payments".parse().unwrap();
        assert_eq!(kafka.streamer().scheme(), Scheme::Kafka);
        let hosts: Vec<String> = kafka.streamer().hosts().iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["h1:9092", "h2:9093"]);
        assert_eq!(keys(&kafka), ["orders", "payments"]);
        assert_eq!(kafka.to_string(), "kafka://h1:9092,h2:9093/orders,payments");

        let stdio: StreamUrl = "stdio:///a,b".parse().unwrap();
        assert_eq!((stdio.streamer().scheme(), keys(&stdio)), (Scheme::Stdio, vec!["a", "b"]));
        assert_eq!("stdio://".parse::<StreamerUrl>().unwrap().hosts(), &[]);

        let sim: StreamUrl = "sim://lab/orders?shards=4&seed=7".parse().unwrap();
        assert_eq!(sim.streamer().param::<u32>("shards"), Ok(Some(4)));
        assert_eq!(sim.to_string(), "sim://lab/orders?seed=7&shards=4", "parameters survive, sorted");
        assert_eq!(sim.streamer().to_string().parse::<StreamerUrl>().as_ref(), Ok(sim.streamer()));
        assert_eq!(sim.streamer().hosts()[0].to_string(), "lab");

        let redis: StreamUrl = "redis://me:p%40ss:w@127.0.0.1:6380/3/a,b?batch=10".parse().unwrap();
        let login = redis.streamer().login().unwrap();
        assert_eq!((login.username.as_str(), login.password.as_deref()), ("me", Some("p@ss:w")));
        assert_eq!((redis.streamer().database(), keys(&redis)), (Some(3), vec!["a", "b"]));
        assert_eq!(redis.to_string(), "redis://me:***@127.0.0.1:6380/3/a,b?batch=10", "no password shown");
        assert!(!format!("{redis:?}").contains("p@ss"), "nor in debug output");
        let plain: StreamUrl = "redis://h/orders".parse().unwrap();
        assert_eq!((plain.streamer().login(), plain.streamer().database()), (None, None));
        assert_eq!(redact("redis://u:secret@h/0/a"), "redis://u:***@h/0/a");
        let tls: StreamUrl = "REDISS://u:pw@h:6380/1/a?batch=2".parse().unwrap();
        assert_eq!((tls.streamer().scheme(), tls.streamer().tls()), (Scheme::Redis, true));
        assert_eq!(tls.to_string(), "rediss://u:***@h:6380/1/a?batch=2", "rediss:// survives display");
        let tls: StreamerUrl = "rediss://u@h:6380/1/?batch=2".parse().unwrap();
        assert_eq!(tls.to_string().parse::<StreamerUrl>().as_ref(), Ok(&tls), "and reads back the same");
        assert!(!plain.streamer().tls());

        let v6: StreamerUrl = "kafka://[::1]:9092".parse().unwrap();
        assert_eq!(v6.hosts()[0].port, Some(9092));
    }

    #[test]
    fn errors_name_the_wrong_part() {
        let err = "nats://x/y".parse::<StreamUrl>().unwrap_err();
        assert_eq!(err, UrlError::UnknownScheme { scheme: "nats".into() });
        assert!(matches!("orders".parse::<StreamUrl>(), Err(UrlError::Malformed { .. })));
        assert!(matches!("kafka:///orders".parse::<StreamUrl>(), Err(UrlError::MissingHost { .. })));
        assert!(
            matches!("kafka://h:99999/o".parse::<StreamUrl>(), Err(UrlError::BadHost { host, .. }) if host == "h:99999")
        );
        assert!(matches!("kafka://h:x/o".parse::<StreamUrl>(), Err(UrlError::BadHost { .. })));
        assert!(matches!("kafka://bad host/o".parse::<StreamUrl>(), Err(UrlError::BadHost { .. })));
        // Found by the urls_and_keys fuzz check: it used to be shown as `kafka://a,b`, two hosts.
        assert!(matches!("kafka://a%2Cb/o".parse::<StreamUrl>(), Err(UrlError::BadHost { .. })));
        assert!(matches!("stdio://host/o".parse::<StreamUrl>(), Err(UrlError::BadHost { .. })));
        assert!(matches!("kafka://h".parse::<StreamUrl>(), Err(UrlError::MissingStreams { .. })));
        assert!(matches!("kafka://h/a b".parse::<StreamUrl>(), Err(UrlError::BadStreamKey { .. })));
        assert!(matches!("kafka://h/a/b".parse::<StreamUrl>(), Err(UrlError::Malformed { .. })));
        for empty_key in ["stdio:///a,,b", "stdio:///a,", "stdio:///,a"] {
            let err = empty_key.parse::<StreamUrl>().unwrap_err();
            assert!(
                matches!(&err, UrlError::BadStreamKey { source: StreamKeyError::Empty, .. }),
                "{empty_key}: {err}"
            );
        }
        let err = "redis://h/x0/orders".parse::<StreamUrl>().unwrap_err();
        assert!(matches!(&err, UrlError::Malformed { reason, .. } if reason.contains("\"x0\"")), "{err}");
        assert!(matches!("redis://h/0/a/b".parse::<StreamUrl>(), Err(UrlError::Malformed { .. })));
        assert!(matches!("redis://u:p@/a".parse::<StreamUrl>(), Err(UrlError::MissingHost { .. })));
        assert!(matches!("kafka://u:p@h/a".parse::<StreamUrl>(), Err(UrlError::BadHost { .. })));
        let sim: StreamerUrl = "sim://x?shards=many".parse().unwrap();
        let err = sim.param::<u32>("shards").unwrap_err();
        assert!(err.to_string().contains("shards"), "{err}");
        assert!(sim.deny_unknown_params(&["seed"]).is_err());
    }
}
