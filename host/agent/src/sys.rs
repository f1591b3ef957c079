//! Safe wrappers over the few libc calls the agent needs: user and group lookups, process-group
//! signals, waiting on a child without reaping it, filesystem and memory sizes, and the mount
//! namespace and read-only bind mounts of a task with read-only volumes.
//!
//! Every `unsafe` block of the crate outside the launcher's `pre_exec` hook lives here, each with
//! the reason it is sound.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A user's entry in the password database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Passwd {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The upper bound we accept for a lookup buffer; databases with larger entries are broken.
const MAX_LOOKUP_BUFFER: usize = 1 << 20;

fn lookup_buffer_size(key: libc::c_int) -> usize {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown keys.
    let n = unsafe { libc::sysconf(key) };
    if n > 0 { n as usize } else { 1024 }
}

/// `getpwnam_r`/`getpwuid_r` report "no such user" either as success with a null result or, on
/// some systems, as one of these errors.
fn is_not_found(rc: libc::c_int) -> bool {
    matches!(rc, libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM)
}

fn passwd_lookup(
    mut call: impl FnMut(&mut libc::passwd, &mut [libc::c_char], &mut *mut libc::passwd) -> libc::c_int,
) -> io::Result<Option<Passwd>> {
    let mut size = lookup_buffer_size(libc::_SC_GETPW_R_SIZE_MAX);
    loop {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: `passwd` is a plain C struct for which all-zero bytes are a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, &mut buf, &mut result);
        if rc == libc::ERANGE && size < MAX_LOOKUP_BUFFER {
            size *= 2;
            continue;
        }
        if result.is_null() {
            return if rc == 0 || is_not_found(rc) {
                Ok(None)
            } else {
                Err(io::Error::from_raw_os_error(rc))
            };
        }
        // SAFETY: on success `pw_name` and `pw_dir` point into `buf`, which is still alive, and
        // are NUL-terminated strings (or null, which we check).
        let name = unsafe { c_string(pwd.pw_name) };
        let home = unsafe { c_string(pwd.pw_dir) };
        return Ok(Some(Passwd {
            name,
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: PathBuf::from(home),
        }));
    }
}

/// Copies a C string into an owned `String` (lossily); null gives the empty string.
///
/// # Safety
/// `ptr` must be null or point to a NUL-terminated string alive for the duration of the call.
unsafe fn c_string(ptr: *const libc::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Looks a user up by name.
pub(crate) fn user_by_name(name: &str) -> io::Result<Option<Passwd>> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    passwd_lookup(|pwd, buf, result| {
        // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's length.
        unsafe { libc::getpwnam_r(cname.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

/// Looks a user up by uid.
pub(crate) fn user_by_uid(uid: u32) -> io::Result<Option<Passwd>> {
    passwd_lookup(|pwd, buf, result| {
        // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's length.
        unsafe { libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), result) }
    })
}

/// The name of a group, if the group database knows it.
pub(crate) fn group_name(gid: u32) -> Option<String> {
    let mut size = lookup_buffer_size(libc::_SC_GETGR_R_SIZE_MAX);
    loop {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: `group` is a plain C struct for which all-zero bytes are a valid value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's length.
        let rc =
            unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && size < MAX_LOOKUP_BUFFER {
            size *= 2;
            continue;
        }
        if result.is_null() {
            return None;
        }
        // SAFETY: on success `gr_name` points into `buf`, still alive, NUL-terminated.
        return Some(unsafe { c_string(grp.gr_name) });
    }
}

/// The supplementary groups of `user` (whose primary group is `gid`), as `initgroups` would set.
pub(crate) fn supplementary_groups(user: &str, gid: u32) -> io::Result<Vec<libc::gid_t>> {
    let cname = CString::new(user).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut capacity: libc::c_int = 32;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; capacity as usize];
        let mut count = capacity;
        // SAFETY: `groups` holds `count` elements; glibc writes at most that many and stores the
        // number it needs in `count`.
        let rc =
            unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count.max(0) as usize);
            return Ok(groups);
        }
        let next = if count > capacity {
            count
        } else {
            capacity * 2
        };
        if next > 65_536 {
            return Err(io::Error::other(format!(
                "user '{user}' has too many supplementary groups"
            )));
        }
        capacity = next;
    }
}

