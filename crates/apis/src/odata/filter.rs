//! `$filter` and `$orderby`: text → tokens → a typed AST, checked against the entity's properties. Errors say
//! what is wrong and at which character. Translation to SQL is in [`super::sql`], the reference evaluator in
//! [`super::eval`].

use super::edm::{normalize_datetime, normalize_guid, normalize_time, parse_date, EdmType, Value};
use std::fmt;

/// Longest `$filter` / `$orderby` accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest nesting accepted (parentheses, `not`, function calls).
const MAX_DEPTH: usize = 32;

/// A property the expression may name.
#[derive(Debug, Clone)]
pub struct Property {
    /// The OData name (case-sensitive).
    pub name: String,
    /// Its type.
    pub ty: EdmType,
    /// Its SQLite column.
    pub column: String,
}

/// Looks up properties by name.
pub trait Properties {
    /// The property called `name`, with its index.
    fn property(&self, name: &str) -> Option<(usize, &Property)>;
}

impl Properties for [Property] {
    fn property(&self, name: &str) -> Option<(usize, &Property)> {
        self.iter().enumerate().find(|(_, p)| p.name == name)
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Functions returning a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrPredicate {
    Contains,
    StartsWith,
    EndsWith,
}

/// Functions returning a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFn {
    ToLower,
    ToUpper,
    Length,
    Year,
    Month,
    Day,
}

/// A boolean expression (the whole `$filter`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(CmpOp, Operand, Operand),
    Predicate(StrPredicate, Operand, Operand),
    /// A boolean property or literal used as a condition.
    Is(Operand),
}

/// A value-producing expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property, by index into the entity's properties.
    Property(usize),
    Literal(Value),
    Call(ValueFn, Box<Operand>),
}

/// A parse or type error with the character position it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// 0-based character offset.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at position {})", self.message, self.position)
    }
}

impl std::error::Error for QueryError {}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        position,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Open,
    Close,
    Comma,
    End,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_spaces(&mut self) {
        while self.text[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Result<(Tok, usize), QueryError> {
        self.skip_spaces();
        let start = self.pos;
        let rest = &self.text[self.pos..];
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::End, start));
        };
        let tok = match c {
            '(' => {
                self.pos += 1;
                Tok::Open
            }
            ')' => {
                self.pos += 1;
                Tok::Close
            }
            ',' => {
                self.pos += 1;
                Tok::Comma
            }
            '\'' => Tok::Lit(Value::String(self.string()?)),
            _ if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                let len = rest
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | ':' | '.' | '+')))
                    .unwrap_or(rest.len());
                let word = &rest[..len];
                self.pos += len;
                self.word(word, start)?
            }
            _ => return err(start, format!("unexpected character '{c}'")),
        };
        Ok((tok, start))
    }

    fn string(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.text[self.pos + 1..].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                self.pos += 1 + i + 1;
                return Ok(out);
            }
            out.push(c);
        }
        err(start, "unterminated string literal")
    }

    /// A keyword, identifier, number, date, time, date-time or GUID.
    fn word(&self, word: &str, at: usize) -> Result<Tok, QueryError> {
        let starts_digit = word.starts_with(|c: char| c.is_ascii_digit());
        if let Some(guid) = normalize_guid(word) {
            return Ok(Tok::Lit(Value::Guid(guid)));
        }
        if starts_digit && word.len() >= 10 && word.as_bytes().get(4) == Some(&b'-') {
            if word.len() == 10 {
                return parse_date(word)
                    .map(|_| Tok::Lit(Value::Date(word.to_string())))
                    .ok_or_else(|| QueryError {
                        position: at,
                        message: format!("'{word}' is not a valid date"),
                    });
            }
            return normalize_datetime(word)
                .map(|d| Tok::Lit(Value::DateTimeOffset(d)))
                .ok_or_else(|| QueryError {
                    position: at,
                    message: format!("'{word}' is not a valid date-time (write it like 2024-01-31T12:00:00Z)"),
                });
        }
        if starts_digit && word.contains(':') {
            return normalize_time(word)
                .map(|t| Tok::Lit(Value::TimeOfDay(t)))
                .ok_or_else(|| QueryError {
                    position: at,
                    message: format!("'{word}' is not a valid time of day"),
                });
        }
        if starts_digit || (word.starts_with('-') && word.len() > 1) {
            // `1107L`: the Int64 suffix of OData v2, which clients such as the SAP Cloud SDK still send in v4
            // keys and filters (for Edm.Int64, the type of AutoNumber keys).
            let integer = word.strip_suffix(['l', 'L']).unwrap_or(word);
            if let Ok(i) = integer.parse::<i64>() {
                return Ok(Tok::Lit(Value::Int(i)));
            }
            let decimal = word.strip_suffix(['m', 'M']).unwrap_or(word);
            return match decimal.parse::<f64>() {
                Ok(d) if d.is_finite() && !decimal.contains(['i', 'n', 'I', 'N']) => Ok(Tok::Lit(Value::Decimal(d))),
                _ => err(at, format!("'{word}' is not a valid number")),
            };
        }
        Ok(match word {
            "null" => Tok::Lit(Value::Null),
            "true" => Tok::Lit(Value::Bool(true)),
            "false" => Tok::Lit(Value::Bool(false)),
            _ if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Tok::Ident(word.to_string())
            }
            _ => return err(at, format!("unexpected '{word}'")),
        })
    }
}

