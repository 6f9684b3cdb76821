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
    pub chain_id: u64,
    pub gas_limit: u64,
    pub genesis_timestamp: u64,
}

/// A started, answering Anvil.
pub struct Anvil {
    pub guard: ChildGuard,
    pub port: u16,
    pub version: String,
    pub provider: RootProvider,
}

/// Starts Anvil on a free loopback port with automine off and waits until it
/// answers `eth_chainId`.
pub async fn spawn(binary: &Path, args: &AnvilArgs, log_path: &Path) -> Result<Anvil, ChainError> {
    let port = free_port().map_err(ChainError::Io)?;
    let argv: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--chain-id",
        &args.chain_id.to_string(),
        "--gas-limit",
        &args.gas_limit.to_string(),
        "--timestamp",
        &args.genesis_timestamp.to_string(),
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
    let mut guard = ChildGuard::spawn("anvil", binary, &argv, &[], log_path)?;
    let provider = loopback_provider(port);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(id) = provider.get_chain_id().await {
            if id != args.chain_id {
                return Err(ChainError::Unexpected(format!(
                    "anvil answered chain id {id}, expected {}",
                    args.chain_id
                )));
            }
            break;
        }
        if let Some(status) = guard.try_exit_status() {
            return Err(ChainError::AnvilExited {
                status: status.to_string(),
                tail: guard.log_tail(20),
            });
        }
        if Instant::now() > deadline {
            return Err(ChainError::AnvilNotReady {
                after: READY_TIMEOUT,
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

/// An HTTP provider for Anvil that never goes through a proxy: every byte stays on loopback.
fn loopback_provider(port: u16) -> RootProvider {
    let url = format!("http://127.0.0.1:{port}")
        .parse()
        .expect("a loopback URL parses");
    let client = reqwest::Client::builder()
        .no_proxy()
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
    fn free_ports_are_loopback_and_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
