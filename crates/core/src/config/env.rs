//! `${ENV_VAR}` expansion, applied to the configuration text before it is parsed.
//!
//! Secrets (client secrets, HMAC keys) are kept out of `gateway.yaml` by writing `${NAME}`; a reference to an
//! unset variable is an error that names the variable, never silently empty. `$${` writes a literal `${`.
//! `${NAME:-default}` supplies a default when the variable is unset.

use thiserror::Error;

/// Why expansion failed; names the variable and the line it was referenced on.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvError {
    /// `${NAME}` was used but `NAME` is not set and no default was given.
    #[error("line {line}: environment variable `{name}` is not set (referenced as `${{{name}}}`)")]
    Unset { name: String, line: usize },
    /// `${` without a closing `}` or with an invalid variable name.
    #[error(
        "line {line}: malformed variable reference `{text}`: expected `${{NAME}}` with NAME made of A-Z, 0-9 and _"
    )]
    Malformed { text: String, line: usize },
}

/// Expands every `${NAME}` / `${NAME:-default}` in `input` with `lookup`. YAML comments (`#` at the start of
/// a line or after white space, outside quotes) are copied as they are: documentation may show `${VAR}`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(input.len());
    for (index, line) in input.split_inclusive('\n').enumerate() {
        let (code, comment) = line.split_at(comment_start(line));
        out.push_str(&expand_line(code, index + 1, &lookup)?);
        out.push_str(comment);
    }
    Ok(out)
}

/// Byte offset where a YAML comment starts in `line` (its length when there is none).
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') if previous == ' ' || previous == '\t' => return i,
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        previous = c;
    }
    line.len()
}

fn expand_line(input: &str, line: usize, lookup: &impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(EnvError::Malformed {
                text: after.lines().next().unwrap_or(after).to_string(),
                line,
            });
        };
        let inner = &after[2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b.is_ascii_lowercase());
        if !valid {
            return Err(EnvError::Malformed {
                text: after[..=end].to_string(),
                line,
            });
        }
        match lookup(name).or_else(|| default.map(str::to_string)) {
            Some(value) => out.push_str(&value),
            None => {
                return Err(EnvError::Unset {
                    name: name.to_string(),
                    line,
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SECRET").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn expands_known_variables_and_defaults() {
        assert_eq!(expand("a: ${SECRET}", env).unwrap(), "a: s3cr3t");
        assert_eq!(expand("a: ${MISSING:-x}", env).unwrap(), "a: x");
        assert_eq!(expand("a: ${SECRET:-x}", env).unwrap(), "a: s3cr3t");
        assert_eq!(
            expand("cost: $5 and $${LITERAL}", env).unwrap(),
            "cost: $5 and ${LITERAL}"
        );
    }

    #[test]
    fn unset_variable_names_it_and_its_line() {
        let err = expand("a: 1\nb: ${NOPE}\n", env).unwrap_err();
        assert_eq!(
            err,
            EnvError::Unset {
                name: "NOPE".into(),
                line: 2
            }
        );
        assert!(err.to_string().contains("NOPE"));
    }

    #[test]
    fn comments_are_not_expanded() {
        let text = "# use ${SECRET_NAME} here\nkey: '#not-a-comment ${SECRET}' # ${ALSO_NOT}\n";
        assert_eq!(
            expand(text, env).unwrap(),
            "# use ${SECRET_NAME} here\nkey: '#not-a-comment s3cr3t' # ${ALSO_NOT}\n"
        );
    }

    #[test]
    fn malformed_references_are_refused() {
        assert!(matches!(expand("a: ${OOPS", env), Err(EnvError::Malformed { .. })));
        assert!(matches!(expand("a: ${BAD NAME}", env), Err(EnvError::Malformed { .. })));
        assert!(matches!(expand("a: ${}", env), Err(EnvError::Malformed { .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_and_plain_text_is_unchanged(text in ".{0,200}") {
            let result = expand(&text, env);
            if !text.contains('$') {
                proptest::prop_assert_eq!(result.unwrap(), text);
            }
        }
    }
}