/// The effective uid of the agent.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// Sends `signal` to every process in process group `pgid`. `Ok(false)` when the group is empty.
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) -> io::Result<bool> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if pgid <= 1 {
        // Never let a bogus id turn into "every process we may signal".
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: killpg has no memory-safety preconditions.
    if unsafe { libc::killpg(pgid, signal) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Sends `signal` to process `pid` (one found in a container's cgroup). `Ok(false)` when it is
/// gone.
pub(crate) fn signal_process(pid: libc::pid_t, signal: libc::c_int) -> io::Result<bool> {
    if pid <= 1 {
        // 0 and -1 would signal groups or everything; 1 is init.
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn waitid_nowait(pid: u32, extra_flags: libc::c_int) -> io::Result<Option<()>> {
    loop {
        // SAFETY: `siginfo_t` is a plain C struct for which all-zero bytes are a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | extra_flags,
            )
        };
        if rc == 0 {
            // SAFETY: after a successful waitid the pid field is initialised (zero under
            // WNOHANG when the child has not changed state).
            let reported = unsafe { info.si_pid() };
            return Ok((reported != 0).then_some(()));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie), so that its pid and
/// process group id cannot be recycled until the caller reaps it.
pub(crate) fn wait_exited_unreaped(pid: u32) -> io::Result<()> {
    waitid_nowait(pid, 0).map(|_| ())
}

/// Whether child `pid` has exited (reaped or not is not looked at; call only before reaping).
pub(crate) fn has_exited(pid: u32) -> bool {
    matches!(waitid_nowait(pid, libc::WNOHANG), Ok(Some(())) | Err(_))
}

/// Space on the filesystem holding `path`: `(available to unprivileged users, total)`, in bytes.
pub(crate) fn filesystem_space(path: &Path) -> io::Result<(u64, u64)> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `statvfs` is a plain C struct for which all-zero bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `cpath` is NUL-terminated and `st` is writable.
    if unsafe { libc::statvfs(cpath.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let fragment = st.f_frsize as u64;
    Ok((
        (st.f_bavail as u64).saturating_mul(fragment),
        (st.f_blocks as u64).saturating_mul(fragment),
    ))
}

/// Total physical memory in bytes.
pub(crate) fn total_memory() -> io::Result<u64> {
    // SAFETY: `sysinfo` is a plain C struct for which all-zero bytes are a valid value.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info.totalram as u64).saturating_mul(u64::from(info.mem_unit.max(1))))
}

/// The memory page size in bytes.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

/// `setsid()`: a new session and process group led by the caller; an error (the caller
/// already leads a group) is ignored.
pub(crate) fn new_session() {
    // SAFETY: setsid has no memory-safety preconditions.
    let _ = unsafe { libc::setsid() };
}

/// Blocks until process `pid` (not necessarily a child) has exited, or `alive` says it is no
/// longer the process meant. Uses `pidfd_open` and `poll`; where pidfds are not available,
/// polls `alive` every 200 ms.
pub(crate) fn wait_gone(pid: u32, alive: impl Fn() -> bool) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let Ok(raw_pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
    if fd >= 0 {
        // SAFETY: the kernel returned a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        // The pid might have been reused between the caller's check and pidfd_open.
        if !alive() {
            return;
        }
        loop {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid, writable pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, -1) };
            if rc > 0 {
                return;
            }
            if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
    }
    while alive() {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The flags of the mount holding `path` that a bind mount of it must keep when it is remounted
/// read-only (`nosuid`, `nodev`, `noexec` and the atime ones), as `MS_*` bits. Not for a
/// `pre_exec` hook: call it before forking.
pub(crate) fn mount_flags_to_keep(path: &Path) -> io::Result<libc::c_ulong> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `statvfs` is a plain C struct for which all-zero bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `cpath` is NUL-terminated and `st` is writable.
    if unsafe { libc::statvfs(cpath.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut flags = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    Ok(flags)
}

/// Moves the calling process into a mount namespace of its own (`unshare(CLONE_NEWNS)`) and
/// makes every mount in it a slave of the namespace it left (`MS_REC|MS_SLAVE` on `/`), so
/// that nothing mounted in it propagates back to the agent's (the host's) namespace.
///
/// Only system calls, no allocation and no locks: async-signal-safe, for a `pre_exec` hook
/// (a multi-threaded process cannot unshare its mount namespace).
pub(crate) fn unshare_mount_namespace() -> io::Result<()> {
    // SAFETY: unshare has no memory-safety preconditions.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both strings are NUL-terminated literals; a null data pointer is allowed.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bind-mounts `source` on `target` (an existing directory) and remounts the bind read-only,
/// keeping `keep_flags` (see [`mount_flags_to_keep`]). Call it in a mount namespace of the
/// process's own ([`unshare_mount_namespace`]).
///
/// Async-signal-safe, for a `pre_exec` hook.
pub(crate) fn bind_mount_read_only(
    source: &CStr,
    target: &CStr,
    keep_flags: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated; null type and data pointers are allowed.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; a remount ignores the source.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep_flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this process may give a child a mount namespace of its own with read-only bind
/// mounts: the agent is root and a forked child can [`unshare_mount_namespace`]. The error
/// says why not.
pub(crate) fn probe_mount_namespaces() -> Result<(), String> {
    let euid = effective_uid();
    if euid != 0 {
        return Err(format!(
            "the agent runs as uid {euid}, not root, and cannot make mount namespaces"
        ));
    }
    // SAFETY: the child only makes async-signal-safe system calls (unshare, mount, _exit)
    // before it exits; it touches no lock and allocates nothing.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!(
            "cannot fork to try a mount namespace: {}",
            io::Error::last_os_error()
        ));
    }
    if pid == 0 {
        let code = match unshare_mount_namespace() {
            Ok(()) => 0,
            Err(e) => 1 + e.raw_os_error().unwrap_or(0).clamp(0, 250),
        };
        // SAFETY: _exit is async-signal-safe and ends the child without running atexit
        // handlers or destructors of the parent's state.
        unsafe { libc::_exit(code) };
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is writable; `pid` is our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(format!("cannot wait for the mount namespace probe: {err}"));
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        return Ok(());
    }
    let errno = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) - 1
    } else {
        0
    };
    Err(format!(
        "a process of the agent cannot get a private mount namespace \
         (unshare(CLONE_NEWNS) and making / a slave mount failed: {})",
        io::Error::from_raw_os_error(errno)
    ))
}
