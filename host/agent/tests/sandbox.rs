//! The sandbox layout and the confined `/files` access, on a real filesystem.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::symlink;

use meseta_agent::sandbox::{browse_as, max_read_length};
use meseta_agent::{
    FileError, PathError, SandboxIds, SandboxLayout, browse, read_range, resolve_sandbox_path,
};

fn layout() -> (tempfile::TempDir, SandboxLayout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = SandboxLayout::new(dir.path().join("work"));
    (dir, layout)
}

#[test]
fn create_makes_the_run_dir_and_moves_latest() {
    let (_dir, layout) = layout();
    let first = SandboxIds::new("A", "F", "E", "run-1");
    let second = SandboxIds::new("A", "F", "E", "run-2");

    let run1 = layout.create(&first).unwrap();
    assert!(run1.is_dir());
    assert!(run1.ends_with("slaves/A/frameworks/F/executors/E/runs/run-1"));
    let latest = layout.latest_link(&first);
    assert_eq!(
        fs::canonicalize(&latest).unwrap(),
        fs::canonicalize(&run1).unwrap()
    );

    let run2 = layout.create(&second).unwrap();
    assert_eq!(
        fs::canonicalize(&latest).unwrap(),
        fs::canonicalize(&run2).unwrap()
    );
    assert!(run1.is_dir(), "older runs are kept");
    // No temporary link is left behind.
    let names: Vec<_> = fs::read_dir(layout.runs_dir(&first))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["latest", "run-1", "run-2"]);

    // Re-creating a run is harmless and points latest back at it.
    layout.create(&first).unwrap();
    assert_eq!(
        fs::canonicalize(&latest).unwrap(),
        fs::canonicalize(&run1).unwrap()
    );
}

#[test]
fn create_refuses_ids_that_are_not_path_components() {
    let (dir, layout) = layout();
    for ids in [
        SandboxIds::new("A", "..", "E", "C"),
        SandboxIds::new("A", "F", "a/b", "C"),
        SandboxIds::new("A", "F", "E", ""),
    ] {
        assert!(layout.create(&ids).is_err(), "{ids:?}");
    }
    assert!(
        !dir.path().join("work/slaves/A/frameworks").exists() || {
            // Nothing was created outside a valid layout.
            fs::read_dir(dir.path().join("work/slaves/A/frameworks"))
                .unwrap()
                .count()
                == 0
        }
    );
}

#[test]
fn resolution_confines_requests_to_the_sandboxes() {
    let (dir, layout) = layout();
    let ids = SandboxIds::new("A", "F", "E", "C");
    let run = layout.create(&ids).unwrap();
    fs::write(run.join("stdout"), "hello\n").unwrap();
    let secret = dir.path().join("secret.txt");
    fs::write(&secret, "secret").unwrap();
    symlink(&secret, run.join("escape")).unwrap();
    symlink("/etc", run.join("etc-link")).unwrap();
    symlink("stdout", run.join("inside-link")).unwrap();
    let root = layout.slaves_dir();
    let canonical_stdout = fs::canonicalize(run.join("stdout")).unwrap();

    // Accepted: absolute, relative to the root, through `latest`, through an inner symlink.
    let absolute = run.join("stdout");
    assert_eq!(
        resolve_sandbox_path(&root, absolute.to_str().unwrap()).unwrap(),
        canonical_stdout
    );
    assert_eq!(
        resolve_sandbox_path(&root, "A/frameworks/F/executors/E/runs/C/stdout").unwrap(),
        canonical_stdout
    );
    let via_latest = layout.latest_link(&ids).join("stdout");
    assert_eq!(
        resolve_sandbox_path(&root, via_latest.to_str().unwrap()).unwrap(),
        canonical_stdout
    );
    let inner = run.join("inside-link");
    assert_eq!(
        resolve_sandbox_path(&root, inner.to_str().unwrap()).unwrap(),
        canonical_stdout
    );
    // Mesos' virtual path for the newest run.
    assert_eq!(
        layout
            .resolve(
                "A",
                &format!("{}/stdout", SandboxLayout::virtual_latest_path("F", "E"))
            )
            .unwrap(),
        canonical_stdout
    );

    // Refused: traversal, absolute paths outside, symlinks out.
    let traversal = format!("{}/../../etc/passwd", run.display());
    assert!(matches!(
        resolve_sandbox_path(&root, &traversal),
        Err(PathError::Traversal)
    ));
    assert!(matches!(
        resolve_sandbox_path(&root, "../../etc/passwd"),
        Err(PathError::Traversal)
    ));
    assert!(matches!(
        resolve_sandbox_path(&root, "/etc/passwd"),
        Err(PathError::Outside)
    ));
    assert!(matches!(
        resolve_sandbox_path(&root, secret.to_str().unwrap()),
        Err(PathError::Outside)
    ));
    let escape = run.join("escape");
    let err = resolve_sandbox_path(&root, escape.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, PathError::Escapes), "{err:?}");
    assert_eq!(err.http_status(), 400);
    let etc_passwd = run.join("etc-link/passwd");
    assert!(matches!(
        resolve_sandbox_path(&root, etc_passwd.to_str().unwrap()),
        Err(PathError::Escapes)
    ));
    assert!(matches!(
        resolve_sandbox_path(&root, ""),
        Err(PathError::Empty)
    ));
    let missing = run.join("nope");
    let err = resolve_sandbox_path(&root, missing.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, PathError::NotFound));
    assert_eq!(err.http_status(), 404);
    // A sibling whose name starts like the root is not inside it.
    let sibling = dir.path().join("work/slaves-other");
    fs::create_dir_all(&sibling).unwrap();
    assert!(matches!(
        resolve_sandbox_path(&root, sibling.to_str().unwrap()),
        Err(PathError::Outside)
    ));
}

