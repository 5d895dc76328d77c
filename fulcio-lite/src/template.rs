//! The part of Go's text/template that Fulcio's ci-provider templates use, over a token's
//! claims. No crate implements Go's semantics for this subset exactly, and the subset is small:
//!
//! - text, and actions `{{ ... }}` (with `{{-` / `-}}` trimming the space beside them);
//! - `.name`, `.a.b` (a field of a map), `.` (the whole data), `index . "dotted.name"` and
//!   `index .a "b"`;
//! - `{{ if PIPELINE }} ... {{ else if PIPELINE }} ... {{ else }} ... {{ end }}`, where a
//!   pipeline is a value or `eq A B [C...]` / `ne A B` (true when A equals any of B, C, ...), and a
//!   value is true when it is present and not false, 0, "" or empty;
//! - string literals `"..."` (with `\"` and `\\`).
//!
//! As Fulcio runs templates with `missingkey=error`, a field that is not in the data is an
//! error, never an empty string; `index` of a missing key is the empty string, as in Go (which
//! ignores `missingkey` there). Numbers and booleans print as Go prints them.

use serde_json::{Map, Value};

/// Why a template could not be parsed or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template {template:?} does not parse: {why}")]
    Parse { template: String, why: String },
    #[error("the token has no {0} claim")]
    MissingKey(String),
    #[error("{0}")]
    Eval(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Field(Vec<String>),
    Str(String),
    Index(Box<Arg>, Vec<Arg>),
}

#[derive(Debug, Clone, PartialEq)]
enum Pipeline {
    Value(Arg),
    Eq(Arg, Vec<Arg>),
    Ne(Arg, Arg),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Tok {
    Text(String),
    Action(String),
}

fn tokens(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        let after = &rest[i + 2..];
        let (after, trim_left) = match after.strip_prefix('-') {
            Some(a) if a.starts_with([' ', '\t', '\n', '\r']) => (a, true),
            _ => (after, false),
        };
        if trim_left {
            text = text.trim_end().to_string();
        }
        let j = find_close(after).ok_or("an action is not closed with }}")?;
        let mut inner = &after[..j];
        let mut tail = &after[j + 2..];
        if let Some(s) = inner.strip_suffix('-') {
            if s.ends_with([' ', '\t', '\n', '\r']) {
                inner = s;
                tail = tail.trim_start();
            }
        }
        if !text.is_empty() {
            out.push(Tok::Text(text));
        }
        out.push(Tok::Action(inner.trim().to_string()));
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(Tok::Text(rest.to_string()));
    }
    Ok(out)
}

/// The `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i + 1 < b.len() || (in_str && i < b.len()) {
        match (in_str, b[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_str = !in_str,
            (false, b'}') if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Words of an action: string literals kept whole (unescaped), parentheses as words.
fn words(action: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(other) => s.push(other),
                        None => return Err("a string is not closed".into()),
                    },
                    Some('"') => break,
                    Some(other) => s.push(other),
                    None => return Err("a string is not closed".into()),
                }
            }
            out.push((s, true));
        } else if c == '(' || c == ')' {
            chars.next();
            out.push((c.to_string(), false));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push((w, false));
        }
    }
    Ok(out)
}

fn arg(words: &[(String, bool)], i: &mut usize) -> Result<Arg, String> {
    let (w, quoted) = words.get(*i).ok_or("an argument is missing")?.clone();
    *i += 1;
    if quoted {
        return Ok(Arg::Str(w));
    }
    if w == "(" {
        let a = match words.get(*i).map(|x| x.0.as_str()) {
            Some("index") => {
                *i += 1;
                index(words, i)?
            }
            _ => arg(words, i)?,
        };
        if words.get(*i).map(|x| x.0.as_str()) != Some(")") {
            return Err("a ( is not closed".into());
        }
        *i += 1;
        return Ok(a);
    }
    if w == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = w.strip_prefix('.') {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("{w:?} is not a field"));
        }
        return Ok(Arg::Field(parts));
    }
    Err(format!("{w:?} is not a field, a string or (index ...)"))
}

fn index(words: &[(String, bool)], i: &mut usize) -> Result<Arg, String> {
    let base = arg(words, i)?;
    let mut keys = Vec::new();
    while *i < words.len() && words[*i].0 != ")" {
        keys.push(arg(words, i)?);
    }
    if keys.is_empty() {
        return Err("index needs a key".into());
    }
    Ok(Arg::Index(Box::new(base), keys))
}

