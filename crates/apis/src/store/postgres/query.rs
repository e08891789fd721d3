//! `$filter` / `$orderby` ASTs → PostgreSQL SQL text with `$n` placeholders and the values bound to them.
//! Column names come only from the entity's property list and are quoted; every literal is a bound parameter
//! with an explicit cast (`$1::BIGINT`), so its type never depends on inference; only the keyword `NULL` is
//! written as is.
//!
//! The semantics are those of the SQLite translation (`store::sqlite::query`): comparisons are two-valued as
//! OData defines them: `eq`/`ne` treat null as a value (`IS NOT DISTINCT FROM`, `IS DISTINCT FROM`), an
//! ordering comparison or string predicate with a null operand is false. Under an even number of `not`s,
//! SQL's unknown rejects a row as false would, so the plain comparison is emitted (and `eq` with a non-null
//! literal becomes `=`, which an index serves); under an odd number the comparison is wrapped
//! (`COALESCE(..., FALSE)`) so that `not` never meets unknown.
//!
//! Text compares bytewise (columns are `COLLATE "C"`). `tolower`/`toupper` map Unicode, as Rust's
//! `to_lowercase`/`to_uppercase` do (`ß` → `SS`), through the ICU root collation (`"und-x-icu"`, present in any
//! PostgreSQL built with ICU, as Debian's and the official images are), and the result compares bytewise again.

use crate::odata::edm::Value;
use crate::odata::filter::{CmpOp, Filter, Operand, OrderKey, Property, StrPredicate, ValueFn};
use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// A value bound to a placeholder: whatever the EDM value is, converted to the parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL, of any type.
    Null,
    /// A whole number.
    Int(i64),
    /// A decimal.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text (strings, dates, times and GUIDs in their normal form, which sorts as the values do).
    Text(String),
}