struct Parser<'a, P: Properties + ?Sized> {
    lexer: Lexer<'a>,
    tok: Tok,
    at: usize,
    props: &'a P,
    depth: usize,
}

/// A parsed operand with its static type (`None` for `null`).
type Typed = (Operand, Option<EdmType>);

impl<'a, P: Properties + ?Sized> Parser<'a, P> {
    fn new(text: &'a str, props: &'a P) -> Result<Self, QueryError> {
        if text.len() > MAX_EXPRESSION_BYTES {
            return err(0, format!("the expression is longer than {MAX_EXPRESSION_BYTES} bytes"));
        }
        let mut lexer = Lexer { text, pos: 0 };
        let (tok, at) = lexer.next()?;
        Ok(Self {
            lexer,
            tok,
            at,
            props,
            depth: 0,
        })
    }

    fn advance(&mut self) -> Result<(), QueryError> {
        let (tok, at) = self.lexer.next()?;
        self.tok = tok;
        self.at = at;
        Ok(())
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(w) if w == word)
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        if self.tok != tok {
            return err(self.at, format!("expected {what}"));
        }
        self.advance()
    }

    fn nest(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at, format!("the expression nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.advance()?;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            self.advance()?;
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, QueryError> {
        if self.keyword("not") {
            self.nest()?;
            self.advance()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, QueryError> {
        // A parenthesised boolean expression.
        if self.tok == Tok::Open {
            self.nest()?;
            self.advance()?;
            let inner = self.or()?;
            self.expect(Tok::Close, "')'")?;
            self.depth -= 1;
            return Ok(inner);
        }
        if let Tok::Ident(name) = &self.tok {
            let predicate = match name.as_str() {
                "contains" => Some(StrPredicate::Contains),
                "startswith" => Some(StrPredicate::StartsWith),
                "endswith" => Some(StrPredicate::EndsWith),
                _ => None,
            };
            if let Some(predicate) = predicate {
                let at = self.at;
                let name = name.clone();
                self.advance()?;
                self.expect(Tok::Open, &format!("'(' after {name}"))?;
                self.nest()?;
                let a = self.string_arg(&name)?;
                self.expect(Tok::Comma, &format!("',' between the arguments of {name}"))?;
                let b = self.string_arg(&name)?;
                self.expect(Tok::Close, &format!("')' closing {name}"))?;
                self.depth -= 1;
                let filter = Filter::Predicate(predicate, a, b);
                if self.cmp_op().is_some() {
                    return err(at, format!("{name}(...) is a condition; it cannot be compared"));
                }
                return Ok(filter);
            }
        }
        let at = self.at;
        let (left, left_ty) = self.operand()?;
        let Some(op) = self.cmp_op() else {
            return match left_ty {
                Some(EdmType::Boolean) => Ok(Filter::Is(left)),
                _ => err(
                    self.at,
                    "expected a comparison operator (eq ne gt ge lt le), 'and', 'or' or the end",
                ),
            };
        };
        self.advance()?;
        let right_at = self.at;
        let (right, right_ty) = self.operand()?;
        match (left_ty, right_ty) {
            (Some(l), Some(r)) if !l.comparable_with(r) => {
                return err(right_at, format!("cannot compare {l} with {r}"));
            }
            (None, None) => return err(at, "cannot compare null with null"),
            (Some(EdmType::Boolean), _) | (_, Some(EdmType::Boolean)) if !matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                return err(right_at, "booleans can only be compared with eq and ne");
            }
            (None, _) | (_, None) if !matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                return err(right_at, "null can only be compared with eq and ne");
            }
            _ => {}
        }
        Ok(Filter::Compare(op, left, right))
    }

    fn cmp_op(&self) -> Option<CmpOp> {
        match &self.tok {
            Tok::Ident(w) => match w.as_str() {
                "eq" => Some(CmpOp::Eq),
                "ne" => Some(CmpOp::Ne),
                "gt" => Some(CmpOp::Gt),
                "ge" => Some(CmpOp::Ge),
                "lt" => Some(CmpOp::Lt),
                "le" => Some(CmpOp::Le),
                _ => None,
            },
            _ => None,
        }
    }

    fn string_arg(&mut self, function: &str) -> Result<Operand, QueryError> {
        let at = self.at;
        match self.operand()? {
            (op, Some(EdmType::String)) => Ok(op),
            (_, Some(ty)) => err(at, format!("{function} takes Edm.String arguments, not {ty}")),
            (_, None) => err(at, format!("{function} takes Edm.String arguments, not null")),
        }
    }

    fn operand(&mut self) -> Result<Typed, QueryError> {
        let at = self.at;
        match self.tok.clone() {
            Tok::Lit(value) => {
                self.advance()?;
                let ty = value.edm_type();
                Ok((Operand::Literal(value), ty))
            }
            Tok::Ident(name) => {
                self.advance()?;
                if self.tok == Tok::Open {
                    return self.call(&name, at);
                }
                match self.props.property(&name) {
                    Some((i, p)) => Ok((Operand::Property(i), Some(p.ty))),
                    None => err(at, format!("unknown property '{name}'")),
                }
            }
            Tok::Open => err(at, "a parenthesised condition cannot be used as a value"),
            Tok::End => err(at, "the expression ends where a value was expected"),
            _ => err(at, "expected a property, a literal or a function"),
        }
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Typed, QueryError> {
        let function = match name {
            "tolower" => ValueFn::ToLower,
            "toupper" => ValueFn::ToUpper,
            "length" => ValueFn::Length,
            "year" => ValueFn::Year,
            "month" => ValueFn::Month,
            "day" => ValueFn::Day,
            "contains" | "startswith" | "endswith" => {
                return err(at, format!("{name}(...) is a condition, not a value"));
            }
            _ => return err(at, format!("unknown function '{name}'")),
        };
        self.nest()?;
        self.advance()?;
        let arg_at = self.at;
        let (arg, ty) = self.operand()?;
        self.expect(Tok::Close, &format!("')' closing {name} (it takes one argument)"))?;
        self.depth -= 1;
        let result = match (function, ty) {
            (ValueFn::ToLower | ValueFn::ToUpper, Some(EdmType::String)) => EdmType::String,
            (ValueFn::Length, Some(EdmType::String)) => EdmType::Int64,
            (ValueFn::Year | ValueFn::Month | ValueFn::Day, Some(EdmType::Date | EdmType::DateTimeOffset)) => {
                EdmType::Int64
            }
            (ValueFn::Year | ValueFn::Month | ValueFn::Day, _) => {
                return err(
                    arg_at,
                    format!("{name} takes an Edm.Date or Edm.DateTimeOffset argument"),
                );
            }
            _ => return err(arg_at, format!("{name} takes an Edm.String argument")),
        };
        Ok((Operand::Call(function, Box::new(arg)), Some(result)))
    }
}

/// Parses a `$filter` expression against `props`.
pub fn parse_filter<P: Properties + ?Sized>(text: &str, props: &P) -> Result<Filter, QueryError> {
    let mut parser = Parser::new(text, props)?;
    if parser.tok == Tok::End {
        return err(0, "$filter is empty");
    }
    let filter = parser.or()?;
    if parser.tok != Tok::End {
        return err(parser.at, "unexpected text after the end of the expression");
    }
    Ok(filter)
}

/// Parses one literal (`5`, `'text'`, a GUID, a date...), as written in an entity key.
pub fn parse_literal(text: &str) -> Result<Value, QueryError> {
    if text.len() > MAX_EXPRESSION_BYTES {
        return err(0, format!("the key is longer than {MAX_EXPRESSION_BYTES} bytes"));
    }
    let mut lexer = Lexer { text, pos: 0 };
    let (tok, at) = lexer.next()?;
    let Tok::Lit(value) = tok else {
        return err(at, "expected a literal value");
    };
    match lexer.next()? {
        (Tok::End, _) => Ok(value),
        (_, at) => err(at, "unexpected text after the value"),
    }
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    /// Property index.
    pub property: usize,
    pub descending: bool,
}

/// Parses `$orderby` (`Prop [asc|desc], ...`); a property may appear once.
pub fn parse_orderby<P: Properties + ?Sized>(text: &str, props: &P) -> Result<Vec<OrderKey>, QueryError> {
    if text.len() > MAX_EXPRESSION_BYTES {
        return err(0, format!("$orderby is longer than {MAX_EXPRESSION_BYTES} bytes"));
    }
    let mut keys: Vec<OrderKey> = Vec::new();
    let mut offset = 0;
    for item in text.split(',') {
        let trimmed = item.trim_start();
        let at = offset + (item.len() - trimmed.len());
        offset += item.len() + 1;
        let mut words = trimmed.split_whitespace();
        let Some(name) = words.next() else {
            return err(at, "empty $orderby item");
        };
        let Some((property, _)) = props.property(name) else {
            return err(at, format!("unknown property '{name}'"));
        };
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return err(at + name.len() + 1, format!("expected asc or desc, not '{other}'")),
        };
        if words.next().is_some() {
            return err(at, format!("unexpected text after '{name}'"));
        }
        if keys.iter().any(|k| k.property == property) {
            return err(at, format!("'{name}' appears twice in $orderby"));
        }
        keys.push(OrderKey { property, descending });
    }
    Ok(keys)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn props() -> Vec<Property> {
        [
            ("Name", EdmType::String),
            ("Amount", EdmType::Decimal),
            ("Count", EdmType::Int64),
            ("Active", EdmType::Boolean),
            ("Created", EdmType::DateTimeOffset),
            ("Due", EdmType::Date),
            ("At", EdmType::TimeOfDay),
            ("Ref", EdmType::Guid),
        ]
        .into_iter()
        .map(|(n, ty)| Property {
            name: n.into(),
            ty,
            column: n.to_lowercase(),
        })
        .collect()
    }

    fn ok(text: &str) -> Filter {
        parse_filter(text, props().as_slice()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn bad(text: &str) -> QueryError {
        parse_filter(text, props().as_slice()).expect_err(text)
    }

    #[test]
    fn parses_the_operators_functions_and_literals() {
        for text in [
            "Name eq 'O''Brien'",
            "Amount gt 10.5 and Count le 3 or not (Active eq false)",
            "contains(tolower(Name),'ann') and length(Name) ge 3",
            "startswith(Name,'A') or endswith(toupper(Name),'Z')",
            "year(Created) eq 2024 and month(Due) eq 2 and day(Due) lt 15",
            "Created ge 2024-01-01T00:00:00Z and Created lt 2024-01-01T02:00:00+01:00",
            "Due eq 2024-02-29 and At gt 08:30 and Ref eq 0a1b2c3d-0000-4000-8000-00000000000f",
            "Name eq null or Amount ne null",
            "Active",
            "not Active and Count eq -5 and Amount lt 1.5e3",
            "(((Count eq 1)))",
        ] {
            ok(text);
        }
        assert_eq!(
            ok("Count eq 1107L or Count ne -5l"),
            ok("Count eq 1107 or Count ne -5"),
            "the Int64 suffix L is accepted"
        );
        assert!(bad("Count eq 12345678901234567890L")
            .message
            .contains("not a valid number"));
        assert!(bad("Count eq 5LL").message.contains("not a valid number"));
        assert_eq!(
            ok("Count eq 1 or Count eq 2 and Count eq 3"),
            Filter::Or(
                Box::new(Filter::Compare(
                    CmpOp::Eq,
                    Operand::Property(2),
                    Operand::Literal(Value::Int(1))
                )),
                Box::new(Filter::And(
                    Box::new(Filter::Compare(
                        CmpOp::Eq,
                        Operand::Property(2),
                        Operand::Literal(Value::Int(2))
                    )),
                    Box::new(Filter::Compare(
                        CmpOp::Eq,
                        Operand::Property(2),
                        Operand::Literal(Value::Int(3))
                    )),
                ))
            ),
            "and binds tighter than or"
        );
    }

    #[test]
    fn errors_name_the_problem_and_the_position() {
        let e = bad("Nmae eq 'x'");
        assert_eq!((e.position, e.message.as_str()), (0, "unknown property 'Nmae'"));
        let e = bad("Count eq 'three'");
        assert_eq!(e.position, 9);
        assert!(e.message.contains("cannot compare Edm.Int64 with Edm.String"), "{e}");
        assert_eq!(bad("Name eq 'x' and").position, 15);
        assert!(bad("Name eq 'unterminated").message.contains("unterminated"));
        assert!(bad("Name eq 'x')").message.contains("unexpected text"));
        assert!(bad("Created gt 2024-13-01T00:00:00Z")
            .message
            .contains("not a valid date-time"));
        assert!(bad("Due eq 2024-02-30").message.contains("not a valid date"));
        assert!(bad("Active gt true").message.contains("eq and ne"));
        assert!(bad("Name gt null").message.contains("null"));
        assert!(bad("year(Name) eq 2024").message.contains("Edm.Date"));
        assert!(bad("contains(Count,'1')").message.contains("Edm.String"));
        assert!(bad("frobnicate(Name) eq 1").message.contains("unknown function"));
        assert!(bad("Name").message.contains("comparison operator"));
        assert!(bad("Name eq 'a'; drop table x")
            .message
            .contains("unexpected character ';'"));
        assert!(bad("").message.contains("empty"));
        assert!(bad(&"(".repeat(100)).message.contains("nests deeper"));
        assert!(bad(&"x".repeat(5000)).message.contains("longer than"));
    }

    #[test]
    fn orderby_keys() {
        let keys = parse_orderby("Amount desc, Name", props().as_slice()).unwrap();
        assert_eq!(
            keys,
            [
                OrderKey {
                    property: 1,
                    descending: true
                },
                OrderKey {
                    property: 0,
                    descending: false
                }
            ]
        );
        assert!(parse_orderby("Amount sideways", props().as_slice())
            .unwrap_err()
            .message
            .contains("asc or desc"));
        assert!(parse_orderby("Nope", props().as_slice())
            .unwrap_err()
            .message
            .contains("unknown property"));
        assert!(parse_orderby("Name, Name desc", props().as_slice())
            .unwrap_err()
            .message
            .contains("twice"));
    }
}
