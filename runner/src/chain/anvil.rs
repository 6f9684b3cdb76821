//! Finding and starting Anvil: the binary lookup, a free loopback port, and
//! readiness under a deadline with the log tail on failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, RootProvider};

use super::ChainError;
use crate::process::ChildGuard;

/// The npm package that ships the Anvil binary this project is tested with.
pub const NPM_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64@1.7.1";
const NPM_BIN: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// A fork fetches its block and chain id over the network before it answers.
const FORK_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds Anvil: `explicit` (the `--anvil` flag), `$ANVIL`, PATH,
/// `~/.foundry/bin/anvil`, then the project's npm install (searched upward from
/// the working directory and from the runner's own location).
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, ChainError> {
    if let Some(path) = explicit {
        return executable(path).ok_or_else(|| ChainError::AnvilNotFound {
            tried: format!("--anvil {}", path.display()),
        });
    }
    if let Some(path) = std::env::var_os("ANVIL").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return executable(&path).ok_or_else(|| ChainError::AnvilNotFound {
            tried: format!("$ANVIL={}", path.display()),
        });
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("anvil"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".foundry/bin/anvil"));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        candidates.extend(start.ancestors().map(|dir| dir.join(NPM_BIN)));
    }
    candidates
        .iter()
        .find_map(|c| executable(c))
        .ok_or_else(|| ChainError::AnvilNotFound {
            tried: "--anvil, $ANVIL, PATH, ~/.foundry/bin, ./node_modules".to_owned(),
        })
}

fn executable(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| path.to_owned())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What to start Anvil with.
pub struct AnvilArgs {
    /// `None` on a fork: the chain id is the fork's.
    pub chain_id: Option<u64>,
    pub gas_limit: u64,
    /// `None` on a fork: time continues from the fork block.
    pub genesis_timestamp: Option<u64>,
    /// Fork this (loopback relay) URL at this block.
    pub fork: Option<(String, u64)>,
}

/// A started, answering Anvil.
pub struct Anvil {
    pub guard: ChildGuard,
    pub port: u16,
    pub version: String,
    pub provider: RootProvider,
}

impl AnvilArgs {
    fn argv(&self, port: u16) -> Vec<String> {
        let mut argv: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--gas-limit",
            &self.gas_limit.to_string(),
            "--base-fee",
            "0",
            "--no-mining",
            "--no-request-size-limit",
            "--disable-console-log",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(id) = self.chain_id {
            argv.extend(["--chain-id".to_owned(), id.to_string()]);
        }
        if let Some(timestamp) = self.genesis_timestamp {
            argv.extend(["--timestamp".to_owned(), timestamp.to_string()]);
        }
        if let Some((url, block)) = &self.fork {
            // No on-disk RPC cache: two forks with the same chain id and block
            // number may hold different state (every local upstream does).
            argv.extend([
                "--fork-url".to_owned(),
                url.clone(),
                "--fork-block-number".to_owned(),
                block.to_string(),
                "--no-storage-caching".to_owned(),
                "--fork-retry-backoff".to_owned(),
                "200".to_owned(),
                "--retries".to_owned(),
                "2".to_owned(),
            ]);
        }
        argv
    }
}

/// Starts Anvil on a free loopback port with automine off and waits until it
/// answers `eth_chainId` (and, when the chain id was given, answers it right).
pub async fn spawn(binary: &Path, args: &AnvilArgs, log_path: &Path) -> Result<Anvil, ChainError> {
    let port = free_port().map_err(ChainError::Io)?;
    let argv = args.argv(port);
    let mut guard = ChildGuard::spawn("anvil", binary, &argv, &[], log_path)?;
    let provider = loopback_provider(port);
    let ready_timeout = if args.fork.is_some() {
        FORK_READY_TIMEOUT
    } else {
        READY_TIMEOUT
    };
    let deadline = Instant::now() + ready_timeout;
    loop {
        // The port was free a moment ago; only an answer from a socket our own
        // child holds counts, never another process that took the port since.
        let answered = match provider.get_chain_id().await {
            Ok(id) if listens_on(guard.pid(), port) => Some(id),
            _ => None,
        };
        if let Some(id) = answered {
            match args.chain_id {
                Some(expected) if id != expected => {
                    return Err(ChainError::Unexpected(format!(
                        "anvil answered chain id {id}, expected {expected}"
                    )))
                }
                _ => break,
            }
        }
        if let Some(status) = guard.try_exit_status() {
            return Err(ChainError::AnvilExited {
                status: status.to_string(),
                tail: guard.log_tail(20),
            });
        }
        if Instant::now() > deadline {
            return Err(ChainError::AnvilNotReady {
                after: ready_timeout,
                tail: guard.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let version = provider
        .get_client_version()
        .await
        .unwrap_or_else(|_| "anvil (unknown version)".to_owned());
    Ok(Anvil {
        guard,
        port,
        version,
        provider,
    })
}

/// True when process `pid` holds a TCP socket listening on loopback `port`
/// (Linux: its socket inodes matched against `/proc/net/tcp{,6}`).
fn listens_on(pid: u32, port: u16) -> bool {
    let listening: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| listening_inodes(&text, port))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?.to_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .any(|inode| listening.contains(&inode))
}

/// Inodes of the sockets in a `/proc/net/tcp` table listening (state 0A) on `port`.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let wanted = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            (local_port == wanted && *fields.get(3)? == "0A")
                .then(|| fields.get(9).map(|i| i.to_string()))?
        })
        .collect()
}

/// Longest any single call to Anvil may take; mining a 3,000-transaction block takes under 1 s here.
const RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP provider for Anvil that never goes through a proxy: every byte stays on loopback.
fn loopback_provider(port: u16) -> RootProvider {
    let url = format!("http://127.0.0.1:{port}")
        .parse()
        .expect("a loopback URL parses");
    let client = reqwest::Client::builder()
        .no_proxy()
        // A stuck Anvil (say, a fork waiting on its upstream) must not hang the run.
        .timeout(RPC_TIMEOUT)
        .build()
        .expect("a plain HTTP client builds");
    let transport = alloy::transports::http::Http::with_client(client, url);
    RootProvider::new(alloy::rpc::client::RpcClient::new(transport, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_explicit_anvil_names_what_was_tried() {
        let err = find(Some(Path::new("/nonexistent/anvil"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/anvil"), "{text}");
        assert!(text.contains(NPM_PACKAGE), "{text}");
    }

    #[test]
    fn listening_sockets_are_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8080), vec!["4242".to_owned()]);
        assert!(listening_inodes(table, 8081).is_empty());
    }

    #[test]
    fn this_process_is_seen_listening_on_its_own_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listens_on(std::process::id(), port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }

    #[test]
    fn free_ports_are_loopback_and_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
