//! MLflow's run filter syntax, parsed without I/O so it can be tested alone:
//! `metrics.acc > 0.9 and params.lr = '0.1' and tags."my tag" LIKE 'x%'`.
//! Errors name the character position (0-based) where parsing failed, so a user
//! can find the mistake in a long filter.

use domain::ValidationError;

/// Which namespace a filter or sort key refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "like",
            Op::ILike => "ilike",
            Op::In => "in",
            Op::NotIn => "not in",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    List(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub key: String,
    pub op: Op,
    pub value: Value,
}

/// Attributes a filter or sort may name, and the `run` column each one is.
pub fn attribute_column(key: &str) -> Option<&'static str> {
    Some(match key {
        "run_id" | "run_uuid" => "r.run_id::text",
        "run_name" => "r.name",
        "status" => "r.status",
        "user_id" => "r.user_name",
        "start_time" => "r.start_time",
        "end_time" => "r.end_time",
        "lifecycle_stage" => "r.lifecycle",
        _ => return None,
    })
}

/// True for attributes compared as numbers.
pub fn attribute_is_numeric(key: &str) -> bool {
    matches!(key, "start_time" | "end_time")
}

fn err(pos: usize, msg: impl std::fmt::Display) -> ValidationError {
    ValidationError::new("filter", format!("at position {pos}: {msg}"))
}

/// The attributes one kind of record (runs, logged models) can be filtered by.
pub struct Attributes {
    /// None for an unknown attribute, else whether it is compared as a number.
    pub numeric: fn(&str) -> Option<bool>,
    /// The attribute names, for the error message.
    pub names: &'static str,
}

pub const RUN_ATTRIBUTES: Attributes = Attributes {
    numeric: |k| attribute_column(k).map(|_| attribute_is_numeric(k)),
    names: "run_id, run_name, status, user_id, start_time, end_time or lifecycle_stage",
};

/// Parses a runs filter into clauses joined by AND. An empty filter has no clauses.
pub fn parse(input: &str) -> Result<Vec<Clause>, ValidationError> {
    parse_for(input, &RUN_ATTRIBUTES)
}

/// [`parse`] for records with other attributes.
pub fn parse_for(input: &str, attrs: &Attributes) -> Result<Vec<Clause>, ValidationError> {
    let mut p = Parser { s: input, pos: 0, attrs };
    let mut out = Vec::new();
    p.skip_ws();
    if p.at_end() {
        return Ok(out);
    }
    loop {
        out.push(p.clause()?);
        p.skip_ws();
        if p.at_end() {
            return Ok(out);
        }
        let at = p.pos;
        let word = p.word();
        if !word.eq_ignore_ascii_case("and") {
            return Err(err(
                at,
                format!("expected AND or the end of the filter, found {:?}", p.rest_from(at)),
            ));
        }
    }
}