#[test]
fn read_range_follows_mesos_offsets() {
    let (_dir, layout) = layout();
    let run = layout.create(&SandboxIds::new("A", "F", "E", "C")).unwrap();
    let file = run.join("stdout");
    fs::write(&file, "0123456789").unwrap();

    let chunk = read_range(&file, Some(0), None).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("0123456789", 0));
    let chunk = read_range(&file, Some(3), Some(4)).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("3456", 3));
    let chunk = read_range(&file, Some(8), Some(100)).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("89", 8));
    // Size query (Mesos' offset=-1).
    let chunk = read_range(&file, None, None).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("", 10));
    // At or past the end: no data, the offset echoed.
    let chunk = read_range(&file, Some(10), None).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("", 10));
    let chunk = read_range(&file, Some(50), Some(5)).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("", 50));
    let chunk = read_range(&file, Some(2), Some(0)).unwrap();
    assert_eq!((chunk.data.as_str(), chunk.offset), ("", 2));
    // Reads are capped.
    let big = run.join("big");
    fs::write(&big, vec![b'x'; (max_read_length() * 2) as usize]).unwrap();
    let chunk = read_range(&big, Some(0), None).unwrap();
    assert_eq!(chunk.data.len() as u64, max_read_length());
    // The JSON shape.
    let json = serde_json::to_value(read_range(&file, Some(3), Some(2)).unwrap()).unwrap();
    assert_eq!(json, serde_json::json!({"data": "34", "offset": 3}));
    // Directories and missing files.
    assert!(matches!(
        read_range(&run, Some(0), None),
        Err(FileError::IsDirectory)
    ));
    let err = read_range(&run.join("missing"), Some(0), None).unwrap_err();
    assert!(matches!(err, FileError::NotFound));
    assert_eq!(err.http_status(), 404);
}

#[test]
fn browse_lists_like_ls() {
    let (_dir, layout) = layout();
    let run = layout.create(&SandboxIds::new("A", "F", "E", "C")).unwrap();
    fs::write(run.join("stdout"), "hello\n").unwrap();
    fs::create_dir(run.join("subdir")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(run.join("stdout"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(run.join("subdir"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("/nonexistent/target", run.join("dangling")).unwrap();

    let listing = browse(&run).unwrap();
    assert_eq!(
        listing.len(),
        2,
        "the dangling symlink is skipped: {listing:?}"
    );
    let stdout = &listing[0];
    assert_eq!(stdout.path, format!("{}/stdout", run.display()));
    assert_eq!(stdout.size, 6);
    assert_eq!(stdout.mode, "-rw-r--r--");
    assert_eq!(stdout.nlink, 1);
    assert!(stdout.mtime > 1_600_000_000);
    assert!(!stdout.uid.is_empty() && !stdout.gid.is_empty());
    assert_eq!(listing[1].mode, "drwxr-xr-x");

    let shown = browse_as(&run, "/frameworks/F/executors/E/runs/latest/").unwrap();
    assert_eq!(
        shown[0].path,
        "/frameworks/F/executors/E/runs/latest/stdout"
    );
    let json = serde_json::to_value(&shown[0]).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        vec!["gid", "mode", "mtime", "nlink", "path", "size", "uid"]
    );

    // A file lists as empty, as in Mesos.
    assert!(browse(&run.join("stdout")).unwrap().is_empty());
}
