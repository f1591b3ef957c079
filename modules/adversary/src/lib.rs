//! What the adversarial test guests (`test-*-adversary`) share: the `mode` parameter that picks
//! the misbehaviour, a loop the host must interrupt, and a memory bomb the memory cap must stop.

use meseta_types::{Parameters, parameter};

/// Memory the bomb allocates at a time.
pub const CHUNK: usize = 16 * 1024 * 1024;

/// The `mode` parameter (default `ok`), which must be one of `modes`.
pub fn mode(parameters: &Parameters, modes: &[&str]) -> Result<String, String> {
    let mode = parameter(parameters, "mode").unwrap_or("ok");
    if modes.contains(&mode) {
        Ok(mode.to_string())
    } else {
        Err(format!(
            "unknown mode '{mode}'; modes: {}",
            modes.join(", ")
        ))
    }
}

/// Spins until the host interrupts it; the counter goes through `black_box`, so the loop cannot
/// be optimised away.
pub fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates and touches [`CHUNK`]s until the allocator fails (which aborts).
pub fn memory_bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // write every page so the memory is really committed
        for byte in chunk.iter_mut().step_by(4096) {
            *byte = 1;
        }
        hoard.push(std::hint::black_box(chunk));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mode_defaults_to_ok_and_refuses_unknown_ones() {
        let p = |m: &str| vec![("mode".to_string(), m.to_string())];
        assert_eq!(mode(&[], &["ok", "loop"]).unwrap(), "ok");
        assert_eq!(mode(&p("loop"), &["ok", "loop"]).unwrap(), "loop");
        assert_eq!(
            mode(&p("nope"), &["ok", "loop"]).unwrap_err(),
            "unknown mode 'nope'; modes: ok, loop"
        );
    }
}
