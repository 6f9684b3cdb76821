//! `ChildGuard`: the one owner of every child process the runner starts (Anvil,
//! the engine). The child runs in its own process group with its output in a
//! log file; stopping it (explicitly, on drop, or from the signal handler) sends
//! SIGTERM to the whole group, waits a bounded time, then SIGKILLs and reaps.
//!
//! When the runner itself is SIGKILLed (or OOM-killed) no drop or handler runs,
//! so every child is also started with `PR_SET_PDEATHSIG = SIGKILL`: the kernel
//! kills it when its parent goes. Linux ties that signal to the *thread* that
//! forked the child, and tokio's worker threads come and go, so all children
//! are forked by one spawner thread that lives as long as the process.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Process groups of every live child, so a second Ctrl-C can kill them all at once.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Errors starting a child.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot create log file {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running child process that is ended whenever the guard goes away.
pub struct ChildGuard {
    name: String,
    child: Option<std::process::Child>,
    pgid: i32,
    log_path: PathBuf,
    exit: Arc<Mutex<Option<ExitStatus>>>,
}

impl ChildGuard {
    /// Starts `program args…` with `env` added, stdout and stderr appended to `log_path`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_path: &Path,
    ) -> Result<Self, ProcessError> {
        Self::start(name, program, args, env, log_path, None)
    }

    /// As [`ChildGuard::spawn`], with `cwd` as the child's working directory.
    pub fn spawn_in(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_path: &Path,
        cwd: &Path,
    ) -> Result<Self, ProcessError> {
        Self::start(name, program, args, env, log_path, Some(cwd))
    }

    fn start(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_path: &Path,
        cwd: Option<&Path>,
    ) -> Result<Self, ProcessError> {
        // Appended, not truncated: a restarted engine continues its log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|source| ProcessError::Log {
                path: log_path.to_owned(),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| ProcessError::Log {
            path: log_path.to_owned(),
            source,
        })?;
        let mut command = std::process::Command::new(program);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = spawn_bound_to_runner(command).map_err(|source| ProcessError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let pgid = child.id() as i32;
        LIVE_GROUPS.lock().expect("live group list").push(pgid);
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            pgid,
            log_path: log_path.to_owned(),
            exit: Arc::new(Mutex::new(None)),
        })
    }

    /// The child's PID (equal to its process group id).
    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    /// Where the child's stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// `Some(status)` once the child has exited on its own.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if let Some(status) = *self.exit.lock().expect("exit lock") {
            return Some(status);
        }
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        *self.exit.lock().expect("exit lock") = Some(status);
        Some(status)
    }

    /// The last `lines` lines of the child's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    /// Sends `signal` to the child's process group (SIGSTOP and SIGCONT for a pause).
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        if self.child.is_none() {
            return Ok(());
        }
        killpg(Pid::from_raw(self.pgid), signal)
    }

    /// Ends the child: SIGTERM to its group, a bounded wait, then SIGKILL. Returns
    /// its exit status when it could be reaped.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.terminate()
    }

    /// Ends the child with `signal` first (SIGTERM for an orderly stop,
    /// SIGKILL for a crash), then as [`ChildGuard::stop`].
    pub fn stop_with(mut self, signal: Signal) -> Option<ExitStatus> {
        self.terminate_with(signal)
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        self.terminate_with(Signal::SIGTERM)
    }

    fn terminate_with(&mut self, signal: Signal) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        forget_group(self.pgid);
        let group = Pid::from_raw(self.pgid);
        if let Ok(Some(status)) = child.try_wait() {
            // The leader is gone; make sure nothing it started survives it.
            let _ = killpg(group, Signal::SIGKILL);
            return Some(status);
        }
        let _ = killpg(group, signal);
        // A stopped group (a pause the run did not live to end) acts on SIGTERM only once
        // continued.
        let _ = killpg(group, Signal::SIGCONT);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                let _ = killpg(group, Signal::SIGKILL);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            "{} ignored SIGTERM for {STOP_GRACE:?}; killing it",
            self.name
        );
        let _ = killpg(group, Signal::SIGKILL);
        match child.wait() {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::warn!("cannot reap {}: {e}", self.name);
                None
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A command to fork and where to send the result.
type SpawnJob = (
    std::process::Command,
    SyncSender<std::io::Result<std::process::Child>>,
);

/// Forks `command` on the spawner thread, with the parent-death signal set, so
/// the child dies with the runner however the runner ends.
fn spawn_bound_to_runner(
    mut command: std::process::Command,
) -> std::io::Result<std::process::Child> {
    let runner_pid = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid, kill); it allocates nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The runner may have died between fork and prctl: then no signal
            // would ever come, so end now.
            if nix::unistd::getppid() != runner_pid {
                let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGKILL);
            }
            Ok(())
        });
    }
    let (reply, answer) = sync_channel(1);
    spawner()
        .lock()
        .expect("spawner lock")
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread did not answer"))?
}