fn pipeline(words: &[(String, bool)]) -> Result<Pipeline, String> {
    let mut i = 0;
    let p = match words.first().map(|w| (w.0.as_str(), w.1)) {
        Some(("eq", false)) => {
            i = 1;
            let a = arg(words, &mut i)?;
            let mut rest = vec![arg(words, &mut i)?];
            while i < words.len() {
                rest.push(arg(words, &mut i)?);
            }
            Pipeline::Eq(a, rest)
        }
        Some(("ne", false)) => {
            i = 1;
            let a = arg(words, &mut i)?;
            Pipeline::Ne(a, arg(words, &mut i)?)
        }
        Some(("index", false)) => {
            i = 1;
            Pipeline::Value(index(words, &mut i)?)
        }
        Some(_) => Pipeline::Value(arg(words, &mut i)?),
        None => return Err("an empty action".into()),
    };
    if i != words.len() {
        return Err(format!("unexpected {:?}", words[i].0));
    }
    Ok(p)
}

/// What closed a list of nodes.
enum Closer {
    Eof,
    End,
    Else,
    ElseIf(Pipeline),
}

fn parse_nodes(
    toks: &mut std::iter::Peekable<std::vec::IntoIter<Tok>>,
) -> Result<(Vec<Node>, Closer), String> {
    let mut nodes = Vec::new();
    while let Some(t) = toks.next() {
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s)),
            Tok::Action(a) => {
                let w = words(&a)?;
                match w.first().map(|x| (x.0.as_str(), x.1)) {
                    Some(("if", false)) => nodes.push(parse_if(pipeline(&w[1..])?, toks)?),
                    Some(("else", false)) if w.len() == 1 => return Ok((nodes, Closer::Else)),
                    Some(("else", false))
                        if w.get(1).map(|x| (x.0.as_str(), x.1)) == Some(("if", false)) =>
                    {
                        return Ok((nodes, Closer::ElseIf(pipeline(&w[2..])?)))
                    }
                    Some(("end", false)) if w.len() == 1 => return Ok((nodes, Closer::End)),
                    Some((kw @ ("range" | "with" | "define" | "template" | "block"), false)) => {
                        return Err(format!("{kw} is not supported"))
                    }
                    _ => nodes.push(Node::Print(pipeline(&w)?)),
                }
            }
        }
    }
    Ok((nodes, Closer::Eof))
}

fn parse_if(
    cond: Pipeline,
    toks: &mut std::iter::Peekable<std::vec::IntoIter<Tok>>,
) -> Result<Node, String> {
    let (then, end) = parse_nodes(toks)?;
    let otherwise = match end {
        Closer::End => Vec::new(),
        Closer::Else => match parse_nodes(toks)? {
            (n, Closer::End) => n,
            _ => return Err("an else is not closed with end".into()),
        },
        Closer::ElseIf(c) => vec![parse_if(c, toks)?],
        Closer::Eof => return Err("an if is not closed with end".into()),
    };
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let err = |why: String| TemplateError::Parse {
            template: src.to_string(),
            why,
        };
        let mut toks = tokens(src).map_err(err)?.into_iter().peekable();
        match parse_nodes(&mut toks).map_err(err)? {
            (nodes, Closer::Eof) => Ok(Template { nodes }),
            (_, Closer::End) => Err(err("an end without an if".into())),
            (_, _) => Err(err("an else without an if".into())),
        }
    }

    /// Runs the template over `data`.
    pub fn render(&self, data: &Map<String, Value>) -> Result<String, TemplateError> {
        let root = Value::Object(data.clone());
        let mut out = String::new();
        render_nodes(&self.nodes, &root, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], root: &Value, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&print(&eval(p, root)?)?),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if truthy(&eval(cond, root)?) {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, root, out)?;
            }
        }
    }
    Ok(())
}

