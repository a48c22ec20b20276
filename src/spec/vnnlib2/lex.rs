//! Tokens of a VNN-LIB 2.0 query, each with the 1-based line and column where it starts.
//!
//! `(`, `)`, `[`, `]`, `,`, string literals `"..."` (escapes `\"`, `\\`, `\n`, `\t`, as the
//! standard's `OnnxString` token), and words: any other run of characters up to whitespace,
//! one of `()[],;"`. Words are names, numbers, keywords, operators and the version `<2.0>`; the
//! parser tells them apart. `;` starts a comment that runs to the end of the line. Columns
//! count characters; lines end at `\n` (`\r` is whitespace).

use super::super::pos::{Located, Pos};

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok<'a> {
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
    /// A string literal, unescaped.
    Str(String),
    Word(&'a str),
}

impl Tok<'_> {
    /// How the token reads in "found ..." messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Word(w) => format!("`{w}`"),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    pub(super) pos: Pos,
}

/// A pull tokenizer: the parser asks for one token at a time, so a huge file costs no token
/// list (only the declarations and the linear forms the parser keeps).
pub(super) struct Lexer<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    line: usize,
    col: usize,
    peeked: Option<Token<'a>>,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Lexer {
            text,
            chars: text.char_indices().peekable(),
            line: 1,
            col: 1,
            peeked: None,
        }
    }

    /// The next token without consuming it; `None` at the end of the file.
    pub(super) fn peek(&mut self) -> Result<Option<&Token<'a>>, Located> {
        if self.peeked.is_none() {
            self.peeked = self.scan()?;
        }
        Ok(self.peeked.as_ref())
    }

    /// The next token; `None` at the end of the file.
    pub(super) fn next_token(&mut self) -> Result<Option<Token<'a>>, Located> {
        match self.peeked.take() {
            Some(t) => Ok(Some(t)),
            None => self.scan(),
        }
    }

    /// The position just past the last character (for "unexpected end of file").
    pub(super) fn end_pos(&self) -> Pos {
        let valid = self.text;
        let line = 1 + valid.matches('\n').count();
        let col = 1 + valid
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count();
        Pos { line, col }
    }

    fn scan(&mut self) -> Result<Option<Token<'a>>, Located> {
        while let Some((start, ch)) = self.chars.next() {
            let pos = Pos {
                line: self.line,
                col: self.col,
            };
            self.col += 1;
            let tok = match ch {
                '\n' => {
                    self.line += 1;
                    self.col = 1;
                    continue;
                }
                ';' => {
                    while self.chars.next_if(|&(_, c)| c != '\n').is_some() {}
                    continue;
                }
                c if c.is_whitespace() => continue,
                '(' => Tok::Open,
                ')' => Tok::Close,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                ',' => Tok::Comma,
                '"' => Tok::Str(self.string(pos)?),
                _ => {
                    let mut end = start + ch.len_utf8();
                    while let Some((i, c)) = self.chars.next_if(|&(_, c)| !ends_word(c)) {
                        end = i + c.len_utf8();
                        self.col += 1;
                    }
                    Tok::Word(&self.text[start..end])
                }
            };
            return Ok(Some(Token { tok, pos }));
        }
        Ok(None)
    }

    /// The rest of a string literal whose `"` is at `open`.
    fn string(&mut self, open: Pos) -> Result<String, Located> {
        let mut s = String::new();
        loop {
            let Some((_, c)) = self.chars.next() else {
                return Err(Located::new(
                    open,
                    "this string is never closed (expected `\"` before the end of the file)",
                ));
            };
            let at = Pos {
                line: self.line,
                col: self.col,
            };
            self.col += 1;
            match c {
                '"' => return Ok(s),
                '\n' => {
                    self.line += 1;
                    self.col = 1;
                    s.push('\n');
                }
                '\\' => {
                    let esc = self.chars.next().map(|(_, e)| e);
                    self.col += 1;
                    s.push(match esc {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('n') => '\n',
                        Some('t') => '\t',
                        _ => {
                            return Err(Located::new(
                                at,
                                "bad escape in a string (expected `\\\"`, `\\\\`, `\\n` or `\\t`)",
                            ))
                        }
                    });
                }
                c => s.push(c),
            }
        }
    }
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',' | ';' | '"')
}
