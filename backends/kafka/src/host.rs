//! Reads the files the host id is derived from; the derivation itself is
//! the pure [`weir_core::host_id::derive`].

use weir_core::host_id::{derive, HostId, HostIdSources};

/// This machine's host id, if any source has one.
pub(crate) fn host_id() -> Option<HostId> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mut interfaces: Vec<(String, String)> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let mac = std::fs::read_to_string(entry.path().join("address")).ok()?;
            Some((name, mac))
        })
        .collect();
    // Listing order is arbitrary; by name, "first" is the same on every run.
    interfaces.sort();
    derive(&HostIdSources {
        env: std::env::var("HOST_ID").ok(),
        cgroup: read("/proc/self/cgroup"),
        mountinfo: read("/proc/self/mountinfo"),
        interfaces,
    })
}
