//! Checks on hook output before the daemon uses it. A failed check is a module fault.

use meseta_bindings::hook_types as wh;
use meseta_bindings::types as w;

pub fn labels(labels: &[w::Label]) -> Result<(), String> {
    for (i, l) in labels.iter().enumerate() {
        if l.key.is_empty() {
            return Err(format!("label {i} has an empty key"));
        }
        if l.key.contains('\0') || l.value.as_deref().is_some_and(|v| v.contains('\0')) {
            return Err(format!(
                "label '{}' contains a NUL byte",
                l.key.escape_debug()
            ));
        }
    }
    Ok(())
}

pub fn resources(resources: &[w::Resource]) -> Result<(), String> {
    for r in resources {
        if r.name.is_empty() {
            return Err("a resource has an empty name".into());
        }
        match &r.value {
            w::ResourceValue::Scalar(v) if !v.is_finite() || *v < 0.0 => {
                return Err(format!("resource '{}' has the invalid amount {v}", r.name));
            }
            w::ResourceValue::Ranges(rs) => {
                if let Some(bad) = rs.iter().find(|x| x.begin > x.end) {
                    return Err(format!(
                        "resource '{}' has the inverted range {}-{}",
                        r.name, bad.begin, bad.end
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn environment(env: &[w::EnvVar]) -> Result<(), String> {
    for e in env {
        if e.name.is_empty() || e.name.contains('=') || e.name.contains('\0') {
            return Err(format!(
                "environment variable name '{}' is empty or contains '=' or NUL",
                e.name.escape_debug()
            ));
        }
        if e.value.contains('\0') {
            return Err(format!(
                "environment variable '{}' has a NUL byte in its value",
                e.name
            ));
        }
    }
    Ok(())
}

pub fn attributes(attributes: &[w::Attribute]) -> Result<(), String> {
    for a in attributes {
        if a.name.is_empty() {
            return Err("an attribute has an empty name".into());
        }
        if let w::AttributeValue::Scalar(v) = a.value
            && !v.is_finite()
        {
            return Err(format!("attribute '{}' has the invalid value {v}", a.name));
        }
    }
    Ok(())
}

pub fn status(status: &wh::TaskStatus) -> Result<(), String> {
    labels(&status.labels)
}
