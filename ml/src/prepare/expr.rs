//! The filter expression language: a tokenizer and a recursive-descent parser.
//!
//! ```text
//! expr      := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" unary | "(" expr ")" | predicate
//! predicate := column cmp literal
//!            | column "is" ["not"] "null"
//!            | column ["not"] "in" "(" literal ("," literal)* ")"
//! cmp       := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! column    := name | `any name in backquotes`
//! literal   := number | "string" | 'string' | true | false
//! ```
//!
//! Keywords are case-insensitive; a column named like a keyword goes in backquotes.
//! Every node keeps the character offset where it starts, so errors found later
//! (an unknown column, a string compared with a number) still point at the text.

use super::error::PrepareError;

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare { column: Name, op: CmpOp, value: Literal },
    IsNull { column: Name, negated: bool },
    In { column: Name, values: Vec<Literal>, negated: bool },
}

impl Expr {
    /// Every column the expression reads, in order of appearance (may repeat).
    pub(crate) fn columns(&self) -> Vec<&Name> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns<'a>(&'a self, out: &mut Vec<&'a Name>) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_columns(out);
                b.collect_columns(out);
            }
            Expr::Not(e) => e.collect_columns(out),
            Expr::Compare { column, .. } | Expr::IsNull { column, .. } | Expr::In { column, .. } => {
                out.push(column)
            }
        }
    }
}

/// A column reference and where it is in the text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Name {
    pub name: String,
    pub offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Does `ordering` (value compared with the literal) satisfy the operator?
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }
}

/// A literal and where it is in the text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Literal {
    pub value: LitValue,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LitValue {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl LitValue {
    pub(crate) fn describe(&self) -> String {
        match self {
            LitValue::Int(v) => format!("number {v}"),
            LitValue::Float(v) => format!("number {v}"),
            LitValue::Str(s) => format!("string \"{s}\""),
            LitValue::Bool(b) => format!("boolean {b}"),
        }
    }
}

/// Parse a whole filter expression.
pub(crate) fn parse(text: &str) -> Result<Expr, PrepareError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { text, tokens, pos: 0 };
    if parser.peek().kind == Tok::End {
        return Err(parser.error_at(0, "the expression is empty"));
    }
    let expr = parser.or()?;
    let next = parser.peek();
    if next.kind != Tok::End {
        let message = format!("unexpected {} after a complete expression (missing `and`/`or`?)", next.kind);
        return Err(parser.error_at(next.offset, message));
    }
    Ok(expr)
}

/// The error for a problem at character `offset` of `text`.
pub(crate) fn error(text: &str, offset: usize, message: impl Into<String>) -> PrepareError {
    PrepareError::Filter { expr: text.to_string(), offset, message: message.into() }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A bare word that is not a keyword, or a backquoted name.
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    Is,
    Null,
    In,
    True,
    False,
    End,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "name `{s}`"),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::Int(v) => write!(f, "number {v}"),
            Tok::Float(v) => write!(f, "number {v}"),
            Tok::Op(op) => write!(f, "`{}`", op.as_str()),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::And => f.write_str("`and`"),
            Tok::Or => f.write_str("`or`"),
            Tok::Not => f.write_str("`not`"),
            Tok::Is => f.write_str("`is`"),
            Tok::Null => f.write_str("`null`"),
            Tok::In => f.write_str("`in`"),
            Tok::True => f.write_str("`true`"),
            Tok::False => f.write_str("`false`"),
            Tok::End => f.write_str("the end of the expression"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: Tok,
    offset: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, PrepareError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let at = |j: usize| chars.get(j).copied();
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if at(i + 1) == Some('=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' if at(i + 1) == Some('=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match at(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if at(i + 1) == Some('=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '"' | '\'' => {
                let (value, end) = string(text, &chars, i)?;
                i = end;
                Tok::Str(value)
            }
            '`' => {
                let close = (i + 1..chars.len()).find(|&j| chars.get(j) == Some(&'`'));
                let Some(close) = close else {
                    return Err(error(text, i, "unterminated `quoted name`: add the closing backquote"));
                };
                let name: String = chars.get(i + 1..close).unwrap_or_default().iter().collect();
                if name.is_empty() {
                    return Err(error(text, i, "empty quoted name"));
                }
                i = close + 1;
                Tok::Ident(name)
            }
            c if c.is_ascii_digit()
                || c == '.'
                || (c == '-' && at(i + 1).is_some_and(|d| d.is_ascii_digit() || d == '.')) =>
            {
                let (tok, end) = number(text, &chars, i)?;
                i = end;
                tok
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = (i..chars.len())
                    .find(|&j| !chars.get(j).is_some_and(|&d| d.is_alphanumeric() || d == '_' || d == '.'))
                    .unwrap_or(chars.len());
                let word: String = chars.get(i..end).unwrap_or_default().iter().collect();
                i = end;
                match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "is" => Tok::Is,
                    "null" => Tok::Null,
                    "in" => Tok::In,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    _ => Tok::Ident(word),
                }
            }
            other => return Err(error(text, i, format!("unexpected character `{other}`"))),
        };
        tokens.push(Token { kind, offset: start });
    }
    tokens.push(Token { kind: Tok::End, offset: chars.len() });
    Ok(tokens)
}

