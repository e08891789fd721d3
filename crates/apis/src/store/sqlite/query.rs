//! `$filter` / `$orderby` ASTs → SQL text with `?` placeholders and the values bound to them. Column names
//! come only from the entity's property list and are quoted; every literal is a bound parameter.
//!
//! Comparisons are two-valued, as OData defines them: `eq`/`ne` treat null as a value (`IS`, `IS NOT`), an
//! ordering comparison or string predicate with a null operand is false. Where a condition sits under an
//! even number of `not`s, SQL's unknown already rejects the row exactly as false would (AND and OR are
//! monotone), so the plain comparison is emitted and SQLite can use an index for it; under an odd number of
//! `not`s the comparison is wrapped (`COALESCE(..., 0)`) so that `not` never meets unknown.

use crate::odata::edm::Value;
use crate::odata::filter::{CmpOp, Filter, Operand, OrderKey, Property, StrPredicate, ValueFn};

/// A SQL fragment and its parameters, in placeholder order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<rusqlite::types::Value>,
}

/// The SQLite value of an EDM value: integers and booleans as INTEGER, decimals as REAL, the rest as TEXT in
/// their normal form (which sorts as the values do).
pub fn sql_value(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Int(i) => V::Integer(*i),
        Value::Decimal(d) => V::Real(*d),
        Value::Bool(b) => V::Integer(i64::from(*b)),
        Value::String(s) | Value::DateTimeOffset(s) | Value::Date(s) | Value::TimeOfDay(s) | Value::Guid(s) => {
            V::Text(s.clone())
        }
    }
}

/// Quotes an identifier (`"` doubled).
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The `WHERE` condition for `filter` over `props`.
pub fn filter_sql(filter: &Filter, props: &[Property]) -> Sql {
    let mut sql = Sql::default();
    condition(filter, props, true, &mut sql);
    sql
}

/// The `ORDER BY` list for `keys` (without the keyword), ending with `tiebreak` so paging is stable. The
/// tiebreak runs in the direction of the last key, so an index on the ordered columns (which ends with the
/// row key) can deliver rows in order either way.
pub fn order_sql(keys: &[OrderKey], props: &[Property], tiebreak: &str) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let column = quote(&props[k.property].column);
            // OData sorts null first ascending; SQLite does too.
            format!("{column} {}", if k.descending { "DESC" } else { "ASC" })
        })
        .collect();
    if !keys.iter().any(|k| props[k.property].column == tiebreak) {
        let descending = keys.last().is_some_and(|k| k.descending);
        parts.push(format!(
            "{} {}",
            quote(tiebreak),
            if descending { "DESC" } else { "ASC" }
        ));
    }
    parts.join(", ")
}

/// Writes `filter`; `positive` is false under an odd number of `not`s (see the module documentation).
fn condition(filter: &Filter, props: &[Property], positive: bool, sql: &mut Sql) {
    let (open, close) = if positive { ("(", ")") } else { ("COALESCE(", ", 0)") };
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            sql.text.push('(');
            condition(a, props, positive, sql);
            sql.text.push_str(if matches!(filter, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            condition(b, props, positive, sql);
            sql.text.push(')');
        }
        Filter::Not(inner) => {
            sql.text.push_str("(NOT ");
            condition(inner, props, !positive, sql);
            sql.text.push(')');
        }
        Filter::Compare(op, a, b) => {
            let symbol = match op {
                CmpOp::Eq => " IS ",
                CmpOp::Ne => " IS NOT ",
                CmpOp::Gt => " > ",
                CmpOp::Ge => " >= ",
                CmpOp::Lt => " < ",
                CmpOp::Le => " <= ",
            };
            // `IS` / `IS NOT` are never unknown.
            let (open, close) = if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                ("(", ")")
            } else {
                (open, close)
            };
            sql.text.push_str(open);
            operand(a, props, sql);
            sql.text.push_str(symbol);
            operand(b, props, sql);
            sql.text.push_str(close);
        }
        Filter::Predicate(predicate, a, b) => {
            sql.text.push_str("(CASE WHEN ");
            operand(a, props, sql);
            sql.text.push_str(" IS NULL OR ");
            operand(b, props, sql);
            sql.text.push_str(" IS NULL THEN 0 ELSE ");
            match predicate {
                StrPredicate::Contains => {
                    sql.text.push_str("instr(");
                    operand(a, props, sql);
                    sql.text.push_str(", ");
                    operand(b, props, sql);
                    sql.text.push_str(") > 0");
                }
                StrPredicate::StartsWith => {
                    sql.text.push_str("substr(");
                    operand(a, props, sql);
                    sql.text.push_str(", 1, length(");
                    operand(b, props, sql);
                    sql.text.push_str(")) = ");
                    operand(b, props, sql);
                }
                StrPredicate::EndsWith => {
                    sql.text.push_str("length(");
                    operand(b, props, sql);
                    sql.text.push_str(") = 0 OR substr(");
                    operand(a, props, sql);
                    sql.text.push_str(", -length(");
                    operand(b, props, sql);
                    sql.text.push_str(")) = ");
                    operand(b, props, sql);
                }
            }
            sql.text.push_str(" END)");
        }
        Filter::Is(value) => {
            sql.text.push_str(open);
            operand(value, props, sql);
            sql.text.push_str(" = 1");
            sql.text.push_str(close);
        }
    }
}

