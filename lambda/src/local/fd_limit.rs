//! Open-file limits: every call in flight to the local endpoint is one client socket
//! and one server socket, so 10,000 parallel calls need over 20,000 descriptors.

use rlimit::Resource;

/// Raise the soft limit on open files to at least `wanted` where possible (up to the hard
/// limit, which root may also raise). Returns the soft limit now in force.
pub fn raise_open_files(wanted: u64) -> std::io::Result<u64> {
    let (soft, hard) = Resource::NOFILE.get()?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Raising the hard limit needs root; otherwise fall back to the hard limit.
    if Resource::NOFILE.set(wanted, hard.max(wanted)).is_ok() {
        return Ok(wanted);
    }
    let capped = hard.min(wanted);
    Resource::NOFILE.set(capped, hard)?;
    Ok(capped)
}