fn eval(p: &Pipeline, root: &Value) -> Result<Value, TemplateError> {
    match p {
        Pipeline::Value(a) => value(a, root),
        Pipeline::Eq(a, rest) => {
            let a = value(a, root)?;
            for b in rest {
                if equal(&a, &value(b, root)?)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        Pipeline::Ne(a, b) => Ok(Value::Bool(!equal(&value(a, root)?, &value(b, root)?)?)),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, TemplateError> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Number(x), Value::Number(y)) => Ok(x.as_f64() == y.as_f64()),
        _ => Err(TemplateError::Eval(
            "eq compares values of different kinds".into(),
        )),
    }
}

fn value(a: &Arg, root: &Value) -> Result<Value, TemplateError> {
    match a {
        Arg::Str(s) => Ok(Value::String(s.clone())),
        Arg::Field(path) => {
            let mut cur = root;
            for (i, p) in path.iter().enumerate() {
                cur = cur
                    .as_object()
                    .and_then(|m| m.get(p))
                    .ok_or_else(|| TemplateError::MissingKey(path[..=i].join(".")))?;
            }
            Ok(cur.clone())
        }
        Arg::Index(base, keys) => {
            let mut cur = value(base, root)?;
            for k in keys {
                let k = match value(k, root)? {
                    Value::String(s) => s,
                    other => {
                        return Err(TemplateError::Eval(format!(
                            "index takes string keys, not {other}"
                        )))
                    }
                };
                // Go's index gives a missing map key's zero value (an empty string for
                // Fulcio's claims), whatever missingkey says.
                cur = match cur.as_object() {
                    Some(m) => m.get(&k).cloned().unwrap_or(Value::String(String::new())),
                    None => {
                        return Err(TemplateError::Eval(format!(
                            "index {k:?} of a value that is not a map"
                        )))
                    }
                };
            }
            Ok(cur)
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// As Go's fmt prints a value in a template.
fn print(v: &Value) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        }),
        Value::Null => Ok("<no value>".into()),
        _ => Err(TemplateError::Eval(
            "a claim that is a list or an object cannot be printed".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, data: Value) -> Result<String, TemplateError> {
        Template::parse(t)?.render(data.as_object().unwrap())
    }

    #[test]
    fn what_fulcios_templates_use() {
        let d = json!({"url": "https://gitlab.example", "project_path": "g/p", "ref": "refs/heads/main",
            "ref_type": "branch", "kubernetes.io": {"namespace": "ns"}, "run_id": 42, "ok": true,
            "dotted.claim": "x"});
        assert_eq!(
            run("{{ .url }}/{{.project_path}}", d.clone()).unwrap(),
            "https://gitlab.example/g/p"
        );
        assert_eq!(
            run(
                r#"{{if eq .ref_type "branch"}}refs/heads/{{ else }}refs/tags/{{end}}"#,
                d.clone()
            )
            .unwrap(),
            "refs/heads/"
        );
        assert_eq!(
            run(r#"{{if eq .ref_type "tag" "branch"}}y{{end}}"#, d.clone()).unwrap(),
            "y"
        );
        assert_eq!(
            run(r#"{{ index . "dotted.claim" }}"#, d.clone()).unwrap(),
            "x"
        );
        assert_eq!(
            run(r#"{{ index . "kubernetes.io" "namespace" }}"#, d.clone()).unwrap(),
            "ns"
        );
        assert_eq!(
            run("{{ .run_id }}-{{ .ok }}", d.clone()).unwrap(),
            "42-true"
        );
        assert_eq!(run("a {{- .ok -}} b", d.clone()).unwrap(), "atrueb");
        assert_eq!(
            run(
                r#"{{ if ne .ref_type "tag" }}n{{ else if .ok }}o{{ end }}"#,
                d.clone()
            )
            .unwrap(),
            "n"
        );
        assert_eq!(run("plain", d).unwrap(), "plain");
    }

    #[test]
    fn a_missing_claim_is_an_error_not_an_empty_string() {
        let d = json!({"a": {"b": "c"}});
        assert_eq!(
            run("{{ .missing }}", d.clone()),
            Err(TemplateError::MissingKey("missing".into()))
        );
        assert_eq!(
            run("{{ .a.x }}", d.clone()),
            Err(TemplateError::MissingKey("a.x".into()))
        );
        assert_eq!(run(r#"{{ index . "nope" }}"#, d).unwrap(), "");
    }

    #[test]
    fn bad_templates_are_refused() {
        for t in [
            "{{ .a ",
            "{{ if .a }}x",
            "{{ end }}",
            "{{ else }}",
            "{{ range .a }}{{ end }}",
            "{{ \"open }}",
            "{{ }}",
            "{{ eq .a }}",
            "{{ foo }}",
        ] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
    }
}
