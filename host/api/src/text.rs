//! Mesos' flag texts for an agent's resources and attributes.

use meseta_types::resources::{Attribute, AttributeValue, ValueRange};

pub use meseta_types::resources::parse_resources;

/// Parses Mesos' `--attributes` text, `rack:r1;zone:z2;weight:3;ids:[1-10,20-30]`.
///
/// As in Mesos, a value that parses as a number is `SCALAR`, `[a-b,...]` is `RANGES`, anything
/// else is `TEXT`; set values (`{a,b}`) are refused, Mesos does not support set attributes.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut pieces = part.split(':');
        let (Some(name), Some(value), None) = (pieces.next(), pieces.next(), pieces.next()) else {
            return Err(format!("attribute '{part}' is not of the form name:value"));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(format!("attribute '{part}' has an empty name"));
        }
        let value = if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let mut ranges = Vec::new();
            for range in inner.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (b, e) = range.split_once('-').unwrap_or((range, range));
                match (b.trim().parse::<u64>(), e.trim().parse::<u64>()) {
                    (Ok(begin), Ok(end)) if begin <= end => {
                        ranges.push(ValueRange { begin, end });
                    }
                    _ => return Err(format!("attribute '{name}' has a bad range '{range}'")),
                }
            }
            AttributeValue::Ranges(ranges)
        } else if value.starts_with('{') {
            return Err(format!(
                "attribute '{name}' has a set value '{value}'; Mesos supports only scalar, range and text attributes"
            ));
        } else {
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() => AttributeValue::Scalar(v),
                _ => AttributeValue::Text(value.to_string()),
            }
        };
        out.push(Attribute {
            name: name.to_string(),
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_attribute_text() {
        let a =
            parse_attributes("rack:r1;zone:z2; weight:3;ids:[1-10, 20-30];os:ubuntu16.04").unwrap();
        assert_eq!(a[0].value, AttributeValue::Text("r1".into()));
        assert_eq!(a[2].name, "weight");
        assert_eq!(a[2].value, AttributeValue::Scalar(3.0));
        assert_eq!(
            a[3].value,
            AttributeValue::Ranges(vec![
                ValueRange { begin: 1, end: 10 },
                ValueRange { begin: 20, end: 30 }
            ])
        );
        assert_eq!(a[4].value, AttributeValue::Text("ubuntu16.04".into()));
        assert!(parse_attributes("").unwrap().is_empty());
        assert!(parse_attributes("rack").unwrap_err().contains("name:value"));
        assert!(parse_attributes("a:b:c").is_err());
        assert!(parse_attributes(":x").is_err());
        assert!(parse_attributes("s:{a,b}").unwrap_err().contains("set"));
        assert!(parse_attributes("p:[5-1]").is_err());
        // Non-finite numbers stay text.
        assert_eq!(
            parse_attributes("x:inf").unwrap()[0].value,
            AttributeValue::Text("inf".into())
        );
    }
}