impl Param {
    /// The cast that fixes the placeholder's type (`NULL` has none: it is written as the keyword).
    fn cast(&self) -> &'static str {
        match self {
            Param::Null => "",
            Param::Int(_) => "::BIGINT",
            Param::Float(_) => "::DOUBLE PRECISION",
            Param::Bool(_) => "::BOOLEAN",
            Param::Text(_) => "::TEXT",
        }
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let mismatch = || -> BoxError { format!("cannot bind {self:?} to a {ty} parameter").into() };
        match (self, ty) {
            (Param::Null, _) => Ok(IsNull::Yes),
            (Param::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Param::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Param::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Param::Int(i), &Type::BOOL) => (*i != 0).to_sql(ty, out),
            (Param::Float(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Param::Float(f), &Type::INT8) if f.fract() == 0.0 => (*f as i64).to_sql(ty, out),
            (Param::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Param::Bool(b), &Type::INT8) => i64::from(*b).to_sql(ty, out),
            (Param::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN) => {
                s.as_str().to_sql(ty, out)
            }
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The parameter of an EDM value: integers as BIGINT, decimals as DOUBLE PRECISION, booleans as BOOLEAN, the
/// rest as TEXT.
pub fn sql_value(value: &Value) -> Param {
    match value {
        Value::Null => Param::Null,
        Value::Int(i) => Param::Int(*i),
        Value::Decimal(d) => Param::Float(*d),
        Value::Bool(b) => Param::Bool(*b),
        Value::String(s) | Value::DateTimeOffset(s) | Value::Date(s) | Value::TimeOfDay(s) | Value::Guid(s) => {
            Param::Text(s.clone())
        }
    }
}

/// Quotes an identifier (`"` doubled).
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// A SQL fragment and its parameters, `$1` being the first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    /// Appends a placeholder for `param` (typed by a cast), or `NULL`.
    pub fn bind(&mut self, param: Param) {
        if param == Param::Null {
            self.text.push_str("NULL");
            return;
        }
        let cast = param.cast();
        self.params.push(param);
        self.text.push_str(&format!("${}{cast}", self.params.len()));
    }

    /// The parameters as the driver takes them.
    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

/// Appends the `WHERE` condition for `filter` over `props` to `sql` (numbering its parameters after those
/// already there).
pub fn filter_sql(filter: &Filter, props: &[Property], sql: &mut Sql) {
    condition(filter, props, true, sql);
}

/// The `ORDER BY` list for `keys` (without the keyword), ending with `tiebreak` so paging is stable; null
/// sorts first ascending, as OData (and SQLite) do. The tiebreak runs in the direction of the last key.
pub fn order_sql(keys: &[OrderKey], props: &[Property], tiebreak: &str) -> String {
    let direction = |descending: bool| {
        if descending {
            "DESC NULLS LAST"
        } else {
            "ASC NULLS FIRST"
        }
    };
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", quote(&props[k.property].column), direction(k.descending)))
        .collect();
    if !keys.iter().any(|k| props[k.property].column == tiebreak) {
        let descending = keys.last().is_some_and(|k| k.descending);
        parts.push(format!("{} {}", quote(tiebreak), direction(descending)));
    }
    parts.join(", ")
}

fn non_null_literal(op: &Operand) -> bool {
    matches!(op, Operand::Literal(v) if *v != Value::Null)
}

/// Writes `filter`; `positive` is false under an odd number of `not`s (see the module documentation).
fn condition(filter: &Filter, props: &[Property], positive: bool, sql: &mut Sql) {
    let (open, close) = if positive {
        ("(", ")")
    } else {
        ("COALESCE(", ", FALSE)")
    };
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
            let plain_eq = positive && (non_null_literal(a) || non_null_literal(b));
            let symbol = match op {
                CmpOp::Eq if plain_eq => " = ",
                CmpOp::Eq => " IS NOT DISTINCT FROM ",
                CmpOp::Ne => " IS DISTINCT FROM ",
                CmpOp::Gt => " > ",
                CmpOp::Ge => " >= ",
                CmpOp::Lt => " < ",
                CmpOp::Le => " <= ",
            };
            // `IS [NOT] DISTINCT FROM` is never unknown; `=` is only emitted where unknown means false.
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
            sql.text.push_str(" IS NULL THEN FALSE ELSE ");
            match predicate {
                StrPredicate::Contains => {
                    sql.text.push_str("strpos(");
                    operand(a, props, sql);
                    sql.text.push_str(", ");
                    operand(b, props, sql);
                    sql.text.push_str(") > 0");
                }
                StrPredicate::StartsWith | StrPredicate::EndsWith => {
                    sql.text.push_str(if *predicate == StrPredicate::StartsWith {
                        "left("
                    } else {
                        "right("
                    });
                    operand(a, props, sql);
                    sql.text.push_str(", length(");
                    operand(b, props, sql);
                    sql.text.push_str(")) = ");
                    operand(b, props, sql);
                }
            }
            sql.text.push_str(" END)");
        }
        Filter::Is(value) => {
            if positive {
                sql.text.push('(');
                operand(value, props, sql);
                sql.text.push(')');
            } else {
                sql.text.push_str("COALESCE(");
                operand(value, props, sql);
                sql.text.push_str(", FALSE)");
            }
        }
    }
}

fn operand(op: &Operand, props: &[Property], sql: &mut Sql) {
    match op {
        Operand::Property(i) => sql.text.push_str(&quote(&props[*i].column)),
        Operand::Literal(value) => sql.bind(sql_value(value)),
        Operand::Call(function, arg) => {
            let (open, close) = match function {
                ValueFn::ToLower => ("(lower((", ") COLLATE \"und-x-icu\") COLLATE \"C\")"),
                ValueFn::ToUpper => ("(upper((", ") COLLATE \"und-x-icu\") COLLATE \"C\")"),
                ValueFn::Length => ("length(", ")"),
                ValueFn::Year => ("CAST(substr(", ", 1, 4) AS BIGINT)"),
                ValueFn::Month => ("CAST(substr(", ", 6, 2) AS BIGINT)"),
                ValueFn::Day => ("CAST(substr(", ", 9, 2) AS BIGINT)"),
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
    use crate::odata::filter::parse_filter;
    use crate::odata::filter::tests::props;

    fn translate(text: &str) -> Sql {
        let props = props();
        let mut sql = Sql::default();
        filter_sql(&parse_filter(text, props.as_slice()).unwrap(), &props, &mut sql);
        sql
    }

    #[test]
    fn literals_are_bound_with_a_type_never_pasted() {
        let sql = translate("Name eq 'x'' OR 1=1 --' and Count gt 3");
        assert_eq!(sql.text, "((\"name\" = $1::TEXT) AND (\"count\" > $2::BIGINT))");
        assert_eq!(sql.params, [Param::Text("x' OR 1=1 --".into()), Param::Int(3)]);
        let negated = translate("not (Count gt 3 or Name eq 'a')");
        assert_eq!(
            negated.text,
            "(NOT (COALESCE(\"count\" > $1::BIGINT, FALSE) OR (\"name\" IS NOT DISTINCT FROM $2::TEXT)))"
        );
        let null = translate("Name eq null");
        assert_eq!(null.text, "(\"name\" IS NOT DISTINCT FROM NULL)");
        assert!(null.params.is_empty());
    }

    #[test]
    fn case_mapping_goes_through_icu_and_compares_bytewise() {
        let sql = translate("tolower(Name) eq 'é'");
        assert_eq!(
            sql.text,
            "((lower((\"name\") COLLATE \"und-x-icu\") COLLATE \"C\") = $1::TEXT)"
        );
    }

    #[test]
    fn order_puts_null_first_ascending_and_ends_with_the_key() {
        let props = props();
        let keys = crate::odata::filter::parse_orderby("Amount desc", props.as_slice()).unwrap();
        assert_eq!(
            order_sql(&keys, &props, "ref"),
            "\"amount\" DESC NULLS LAST, \"ref\" DESC NULLS LAST"
        );
        assert_eq!(order_sql(&[], &props, "ref"), "\"ref\" ASC NULLS FIRST");
    }

    #[test]
    fn a_param_converts_to_the_type_of_its_placeholder() {
        let mut out = BytesMut::new();
        assert!(matches!(Param::Null.to_sql(&Type::INT8, &mut out), Ok(IsNull::Yes)));
        assert!(Param::Int(2).to_sql(&Type::FLOAT8, &mut out).is_ok());
        assert!(Param::Float(2.5).to_sql(&Type::INT8, &mut out).is_err());
        assert!(Param::Text("a".into()).to_sql(&Type::INT8, &mut out).is_err());
    }
}
