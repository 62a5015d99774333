//! Streamer and stream URLs: `kafka://host1:9092,host2:9092/orders,payments`,
//! `stdio:///orders`, `sim://name/orders?shards=4`.

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
}

impl Scheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Stdio => "stdio",
            Scheme::Kafka => "kafka",
            Scheme::Sim => "sim",
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
    params: BTreeMap<String, String>,
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
        let malformed =
            |reason: &str| UrlError::Malformed { url: text.to_owned(), reason: reason.to_owned() };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| malformed("expected SCHEME://"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stdio" => Scheme::Stdio,
            "kafka" => Scheme::Kafka,
            "sim" => Scheme::Sim,
            _ => return Err(UrlError::UnknownScheme { scheme: scheme.to_owned() }),
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
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
                StreamKey::new(key).map_err(|source| UrlError::BadStreamKey { url: text.to_owned(), source })
            })
            .collect::<Result<_, _>>()?;
        Ok((StreamerUrl { scheme, hosts, params }, streams))
    }

    /// The backend named.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The hosts (for `sim://`, the simulator's name as a domain).
    pub fn hosts(&self) -> &[HostPort] {
        &self.hosts
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

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn parse_hosts(url: &str, scheme: Scheme, authority: &str) -> Result<Vec<HostPort>, UrlError> {
    let bad =
        |host: &str, reason: String| UrlError::BadHost { host: host.to_owned(), url: url.to_owned(), reason };
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
        Scheme::Kafka if hosts.is_empty() => {
            Err(UrlError::MissingHost { url: url.to_owned(), scheme: scheme.to_string() })
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

impl StreamerUrl {
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
        write!(f, "{}://", self.scheme)?;
        write_list(f, &self.hosts)?;
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
            return Err(UrlError::MissingStreams { url: text.to_owned() });
        }
        Ok(StreamUrl { streamer, streams })
    }
}

impl fmt::Display for StreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.streamer.scheme)?;
        write_list(f, &self.streamer.hosts)?;
        f.write_str("/")?;
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
        let sim: StreamerUrl = "sim://x?shards=many".parse().unwrap();
        let err = sim.param::<u32>("shards").unwrap_err();
        assert!(err.to_string().contains("shards"), "{err}");
        assert!(sim.deny_unknown_params(&["seed"]).is_err());
    }
}