/// The process-lifetime thread that forks every child.
fn spawner() -> &'static Mutex<Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnJob>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (jobs, incoming) = channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("cowload-spawner".to_owned())
            .spawn(move || {
                // Never returns while the process lives: the sender is in a static.
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(jobs)
    })
}

fn forget_group(pgid: i32) {
    if let Ok(mut groups) = LIVE_GROUPS.lock() {
        groups.retain(|g| *g != pgid);
    }
}

/// SIGKILLs every live child group at once; for the second Ctrl-C, when there is
/// no time left for orderly shutdown.
pub fn kill_all_now() {
    if let Ok(groups) = LIVE_GROUPS.lock() {
        for pgid in groups.iter() {
            let _ = killpg(Pid::from_raw(*pgid), Signal::SIGKILL);
        }
    }
}

/// The last `lines` lines of a log file (reads at most the final 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_ok()
    }

    fn sh(script: &str, dir: &Path) -> ChildGuard {
        ChildGuard::spawn(
            "sh",
            Path::new("/bin/sh"),
            &["-c".to_owned(), script.to_owned()],
            &[],
            &dir.join("child.log"),
        )
        .expect("spawn sh")
    }

    /// `engine_restart`'s two stops: SIGTERM lets the child run its own exit,
    /// SIGKILL does not; either way the guard reaps it. The log of a second
    /// child with the same path continues the first one's.
    #[test]
    fn stop_with_sends_the_signal_asked_for_and_the_log_is_appended() {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        // The child prints its word once its trap is set; wait for it (bounded).
        let wait_for = |word: &str| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(word)
            {
                assert!(Instant::now() < deadline, "the child never printed {word}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let term = sh(
            "trap 'exit 7' TERM; echo first; sleep 30 & wait",
            dir.path(),
        );
        wait_for("first");
        let status = term.stop_with(Signal::SIGTERM).expect("reaped");
        assert_eq!(status.code(), Some(7), "{status}");
        let kill = sh(
            "trap 'exit 7' TERM; echo second; sleep 30 & wait",
            dir.path(),
        );
        wait_for("second");
        let status = kill.stop_with(Signal::SIGKILL).expect("reaped");
        assert_eq!(status.signal(), Some(9), "{status}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "first\nsecond\n");
    }

    #[test]
    fn drop_ends_the_child_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let grandchild_file = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", grandchild_file.display());
        let guard = sh(&script, dir.path());
        let pid = guard.pid();
        // The shell creates the file before it writes the PID: wait for a whole line.
        let deadline = Instant::now() + Duration::from_secs(5);
        let written = || {
            std::fs::read_to_string(&grandchild_file)
                .ok()
                .filter(|text| text.ends_with('\n'))
        };
        while written().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let grandchild: u32 = written()
            .expect("the shell wrote the grandchild's PID")
            .trim()
            .parse()
            .unwrap();
        assert!(alive(pid) && alive(grandchild));
        drop(guard);
        assert!(!alive(pid), "child {pid} survived its guard");
        // The grandchild is reparented to init; it is gone once killed and reaped.
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn a_child_ignoring_sigterm_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let guard = sh("trap '' TERM; while true; do sleep 1; done", dir.path());
        std::thread::sleep(Duration::from_millis(100));
        let pid = guard.pid();
        let status = guard.stop().expect("reaped");
        assert!(!status.success());
        assert!(!alive(pid));
    }

    #[test]
    fn children_outlive_the_thread_that_asked_for_them() {
        // Spawned from a short-lived thread (as from a tokio worker): the
        // parent-death signal is tied to the spawner thread, not this one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let guard = std::thread::spawn(move || sh("sleep 30", &path))
            .join()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            alive(guard.pid()),
            "the child died with the thread that asked for it"
        );
        let pid = guard.pid();
        drop(guard);
        assert!(!alive(pid));
    }

    #[test]
    fn log_tail_returns_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut guard = sh("for i in 1 2 3 4 5; do echo line$i; done", dir.path());
        let deadline = Instant::now() + Duration::from_secs(5);
        while guard.try_exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(guard.log_tail(2), "line4\nline5");
    }
}
