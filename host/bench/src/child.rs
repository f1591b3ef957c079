//! Daemons run as child processes of this same binary (`meseta master`, `meseta agent`), so that
//! a scenario can SIGKILL them for real and measure their memory.

use std::io::BufRead;
use std::process::{Command, Stdio};

/// A child process, SIGKILLed (and reaped) when dropped.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `meseta` (the running binary), to be given a subcommand.
pub(crate) fn meseta() -> anyhow::Result<Command> {
    Ok(Command::new(std::env::current_exe()?))
}

/// Starts `command` (its stdout piped) and waits until it prints a line starting with `ready`
/// (`Agent: `, `Master: `); the child and the rest of that line. Its stdout is drained from then
/// on, so it never blocks on it.
pub(crate) fn spawn_ready(command: &mut Command, ready: &str) -> anyhow::Result<(Child, String)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let child = Child(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let rest = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix(ready) {
                    break rest.trim().to_string();
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!(
                "{:?} exited before it printed '{ready}'",
                command.get_args().next().unwrap_or_default()
            ),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, rest))
}