/// A quoted string starting at `start`; `\` escapes the next character.
fn string(text: &str, chars: &[char], start: usize) -> Result<(String, usize), PrepareError> {
    let quote = chars.get(start).copied().unwrap_or('"');
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(error(text, start, format!("unterminated string: add the closing {quote}"))),
            Some('\\') => match chars.get(i + 1) {
                Some(&c) => {
                    value.push(c);
                    i += 2;
                }
                None => {
                    return Err(error(text, start, format!("unterminated string: add the closing {quote}")));
                }
            },
            Some(&c) if c == quote => return Ok((value, i + 1)),
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}

/// A number starting at `start` (with an optional leading minus): an int when it
/// has no `.` or exponent and fits an i64, else a float.
fn number(text: &str, chars: &[char], start: usize) -> Result<(Tok, usize), PrepareError> {
    let mut i = start;
    if chars.get(i) == Some(&'-') {
        i += 1;
    }
    let mut is_float = false;
    while let Some(&c) = chars.get(i) {
        let exponent_sign =
            (c == '+' || c == '-') && matches!(chars.get(i.wrapping_sub(1)), Some('e') | Some('E'));
        if c.is_ascii_digit() || exponent_sign {
            i += 1;
        } else if c == '.' || c == 'e' || c == 'E' {
            is_float = true;
            i += 1;
        } else {
            break;
        }
    }
    let literal: String = chars.get(start..i).unwrap_or_default().iter().collect();
    if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
        return Err(error(text, start, format!("`{literal}` followed by a letter is not a number")));
    }
    if !is_float && let Ok(v) = literal.parse::<i64>() {
        return Ok((Tok::Int(v), i));
    }
    match literal.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((Tok::Float(v), i)),
        _ => Err(error(text, start, format!("`{literal}` is not a number"))),
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.tokens
            .get(self.pos)
            .cloned()
            .unwrap_or(Token { kind: Tok::End, offset: self.text.chars().count() })
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, kind: &Tok) -> bool {
        if &self.peek().kind == kind {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> PrepareError {
        error(self.text, offset, message)
    }

    fn or(&mut self) -> Result<Expr, PrepareError> {
        let mut left = self.and()?;
        while self.eat(&Tok::Or) {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, PrepareError> {
        let mut left = self.unary()?;
        while self.eat(&Tok::And) {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, PrepareError> {
        let t = self.next();
        match t.kind {
            Tok::Not => Ok(Expr::Not(Box::new(self.unary()?))),
            Tok::LParen => {
                let inner = self.or()?;
                let close = self.next();
                if close.kind != Tok::RParen {
                    let message = format!(
                        "expected `)` to close the `(` at character {}, found {}",
                        t.offset + 1,
                        close.kind
                    );
                    return Err(self.error_at(close.offset, message));
                }
                Ok(inner)
            }
            Tok::Ident(name) => self.predicate(Name { name, offset: t.offset }),
            other => {
                Err(self.error_at(t.offset, format!("expected a column name, `not` or `(`, found {other}")))
            }
        }
    }

    fn predicate(&mut self, column: Name) -> Result<Expr, PrepareError> {
        let t = self.next();
        match t.kind {
            Tok::Op(op) => {
                let value = self.literal(&format!("`{}`", op.as_str()))?;
                Ok(Expr::Compare { column, op, value })
            }
            Tok::Is => {
                let negated = self.eat(&Tok::Not);
                let null = self.next();
                if null.kind != Tok::Null {
                    let message = format!("expected `null` after `is{}`, found {}", if negated { " not" } else { "" }, null.kind);
                    return Err(self.error_at(null.offset, message));
                }
                Ok(Expr::IsNull { column, negated })
            }
            Tok::In => self.in_list(column, false),
            Tok::Not => {
                let t = self.next();
                if t.kind != Tok::In {
                    return Err(self.error_at(t.offset, format!("expected `in` after `not`, found {}", t.kind)));
                }
                self.in_list(column, true)
            }
            other => Err(self.error_at(
                t.offset,
                format!(
                    "expected a comparison (=, !=, <, <=, >, >=), `is` or `in` after column `{}`, found {other}",
                    column.name
                ),
            )),
        }
    }

    fn in_list(&mut self, column: Name, negated: bool) -> Result<Expr, PrepareError> {
        let open = self.next();
        if open.kind != Tok::LParen {
            return Err(self.error_at(open.offset, format!("expected `(` after `in`, found {}", open.kind)));
        }
        let mut values = vec![self.literal("`(`")?];
        loop {
            let t = self.next();
            match t.kind {
                Tok::Comma => values.push(self.literal("`,`")?),
                Tok::RParen => return Ok(Expr::In { column, values, negated }),
                other => {
                    return Err(self
                        .error_at(t.offset, format!("expected `,` or `)` in the `in` list, found {other}")));
                }
            }
        }
    }

    fn literal(&mut self, after: &str) -> Result<Literal, PrepareError> {
        let t = self.next();
        let value = match t.kind {
            Tok::Int(v) => LitValue::Int(v),
            Tok::Float(v) => LitValue::Float(v),
            Tok::Str(s) => LitValue::Str(s),
            Tok::True => LitValue::Bool(true),
            Tok::False => LitValue::Bool(false),
            Tok::Ident(name) => {
                let message = format!(
                    "expected a value after {after}, found {}; quote text values (\"{name}\")",
                    Tok::Ident(name.clone())
                );
                return Err(self.error_at(t.offset, message));
            }
            other => {
                return Err(self.error_at(t.offset, format!("expected a value after {after}, found {other}")));
            }
        };
        Ok(Literal { value, offset: t.offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset_and_message(text: &str) -> (usize, String) {
        match parse(text) {
            Err(PrepareError::Filter { offset, message, .. }) => (offset, message),
            other => panic!("expected a filter error for {text:?}, got {other:?}"),
        }
    }

    fn cmp(name: &str, offset: usize, op: CmpOp, value: LitValue, at: usize) -> Expr {
        Expr::Compare { column: Name { name: name.into(), offset }, op, value: Literal { value, offset: at } }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let e = parse("a = 1 or b > 2.5 and not c != 'x'").unwrap();
        let expected = Expr::Or(
            Box::new(cmp("a", 0, CmpOp::Eq, LitValue::Int(1), 4)),
            Box::new(Expr::And(
                Box::new(cmp("b", 9, CmpOp::Gt, LitValue::Float(2.5), 13)),
                Box::new(Expr::Not(Box::new(cmp("c", 25, CmpOp::Ne, LitValue::Str("x".into()), 30)))),
            )),
        );
        assert_eq!(e, expected);
    }

    #[test]
    fn parentheses_null_tests_and_in_lists() {
        let e = parse(r#"age >= 18 and (home = "rent" or income > 100) and status is not null"#).unwrap();
        let names: Vec<&str> = e.columns().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["age", "home", "income", "status"]);
        assert!(matches!(parse("x IS NULL").unwrap(), Expr::IsNull { negated: false, .. }));
        let Expr::In { values, negated, .. } = parse("k not in (1, -2, 'a', true)").unwrap() else {
            panic!("expected an in list")
        };
        assert!(negated);
        let values: Vec<LitValue> = values.into_iter().map(|l| l.value).collect();
        assert_eq!(
            values,
            [LitValue::Int(1), LitValue::Int(-2), LitValue::Str("a".into()), LitValue::Bool(true)]
        );
        assert_eq!(
            parse("`my col` <> -1e3").unwrap(),
            cmp("my col", 0, CmpOp::Ne, LitValue::Float(-1000.0), 12)
        );
        assert_eq!(
            parse(r#"s == "say \"hi\"""#).unwrap(),
            cmp("s", 0, CmpOp::Eq, LitValue::Str("say \"hi\"".into()), 5)
        );
        assert_eq!(parse("`and` = 1").unwrap(), cmp("and", 0, CmpOp::Eq, LitValue::Int(1), 8));
    }

    #[test]
    fn errors_point_at_the_offending_character() {
        let cases: [(&str, usize, &str); 14] = [
            ("", 0, "the expression is empty"),
            ("age >= ", 7, "expected a value after `>=`, found the end of the expression"),
            ("age >= and", 7, "expected a value after `>=`, found `and`"),
            ("age 18", 4, "expected a comparison (=, !=, <, <=, >, >=), `is` or `in` after column `age`"),
            ("(a = 1", 6, "expected `)` to close the `(` at character 1"),
            ("a = 1)", 5, "unexpected `)` after a complete expression"),
            ("a = 1 b = 2", 6, "unexpected name `b` after a complete expression"),
            ("home = rent", 7, "quote text values (\"rent\")"),
            ("name = \"abc", 7, "unterminated string"),
            ("a # 1", 2, "unexpected character `#`"),
            ("a is 3", 5, "expected `null` after `is`, found number 3"),
            ("a in 1, 2", 5, "expected `(` after `in`"),
            ("a in (1 2)", 8, "expected `,` or `)` in the `in` list"),
            ("x = 12abc", 4, "`12` followed by a letter is not a number"),
        ];
        for (text, offset, message) in cases {
            let (got_offset, got_message) = offset_and_message(text);
            assert_eq!(got_offset, offset, "offset for {text:?}: {got_message}");
            assert!(got_message.contains(message), "message for {text:?}: {got_message}");
        }
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let (offset, _) = offset_and_message("größe > ?");
        assert_eq!(offset, 8);
        let err = parse("a >= ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "filter `a >= `: expected a value after `>=`, found the end of the expression at character 6"
        );
    }
}
