//! `test-hooks-recorder`: an agent-hooks test guest for the end-to-end tests of the agent's hook
//! call sites. Not shipped.
//!
//! Every parameter is optional; a point whose parameter is absent keeps:
//!
//! | parameter | hook point | behaviour |
//! |---|---|---|
//! | `run_task_label` = `k=v` | `run_task_label_decorator` | appends the label `k=v` |
//! | `status_label` = `k=v` | `task_status_decorator` | appends the label `k=v` |
//! | `attribute` = `name:text` | `attributes_decorator` | appends a text attribute |
//! | `resource` = `name:amount` | `resources_decorator` | appends a scalar resource |
//! | `log` = guest path | `post_fetch`, `remove_executor` | appends `post-fetch <container> <dir>` or `remove-executor <framework> <executor>` to the file (it needs a writable grant) |
//! | `fault` = `trap` or `loop` | `task_status_decorator` | for the task `trigger`, panics or spins until the deadline |
//!
//! A bad parameter fails `init`.
//!
//! This crate exports the policy as a version 2 module (`meseta:hooks@0.2.0`, borrowed handles);
//! `test-hooks-recorder-v1` exports the same policy in the version 1 world of
//! `meseta:modules@0.1.0`, so the tests drive both versions the host serves.

mod policy;

pub use policy::{Fault, RecorderHook};

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_agent_hooks!(RecorderHook);
