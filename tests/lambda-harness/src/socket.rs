//! Reads socket options back from a running process's own TCP sockets, to prove what a
//! function really set on its connection to the database rather than what its code intends.
//!
//! `pidfd_getfd(2)` duplicates another process's descriptor into ours (the caller needs
//! ptrace access to it: our own children, or ourselves); the duplicate refers to the same open
//! socket, so `getsockopt` on it reads that socket's options.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};

/// One TCP socket of a process, connected to the peer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    /// The descriptor's number in its process.
    pub fd: i32,
    pub local: SocketAddr,
    pub nodelay: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("process {pid}: {what}")]
    Os {
        pid: u32,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Every TCP socket process `pid` holds that is connected to `peer`, with its TCP_NODELAY.
pub fn tcp_sockets_to(pid: u32, peer: SocketAddr) -> Result<Vec<TcpSocket>, SocketError> {
    let os = |what: String| move |source: std::io::Error| SocketError::Os { pid, what, source };
    let raw = i32::try_from(pid).ok().and_then(Pid::from_raw);
    let pid_fd = raw
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()).map_err(Into::into))
        .map_err(os("pidfd_open".into()))?;
    let dir = format!("/proc/{pid}/fd");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(os(format!("read {dir}")))? {
        let entry = entry.map_err(os(format!("read {dir}")))?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // A descriptor closed since the listing is gone, not an error; neither is a non-socket.
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        let Ok(socket) = pidfd_getfd(&pid_fd, fd, PidfdGetfdFlags::empty()) else {
            continue;
        };
        if let Some(found_one) = tcp_to(&socket, fd, peer).map_err(os(format!("fd {fd}")))? {
            found.push(found_one);
        }
    }
    Ok(found)
}

fn tcp_to(socket: &OwnedFd, fd: i32, peer: SocketAddr) -> std::io::Result<Option<TcpSocket>> {
    use rustix::net::{getpeername, getsockname, sockopt};
    let connected_to = getpeername(socket)
        .ok()
        .flatten()
        .and_then(|a| SocketAddr::try_from(a).ok());
    if connected_to != Some(peer) {
        return Ok(None); // another peer, a listener, or not an IP socket
    }
    let local = getsockname(socket)?;
    let local = SocketAddr::try_from(local)
        .map_err(|_| std::io::Error::other("a connected IP socket with a non-IP local address"))?;
    Ok(Some(TcpSocket {
        fd,
        local,
        nodelay: sockopt::tcp_nodelay(socket)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reader itself: a socket with Nagle on reads false, one with it off reads true, and
    // nothing is reported for a peer nobody is connected to.
    #[tokio::test]
    async fn reads_tcp_nodelay_back_from_this_process() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = listener.local_addr().unwrap();
        let plain = tokio::net::TcpStream::connect(peer).await.unwrap();
        let quick = tokio::net::TcpStream::connect(peer).await.unwrap();
        quick.set_nodelay(true).unwrap();
        let mut seen = tcp_sockets_to(std::process::id(), peer).unwrap();
        seen.sort_by_key(|s| s.local.port());
        let mut want = vec![
            (plain.local_addr().unwrap(), false),
            (quick.local_addr().unwrap(), true),
        ];
        want.sort_by_key(|(a, _)| a.port());
        let got: Vec<_> = seen.iter().map(|s| (s.local, s.nodelay)).collect();
        assert_eq!(got, want);
        drop(listener);
        let nobody: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(
            tcp_sockets_to(std::process::id(), nobody)
                .unwrap()
                .is_empty()
        );
    }
}
