//! Open-file limits: every call in flight to the local endpoint is one client socket
//! and one server socket, so 10,000 parallel calls need over 20,000 descriptors.

/// Raise the soft limit on open files to at least `wanted` where possible (up to the hard
/// limit, which root may also raise). Returns the soft limit now in force.
pub fn raise_open_files(wanted: u64) -> std::io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= wanted {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit { rlim_cur: wanted, rlim_max: lim.rlim_max.max(wanted) };
    // SAFETY: as above. Raising the hard limit needs root; otherwise fall back to it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    let capped = libc::rlimit { rlim_cur: lim.rlim_max.min(wanted), rlim_max: lim.rlim_max };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(capped.rlim_cur)
}
