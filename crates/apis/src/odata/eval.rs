//! The reference evaluator: a `$filter` applied to one row in Rust, with the semantics [`super::sql`] gives
//! the database (null-safe `eq`/`ne`, ordering comparisons and string predicates false on null, Unicode
//! `tolower`/`toupper` like the functions the store registers, lengths in characters). Tests hold the SQL
//! translation to it.

use super::edm::Value;
use super::filter::{CmpOp, Filter, Operand, StrPredicate, ValueFn};
use std::cmp::Ordering;

/// Whether `row` (values by property index) satisfies `filter`.
pub fn matches(filter: &Filter, row: &[Value]) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, row) && matches(b, row),
        Filter::Or(a, b) => matches(a, row) || matches(b, row),
        Filter::Not(inner) => !matches(inner, row),
        Filter::Compare(op, a, b) => {
            let (a, b) = (value(a, row), value(b, row));
            match op {
                CmpOp::Eq => equal(&a, &b),
                CmpOp::Ne => !equal(&a, &b),
                _ => match order(&a, &b) {
                    None => false,
                    Some(o) => match op {
                        CmpOp::Gt => o == Ordering::Greater,
                        CmpOp::Ge => o != Ordering::Less,
                        CmpOp::Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    },
                },
            }
        }
        Filter::Predicate(predicate, a, b) => match (value(a, row), value(b, row)) {
            (Value::String(a), Value::String(b)) => match predicate {
                StrPredicate::Contains => a.contains(b.as_str()),
                StrPredicate::StartsWith => a.starts_with(b.as_str()),
                StrPredicate::EndsWith => a.ends_with(b.as_str()),
            },
            _ => false,
        },
        Filter::Is(v) => value(v, row) == Value::Bool(true),
    }
}

fn value(op: &Operand, row: &[Value]) -> Value {
    match op {
        Operand::Property(i) => row.get(*i).cloned().unwrap_or(Value::Null),
        Operand::Literal(v) => v.clone(),
        Operand::Call(function, arg) => match (function, value(arg, row)) {
            (_, Value::Null) => Value::Null,
            (ValueFn::ToLower, Value::String(s)) => Value::String(s.to_lowercase()),
            (ValueFn::ToUpper, Value::String(s)) => Value::String(s.to_uppercase()),
            (ValueFn::Length, Value::String(s)) => Value::Int(s.chars().count() as i64),
            (ValueFn::Year | ValueFn::Month | ValueFn::Day, Value::Date(s) | Value::DateTimeOffset(s)) => {
                let range = match function {
                    ValueFn::Year => 0..4,
                    ValueFn::Month => 5..7,
                    _ => 8..10,
                };
                s.get(range)
                    .and_then(|p| p.parse().ok())
                    .map_or(Value::Null, Value::Int)
            }
            _ => Value::Null,
        },
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

pub(crate) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Decimal(y)) => (*x as f64).partial_cmp(y),
        (Value::Decimal(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Decimal(x), Value::Decimal(y)) => x.partial_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y))
        | (Value::DateTimeOffset(x), Value::DateTimeOffset(y))
        | (Value::Date(x), Value::Date(y))
        | (Value::TimeOfDay(x), Value::TimeOfDay(y))
        | (Value::Guid(x), Value::Guid(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse_filter;
    use super::super::filter::tests::props;
    use super::*;

    #[test]
    fn case_mapping_is_unicode_aware() {
        let named = |n: &str| {
            let mut row = vec![Value::Null; 8];
            row[0] = Value::String(n.into());
            row
        };
        let rows = [named("ÉCLAIR"), named("Straße"), named("eclair")];
        for (text, expected) in [
            ("tolower(Name) eq 'éclair'", vec![0]),
            ("toupper(Name) eq 'STRASSE'", vec![1]),
            ("startswith(tolower(Name), 'éc')", vec![0]),
        ] {
            let filter = parse_filter(text, props().as_slice()).unwrap();
            let in_rust: Vec<usize> = (0..rows.len()).filter(|&i| matches(&filter, &rows[i])).collect();
            assert_eq!(in_rust, expected, "{text} in Rust");
        }
    }
}
