//! Tokens and s-expressions, each with the 1-based line and column where it starts.
//!
//! Tokens are `(`, `)` and symbols (any run of characters other than whitespace, parentheses
//! and `;`). `;` starts a comment that runs to the end of the line. Lines end at `\n`, so CRLF
//! files need nothing special (`\r` is whitespace); columns count characters, tabs as one.

use super::{Located, Pos};

/// Nesting deeper than this is refused, so that nothing below can overflow the stack on a
/// hostile file (real properties nest four or five levels).
const MAX_DEPTH: usize = 256;

/// One s-expression: a symbol or a parenthesised list.
#[derive(Debug)]
pub(super) enum SExpr<'a> {
    Symbol(&'a str, Pos),
    List(Vec<SExpr<'a>>, Pos),
}

impl<'a> SExpr<'a> {
    /// Where the symbol, or the list's `(`, starts.
    pub(super) fn pos(&self) -> Pos {
        match self {
            SExpr::Symbol(_, pos) | SExpr::List(_, pos) => *pos,
        }
    }

    /// The symbol, if this is one.
    pub(super) fn symbol(&self) -> Option<&'a str> {
        match self {
            SExpr::Symbol(s, _) => Some(s),
            SExpr::List(..) => None,
        }
    }

    /// A short description for "found ..." in error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            SExpr::Symbol(s, _) => format!("`{s}`"),
            SExpr::List(items, _) => match items.first().and_then(SExpr::symbol) {
                Some(head) => format!("a `({head} ...)` list"),
                None => "a list".to_string(),
            },
        }
    }
}

/// Splits `text` into its top-level s-expressions.
///
/// One pass with an explicit stack of open lists (no recursion): `cur` collects the items of
/// the innermost open list, `open` holds each enclosing list's `(` position and items so far.
pub(super) fn parse(text: &str) -> Result<Vec<SExpr<'_>>, Located> {
    let mut open: Vec<(Pos, Vec<SExpr<'_>>)> = Vec::new();
    let mut cur: Vec<SExpr<'_>> = Vec::new();
    let (mut line, mut col) = (1, 1);
    let mut chars = text.char_indices().peekable();
    while let Some((start, ch)) = chars.next() {
        let pos = Pos { line, col };
        col += 1;
        match ch {
            '\n' => {
                line += 1;
                col = 1;
            }
            ';' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '(' => {
                if open.len() >= MAX_DEPTH {
                    return Err(Located::new(
                        pos,
                        format!("lists nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                open.push((pos, std::mem::take(&mut cur)));
            }
            ')' => {
                let Some((open_pos, parent)) = open.pop() else {
                    return Err(Located::new(pos, "unexpected `)` with no matching `(`"));
                };
                let items = std::mem::replace(&mut cur, parent);
                cur.push(SExpr::List(items, open_pos));
            }
            c if c.is_whitespace() => {}
            _ => {
                let mut end = start + ch.len_utf8();
                while let Some((i, c)) = chars.next_if(|&(_, c)| !ends_symbol(c)) {
                    end = i + c.len_utf8();
                    col += 1;
                }
                cur.push(SExpr::Symbol(&text[start..end], pos));
            }
        }
    }
    match open.last() {
        Some(&(pos, _)) => Err(Located::new(
            pos,
            "this `(` is never closed (expected `)` before the end of the file)",
        )),
        None => Ok(cur),
    }
}

fn ends_symbol(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || c == ';'
}