fn operand(op: &Operand, props: &[Property], sql: &mut Sql) {
    match op {
        Operand::Property(i) => sql.text.push_str(&quote(&props[*i].column)),
        Operand::Literal(value) => {
            sql.text.push('?');
            sql.params.push(sql_value(value));
        }
        Operand::Call(function, arg) => {
            let (open, close) = match function {
                // Registered on every connection by `store::sqlite`: Unicode-aware, unlike SQLite's own.
                ValueFn::ToLower => ("unicode_lower(", ")"),
                ValueFn::ToUpper => ("unicode_upper(", ")"),
                ValueFn::Length => ("length(", ")"),
                ValueFn::Year => ("CAST(substr(", ", 1, 4) AS INTEGER)"),
                ValueFn::Month => ("CAST(substr(", ", 6, 2) AS INTEGER)"),
                ValueFn::Day => ("CAST(substr(", ", 9, 2) AS INTEGER)"),
            };
            sql.text.push_str(open);
            operand(arg, props, sql);
            sql.text.push_str(close);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::eval::matches;
    use crate::odata::filter::parse_filter;
    use crate::odata::filter::tests::props;

    #[test]
    fn literals_are_bound_never_pasted() {
        let props = props();
        let f = parse_filter("Name eq 'x'' OR 1=1 --' and Count gt 3", props.as_slice()).unwrap();
        let sql = filter_sql(&f, &props);
        assert_eq!(sql.text, "((\"name\" IS ?) AND (\"count\" > ?))");
        let negated = filter_sql(&parse_filter("not (Count gt 3)", props.as_slice()).unwrap(), &props);
        assert_eq!(negated.text, "(NOT COALESCE(\"count\" > ?, 0))");
        assert_eq!(
            sql.params,
            [
                rusqlite::types::Value::Text("x' OR 1=1 --".into()),
                rusqlite::types::Value::Integer(3)
            ]
        );
    }

    #[test]
    fn order_ends_with_the_key_for_stable_pages() {
        let props = props();
        let keys = crate::odata::filter::parse_orderby("Amount desc", props.as_slice()).unwrap();
        assert_eq!(order_sql(&keys, &props, "ref"), "\"amount\" DESC, \"ref\" DESC");
        assert_eq!(order_sql(&[], &props, "ref"), "\"ref\" ASC");
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
    }

    fn table(rows: &[Vec<Value>]) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::register_functions(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (name TEXT, amount REAL, count INTEGER, active INTEGER, created TEXT, due TEXT, \
             at TEXT, ref TEXT)",
        )
        .unwrap();
        for row in rows {
            let params: Vec<rusqlite::types::Value> = row.iter().map(sql_value).collect();
            conn.execute(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rusqlite::params_from_iter(params),
            )
            .unwrap();
        }
        conn
    }

    fn in_sql(conn: &rusqlite::Connection, filter: &Filter) -> Vec<usize> {
        let sql = filter_sql(filter, &props());
        let mut stmt = conn
            .prepare(&format!("SELECT rowid - 1 FROM t WHERE {} ORDER BY rowid", sql.text))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(sql.params), |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as usize)
            .collect()
    }

    /// SQLite's own `lower`/`upper` map ASCII only: the registered functions map Unicode, as Rust does.
    #[test]
    fn case_mapping_is_unicode_aware_in_sql_and_rust() {
        let named = |n: &str| {
            let mut row = vec![Value::Null; 8];
            row[0] = Value::String(n.into());
            row
        };
        let rows = vec![named("ÉCLAIR"), named("Straße"), named("eclair")];
        let conn = table(&rows);
        for (text, expected) in [
            ("tolower(Name) eq 'éclair'", vec![0]),
            ("toupper(Name) eq 'STRASSE'", vec![1]),
            ("startswith(tolower(Name), 'éc')", vec![0]),
        ] {
            let filter = parse_filter(text, props().as_slice()).unwrap();
            assert_eq!(in_sql(&conn, &filter), expected, "{text} in SQL");
            let in_rust: Vec<usize> = (0..rows.len()).filter(|&i| matches(&filter, &rows[i])).collect();
            assert_eq!(in_rust, expected, "{text} in Rust");
        }
    }
}
