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

fn order(a: &Value, b: &Value) -> Option<Ordering> {
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
    use super::super::edm::normalize_datetime;
    use super::super::filter::parse_filter;
    use super::super::filter::tests::props;
    use super::super::sql::filter_sql;
    use super::*;
    use proptest::prelude::*;

    fn table(rows: &[Vec<Value>]) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::sqlite::register_functions(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (name TEXT, amount REAL, count INTEGER, active INTEGER, created TEXT, due TEXT, \
             at TEXT, ref TEXT)",
        )
        .unwrap();
        for row in rows {
            let params: Vec<rusqlite::types::Value> = row.iter().map(Value::to_sql).collect();
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

    fn row() -> impl Strategy<Value = Vec<Value>> {
        let text = prop::option::of(prop::sample::select(vec![
            "ann", "Anna", "bob", "O'Brien", "", "éclair", "ÉCLAIR", "Straße", "ANN",
        ]));
        (
            text,
            prop::option::of(prop::sample::select(vec![-1.5, 0.0, 2.0, 10.25, 99.0])),
            prop::option::of(-3i64..4),
            prop::option::of(any::<bool>()),
            prop::option::of((1u32..4, 0u32..3)),
            prop::option::of(27u32..30),
            prop::option::of(prop::sample::select(vec!["08:30:00", "12:00:00.5", "23:59:59"])),
            prop::option::of(prop::sample::select(vec![
                "0a1b2c3d-0000-4000-8000-00000000000f",
                "ffffffff-ffff-4fff-bfff-ffffffffffff",
            ])),
        )
            .prop_map(|(name, amount, count, active, created, due, at, guid)| {
                let or_null = |v: Option<Value>| v.unwrap_or(Value::Null);
                vec![
                    or_null(name.map(|s| Value::String(s.into()))),
                    or_null(amount.map(Value::Decimal)),
                    or_null(count.map(Value::Int)),
                    or_null(active.map(Value::Bool)),
                    or_null(created.map(|(d, h)| {
                        Value::DateTimeOffset(normalize_datetime(&format!("2024-01-0{d}T0{h}:00:00Z")).unwrap())
                    })),
                    or_null(due.map(|d| Value::Date(format!("2024-02-{d}")))),
                    or_null(at.map(|t| Value::TimeOfDay(super::super::edm::normalize_time(t).unwrap()))),
                    or_null(guid.map(|g| Value::Guid(g.into()))),
                ]
            })
    }

    fn leaf() -> impl Strategy<Value = String> {
        let op = prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le"]);
        let word = prop::sample::select(vec!["ann", "An", "b", "''", "O''B", "É", "éc", "STRASSE", ""]);
        prop_oneof![
            (op.clone(), word.clone()).prop_map(|(o, w)| format!("Name {o} '{w}'")),
            (op.clone(), -3i64..4).prop_map(|(o, i)| format!("Count {o} {i}")),
            (op.clone(), prop::sample::select(vec!["0", "2.0", "10", "-1.5"]))
                .prop_map(|(o, d)| format!("Amount {o} {d}")),
            op.clone().prop_map(|o| format!("Amount {o} Count")),
            any::<bool>().prop_map(|b| format!("Active eq {b}")),
            Just("Active".to_string()),
            prop::sample::select(vec!["Name", "Amount", "Count", "Created", "Ref"])
                .prop_map(|p| format!("{p} eq null")),
            prop::sample::select(vec!["Name", "Due", "At"]).prop_map(|p| format!("{p} ne null")),
            (
                prop::sample::select(vec!["contains", "startswith", "endswith"]),
                word.clone(),
                any::<bool>()
            )
                .prop_map(|(f, w, lower)| if lower {
                    format!("{f}(tolower(Name),'{w}')")
                } else {
                    format!("{f}(Name,'{w}')")
                }),
            (op.clone(), 0i64..6).prop_map(|(o, n)| format!("length(Name) {o} {n}")),
            (
                op.clone(),
                prop::sample::select(vec!["toupper(Name)", "tolower(Name)"]),
                word
            )
                .prop_map(|(o, f, w)| format!("{f} {o} '{w}'")),
            (op.clone(), 1u32..4).prop_map(|(o, d)| format!("day(Created) {o} {d}")),
            (op.clone(), 27u32..30).prop_map(|(o, d)| format!("Due {o} 2024-02-{d}")),
            (op.clone(), 1u32..4, 0u32..3).prop_map(|(o, d, h)| format!("Created {o} 2024-01-0{d}T0{h}:00:00Z")),
            (op.clone(), prop::sample::select(vec!["08:30", "12:00:00.5", "12:00"]))
                .prop_map(|(o, t)| format!("At {o} {t}")),
            (
                op,
                prop::sample::select(vec![
                    "0A1B2C3D-0000-4000-8000-00000000000F",
                    "ffffffff-ffff-4fff-bfff-ffffffffffff"
                ])
            )
                .prop_map(|(o, g)| format!("Ref {o} {g}")),
        ]
    }

    fn filter_text() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn sql_selects_exactly_the_rows_the_reference_evaluator_matches(
            rows in prop::collection::vec(row(), 0..16),
            text in filter_text(),
        ) {
            let props = props();
            // Every generated expression is well typed.
            let filter = parse_filter(&text, props.as_slice())
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let expected: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| matches(&filter, r)).map(|(i, _)| i).collect();
            prop_assert_eq!(in_sql(&table(&rows), &filter), expected, "{}", text);
        }
    }
}