/// Parses `order_by` entries such as `metrics.acc DESC` or `start_time`:
/// (entity, key, ascending).
pub fn parse_order(input: &str) -> Result<(Entity, String, bool), ValidationError> {
    let mut p = Parser { s: input, pos: 0, attrs: &RUN_ATTRIBUTES };
    p.skip_ws();
    let (entity, key) = p.identifier()?;
    p.skip_ws();
    let at = p.pos;
    let dir = p.word().to_string();
    p.skip_ws();
    let asc = match dir.to_ascii_lowercase().as_str() {
        "" | "asc" => true,
        "desc" => false,
        _ => return Err(ValidationError::new("order_by", format!("at position {at}: expected ASC or DESC"))),
    };
    if !p.at_end() {
        return Err(ValidationError::new("order_by", format!("at position {}: unexpected text", p.pos)));
    }
    Ok((entity, key, asc))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    attrs: &'a Attributes,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn rest_from(&self, at: usize) -> String {
        self.s[at..].chars().take(20).collect()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Letters, digits, `_`, `.`, `-`, `/`, `:` (MLflow keys may contain these).
    fn word(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':') {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        &self.s[start..self.pos]
    }

    fn quoted(&mut self) -> Result<String, ValidationError> {
        let start = self.pos;
        let Some(q) = self.peek() else { return Err(err(start, "expected a quoted string")) };
        self.pos += q.len_utf8();
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            if c == q {
                // A doubled quote stands for itself, as in SQL.
                if self.peek() == Some(q) {
                    self.pos += q.len_utf8();
                    out.push(q);
                    continue;
                }
                return Ok(out);
            }
            out.push(c);
        }
        Err(err(start, "this quoted string is not closed"))
    }

    fn identifier(&mut self) -> Result<(Entity, String), ValidationError> {
        let start = self.pos;
        let head = self.word().to_string();
        if head.is_empty() {
            return Err(err(
                start,
                "expected a key such as metrics.acc, params.lr, tags.x or attributes.status",
            ));
        }
        let (prefix, rest) = match head.split_once('.') {
            Some((a, b)) => (a.to_ascii_lowercase(), b.to_string()),
            None => (String::new(), head.clone()),
        };
        let entity = match prefix.as_str() {
            "metric" | "metrics" => Entity::Metric,
            "param" | "params" | "parameter" | "parameters" => Entity::Param,
            "tag" | "tags" => Entity::Tag,
            "attribute" | "attributes" | "attr" | "run" => Entity::Attribute,
            "" => Entity::Attribute,
            other => {
                return Err(err(
                    start,
                    format!("unknown entity {other:?}; use metrics., params., tags. or attributes."),
                ));
            }
        };
        let key = if rest.is_empty() && !prefix.is_empty() {
            // `tags."my key"` or tags.`my key`
            match self.peek() {
                Some('"' | '`' | '\'') => self.quoted()?,
                _ => return Err(err(self.pos, "expected a key after the dot")),
            }
        } else {
            rest
        };
        if key.is_empty() {
            return Err(err(start, "the key is empty"));
        }
        if entity == Entity::Attribute && (self.attrs.numeric)(&key).is_none() {
            return Err(err(start, format!("unknown attribute {key:?}; use {}", self.attrs.names)));
        }
        Ok((entity, key))
    }

    fn op(&mut self) -> Result<Op, ValidationError> {
        let start = self.pos;
        for (text, op) in
            [("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("=", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
        {
            if self.s[self.pos..].starts_with(text) {
                self.pos += text.len();
                return Ok(op);
            }
        }
        let w = self.word().to_ascii_lowercase();
        match w.as_str() {
            "like" => Ok(Op::Like),
            "ilike" => Ok(Op::ILike),
            "in" => Ok(Op::In),
            "not" => {
                self.skip_ws();
                let at = self.pos;
                if self.word().eq_ignore_ascii_case("in") {
                    Ok(Op::NotIn)
                } else {
                    Err(err(at, "expected IN after NOT"))
                }
            }
            _ => Err(err(start, "expected a comparison: =, !=, <, <=, >, >=, LIKE, ILIKE, IN or NOT IN")),
        }
    }

    fn clause(&mut self) -> Result<Clause, ValidationError> {
        self.skip_ws();
        let (entity, key) = self.identifier()?;
        self.skip_ws();
        let op_at = self.pos;
        let op = self.op()?;
        self.skip_ws();
        let value_at = self.pos;
        let value = match self.peek() {
            Some('(') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some('\'' | '"') => items.push(self.quoted()?),
                        _ => return Err(err(self.pos, "expected a quoted string in the list")),
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(')') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(err(self.pos, "expected , or ) in the list")),
                    }
                }
                Value::List(items)
            }
            Some('\'' | '"') => Value::Str(self.quoted()?),
            Some(_) => {
                let w = self.word().to_string();
                match domain::tracking::float::parse(&w) {
                    Some(n) if !w.is_empty() => Value::Num(n),
                    _ => return Err(err(value_at, "expected a quoted string, a number or a (list)")),
                }
            }
            None => return Err(err(value_at, "expected a value after the comparison")),
        };
        let list = matches!(value, Value::List(_));
        if matches!(op, Op::In | Op::NotIn) != list {
            return Err(err(op_at, "IN and NOT IN take a (list); the other comparisons a single value"));
        }
        let numeric = entity == Entity::Metric
            || (entity == Entity::Attribute && (self.attrs.numeric)(&key) == Some(true));
        match (&value, numeric) {
            (Value::Str(_), true) => {
                return Err(err(value_at, format!("{key} is compared as a number; remove the quotes")));
            }
            (Value::Num(_), false) => {
                return Err(err(value_at, format!("{key} is compared as a string; quote the value")));
            }
            (_, true) if matches!(op, Op::Like | Op::ILike | Op::In | Op::NotIn) => {
                return Err(err(op_at, "numbers take =, !=, <, <=, > or >="));
            }
            _ => {}
        }
        Ok(Clause { entity, key, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_namespace_and_operator() {
        let c = parse(
            "metrics.acc >= 0.9 and params.lr = '0.1' AND tags.`my tag` LIKE 'a%' and attributes.status IN ('FINISHED', 'FAILED') and run_name ilike \"x\" and tags.t != 'y' and metrics.loss < -Infinity",
        )
        .unwrap();
        assert_eq!(c.len(), 7);
        assert_eq!(
            c[0],
            Clause { entity: Entity::Metric, key: "acc".into(), op: Op::Ge, value: Value::Num(0.9) }
        );
        assert_eq!(c[1].value, Value::Str("0.1".into()));
        assert_eq!((c[2].entity, c[2].key.as_str(), c[2].op), (Entity::Tag, "my tag", Op::Like));
        assert_eq!(c[3].value, Value::List(vec!["FINISHED".into(), "FAILED".into()]));
        assert_eq!((c[4].entity, c[4].op), (Entity::Attribute, Op::ILike));
        assert_eq!(c[5].op, Op::Ne);
        assert_eq!(c[6].value, Value::Num(f64::NEG_INFINITY));
        assert!(parse("  ").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("metrics.acc > 0.9 and params.lr ~ '1'").unwrap_err();
        assert_eq!(e.field, "filter");
        assert!(e.message.starts_with("at position 32:"), "{}", e.message);
        let e = parse("metrics.acc > 'x'").unwrap_err();
        assert!(e.message.starts_with("at position 14:"), "{}", e.message);
        let e = parse("params.lr = 'unclosed").unwrap_err();
        assert!(e.message.starts_with("at position 12:"), "{}", e.message);
        let e = parse("metrics.a > 1 or metrics.b > 2").unwrap_err();
        assert!(e.message.starts_with("at position 14:"), "{}", e.message);
        let e = parse("bogus.a = 'x'").unwrap_err();
        assert!(e.message.starts_with("at position 0:"), "{}", e.message);
        assert!(parse("attributes.colour = 'x'").is_err());
        assert!(parse("tags.x IN 'a'").is_err());
    }

    #[test]
    fn order_by_has_an_optional_direction() {
        assert_eq!(parse_order("metrics.acc DESC").unwrap(), (Entity::Metric, "acc".into(), false));
        assert_eq!(parse_order("start_time").unwrap(), (Entity::Attribute, "start_time".into(), true));
        assert!(parse_order("metrics.acc sideways").is_err());
    }
}
