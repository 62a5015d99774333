//! The host id that names a Resumable consumer's group when none is given.
//!
//! The `HOST_ID` environment variable if set; else the id of the container
//! this process runs in (cgroup v1 and v2 layouts, docker, containerd,
//! cri-o, podman, kubepods); else the first non-loopback MAC address. The
//! derivation is a pure function of what those sources contain: reading
//! `/proc` and `/sys` is the backend's job, so this is tested with fixtures.

/// What the host id is derived from: the contents of the usual files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostIdSources {
    /// The `HOST_ID` environment variable.
    pub env: Option<String>,
    /// `/proc/self/cgroup`.
    pub cgroup: Option<String>,
    /// `/proc/self/mountinfo` (cgroup v2 hides the id from `/proc/self/cgroup`).
    pub mountinfo: Option<String>,
    /// Network interfaces in listing order: name and MAC address as text.
    pub interfaces: Vec<(String, String)>,
}

/// Where a host id came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostId {
    /// The `HOST_ID` environment variable.
    Env(String),
    /// A container id.
    Container(String),
    /// A MAC address, colons removed.
    Mac(String),
}

impl HostId {
    /// The id itself.
    pub fn as_str(&self) -> &str {
        match self {
            HostId::Env(id) | HostId::Container(id) | HostId::Mac(id) => id,
        }
    }
}

/// Container ids are hex; docker prints 12 digits, the full id has 64.
const MIN_ID: usize = 12;
const MAX_ID: usize = 64;

/// Derives the host id, or `None` when no source has one.
pub fn derive(sources: &HostIdSources) -> Option<HostId> {
    if let Some(env) = sources.env.as_deref().map(str::trim).filter(|env| !env.is_empty()) {
        return Some(HostId::Env(env.to_owned()));
    }
    sources
        .cgroup
        .as_deref()
        .and_then(container_in_cgroup)
        .or_else(|| sources.mountinfo.as_deref().and_then(container_in_mountinfo))
        .map(HostId::Container)
        .or_else(|| first_mac(&sources.interfaces).map(HostId::Mac))
}

/// The container id in `/proc/self/cgroup`: the last id-shaped path segment
/// (after any pod segment), e.g. `0::/kubepods.slice/…/cri-containerd-<id>.scope`.
pub fn container_in_cgroup(contents: &str) -> Option<String> {
    contents.lines().find_map(|line| {
        // hierarchy-id:controllers:path
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(container_segment)
    })
}

/// The container id in `/proc/self/mountinfo`, for cgroup v2 hosts: docker
/// mounts `…/containers/<id>/hostname`, containerd and cri-o mount from
/// `…/<id>/…` under their state directories.
pub fn container_in_mountinfo(contents: &str) -> Option<String> {
    const MARKERS: [&str; 4] = ["/containers/", "/sandboxes/", "io.containerd.", "/overlay-containers/"];
    contents.lines().filter(|line| MARKERS.iter().any(|m| line.contains(m))).find_map(|line| {
        line.split_whitespace().flat_map(|field| field.split('/')).find_map(container_segment)
    })
}

/// A path segment that is a container id, with runtime decorations removed.
fn container_segment(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = ["docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"]
        .iter()
        .find_map(|prefix| segment.strip_prefix(prefix))
        .unwrap_or(segment);
    let hex = id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && (MIN_ID..=MAX_ID).contains(&id.len())).then(|| id.to_owned())
}

/// The first MAC of a non-loopback interface that is not all zeros.
pub fn first_mac(interfaces: &[(String, String)]) -> Option<String> {
    interfaces.iter().find_map(|(name, mac)| {
        let digits: String =
            mac.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
        let usable = name != "lo"
            && digits.len() == 12
            && digits.bytes().all(|b| b.is_ascii_hexdigit())
            && digits.bytes().any(|b| b != b'0');
        usable.then_some(digits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1c2a9be0d84b7c9e6f5a4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

    fn cgroup(text: &str) -> HostIdSources {
        HostIdSources { cgroup: Some(text.to_owned()), ..Default::default() }
    }

    #[test]
    fn env_wins() {
        let sources = HostIdSources { env: Some(" box-7 ".into()), ..cgroup(&format!("0::/docker/{ID}")) };
        assert_eq!(derive(&sources), Some(HostId::Env("box-7".into())));
        let blank = HostIdSources { env: Some("  ".into()), ..cgroup(&format!("0::/docker/{ID}")) };
        assert_eq!(derive(&blank), Some(HostId::Container(ID.into())));
    }

    #[test]
    fn cgroup_v1_docker() {
        let text =
            format!("12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n");
        assert_eq!(container_in_cgroup(&text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_v1_kubepods_takes_the_container_not_the_pod() {
        let text = format!("4:pids:/kubepods/besteffort/pod6f2a1c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b/{ID}\n");
        assert_eq!(container_in_cgroup(&text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_v2_systemd_containerd_and_docker_scopes() {
        let containerd = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f2a1c3e_1b2d.slice/cri-containerd-{ID}.scope\n"
        );
        assert_eq!(container_in_cgroup(&containerd).as_deref(), Some(ID));
        let docker = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_in_cgroup(&docker).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_v2_namespaced_falls_back_to_mountinfo() {
        let mountinfo = format!(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             650 640 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n"
        );
        let sources = HostIdSources { mountinfo: Some(mountinfo), ..cgroup("0::/\n") };
        assert_eq!(derive(&sources), Some(HostId::Container(ID.into())));
    }

    #[test]
    fn short_and_odd_ids_never_panic() {
        assert_eq!(container_in_cgroup("0::/docker/abc\n"), None);
        assert_eq!(container_in_cgroup("0::/docker/0123456789ab\n").as_deref(), Some("0123456789ab"));
        assert_eq!(container_in_cgroup(""), None);
        assert_eq!(container_in_cgroup("garbage"), None);
        assert_eq!(container_in_cgroup("0::/user.slice/user-1000.slice/session-2.scope"), None);
        assert_eq!(container_in_mountinfo("x /containers/ y\n"), None);
        let too_long = "a".repeat(65);
        assert_eq!(container_in_cgroup(&format!("0::/docker/{too_long}")), None);
    }

    #[test]
    fn mac_fallback_skips_loopback_and_zero() {
        let interfaces = vec![
            ("lo".to_owned(), "00:00:00:00:00:00".to_owned()),
            ("dummy0".to_owned(), "00:00:00:00:00:00".to_owned()),
            ("eth0".to_owned(), "02:42:AC:11:00:02\n".to_owned()),
            ("eth1".to_owned(), "02:42:ac:11:00:03".to_owned()),
        ];
        let sources = HostIdSources { interfaces, ..cgroup("0::/\n") };
        assert_eq!(derive(&sources), Some(HostId::Mac("0242ac110002".into())));
        assert_eq!(derive(&HostIdSources::default()), None);
    }
}
