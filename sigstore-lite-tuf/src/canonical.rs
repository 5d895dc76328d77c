//! The canonical JSON TUF signs over (OLPC canonical JSON, as securesystemslib's
//! `encode_canonical` writes it): object keys sorted by their bytes, no whitespace, strings
//! with only `"` and `\` escaped, integers only. About thirty lines, so no crate for it.

use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("canonical JSON has no floating-point numbers ({0})")]
    Float(String),
}

/// The canonical bytes of `v`.
pub fn encode(v: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            out.extend_from_slice(n.to_string().as_bytes())
        }
        Value::Number(n) => return Err(CanonicalError::Float(n.to_string())),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                write(&map[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_and_minimally_escaped() {
        let v = json!({"b": [1, true, null], "a": "q\"\\\n", "B": {"z": 0, "y": -3}});
        assert_eq!(
            String::from_utf8(encode(&v).unwrap()).unwrap(),
            "{\"B\":{\"y\":-3,\"z\":0},\"a\":\"q\\\"\\\\\n\",\"b\":[1,true,null]}"
        );
        assert!(encode(&json!({"x": 1.5})).is_err());
    }
}
