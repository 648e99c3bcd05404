//! Parser of the Kafka client property `sasl.jaas.config`, following Kafka's
//! `org.apache.kafka.common.security.JaasConfig` and the
//! `java.io.StreamTokenizer` syntax it sets up:
//!
//! ```text
//! LoginModuleClass controlFlag (key=value)* ;
//! ```
//!
//! - characters 0-32 are whitespace, anywhere (newlines included);
//! - a word is a run of characters other than whitespace, `;`, `=`, `/`,
//!   `"`, `'` and U+0081..U+009F;
//! - a quoted string runs from `"` or `'` to the same quote, the end of the
//!   line or the end of the text, with StreamTokenizer's backslash escapes
//!   (`\n`, `\t`, `\r`, `\b`, `\f`, `\a`, `\v`, octal `\0`-`\377`, and any
//!   other `\c` for `c` itself, so `\"`, `\'` and `\\`);
//! - `/* ... */`, `// ...` and a lone `/ ...` are comments (so an unquoted
//!   value cannot hold `/`: quote URLs);
//! - the control flag is `required`, `requisite`, `sufficient` or
//!   `optional` (any case); the entry ends with `;`; a later duplicate key
//!   replaces the earlier value.
//!
//! A client property holds exactly one login module entry (Kafka's
//! `JaasContext.loadClientContext`). Option values are [`Secret`]s; error
//! messages give the line and column and what was expected, never text of
//! the configuration.

use crate::secret::Secret;

use super::SaslError;

/// The one login module entry of a `sasl.jaas.config` value.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasConfig {
    /// The login module class as written, e.g.
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub login_module: String,
    /// The control flag, lower-cased: `required`, `requisite`,
    /// `sufficient` or `optional`.
    pub control_flag: String,
    /// Options in the order first written; values are secret.
    options: Vec<(String, Secret)>,
}

/// The Kafka login modules the gateway understands, recognised by the simple
/// name of the class (so shaded or relocated copies also match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginModuleKind {
    /// `org.apache.kafka.common.security.plain.PlainLoginModule`.
    Plain,
    /// `org.apache.kafka.common.security.scram.ScramLoginModule`.
    Scram,
    /// `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule`.
    OAuthBearer,
}

impl LoginModuleKind {
    /// The module of a class name, by its simple name (the part after the
    /// last `.`): `PlainLoginModule`, `ScramLoginModule` or
    /// `OAuthBearerLoginModule`; `None` for any other class.
    pub fn from_class_name(class: &str) -> Option<LoginModuleKind> {
        match class.rsplit('.').next().unwrap_or(class) {
            "PlainLoginModule" => Some(LoginModuleKind::Plain),
            "ScramLoginModule" => Some(LoginModuleKind::Scram),
            "OAuthBearerLoginModule" => Some(LoginModuleKind::OAuthBearer),
            _ => None,
        }
    }

    /// Kafka's fully qualified class name of the module.
    pub fn class_name(self) -> &'static str {
        match self {
            LoginModuleKind::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            LoginModuleKind::Scram => "org.apache.kafka.common.security.scram.ScramLoginModule",
            LoginModuleKind::OAuthBearer => {
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
            }
        }
    }
}

impl JaasConfig {
    /// Parses a `sasl.jaas.config` value holding exactly one login module
    /// entry. Errors: [`SaslError::JaasSyntax`] (with line and column) when
    /// the text does not follow the grammar, [`SaslError::Jaas`] for no
    /// entry, more than one entry, or an unknown control flag.
    pub fn parse(text: &str) -> Result<JaasConfig, SaslError> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Tokenizer {
            chars: &chars,
            pos: 0,
        };
        let mut entries = Vec::new();
        loop {
            let first = tokens.next_token();
            if first.kind == TokenKind::Eof {
                break;
            }
            entries.push(parse_entry(&mut tokens, first, &chars)?);
        }
        let count = entries.len();
        match entries.pop() {
            Some(entry) if count == 1 => Ok(entry),
            Some(_) => Err(SaslError::Jaas(format!(
                "has {count} login module entries; a client takes exactly one"
            ))),
            None => Err(SaslError::Jaas("names no login module".to_string())),
        }
    }

    /// The value of option `name` (case-sensitive), if set.
    pub fn option(&self, name: &str) -> Option<&Secret> {
        self.options.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The option names, in the order first written.
    pub fn option_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.options.iter().map(|(k, _)| k.as_str())
    }

    /// The options, in the order first written.
    pub fn options(&self) -> impl Iterator<Item = (&str, &Secret)> + '_ {
        self.options.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The login module, if it is one of Kafka's PLAIN, SCRAM or
    /// OAUTHBEARER modules ([`LoginModuleKind::from_class_name`]).
    pub fn module_kind(&self) -> Option<LoginModuleKind> {
        LoginModuleKind::from_class_name(&self.login_module)
    }
}

impl std::fmt::Debug for JaasConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Redacted<'a>(&'a [(String, Secret)]);
        impl std::fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, _)| (k, "<redacted>")))
                    .finish()
            }
        }
        f.debug_struct("JaasConfig")
            .field("login_module", &self.login_module)
            .field("control_flag", &self.control_flag)
            .field("options", &Redacted(&self.options))
            .finish()
    }
}

/// Parses one entry whose first token is `first`, up to and including its
/// `;` (Kafka's `JaasConfig.parseAppConfigurationEntry`).
fn parse_entry(
    tokens: &mut Tokenizer<'_>,
    first: Token,
    chars: &[char],
) -> Result<JaasConfig, SaslError> {
    let syntax = |at: usize, expected: &'static str| {
        let (line, column) = line_column(chars, at);
        SaslError::JaasSyntax {
            line,
            column,
            expected,
        }
    };
    let login_module = first
        .kind
        .into_text()
        .ok_or_else(|| syntax(first.start, "a login module class name"))?;
    let flag = tokens.next_token();
    let flag_at = flag.start;
    let control_flag = flag
        .kind
        .into_text()
        .ok_or_else(|| {
            syntax(
                flag_at,
                "a control flag (required, requisite, sufficient or optional)",
            )
        })?
        .to_ascii_lowercase();
    if !matches!(
        control_flag.as_str(),
        "required" | "requisite" | "sufficient" | "optional"
    ) {
        let (line, column) = line_column(chars, flag_at);
        return Err(SaslError::Jaas(format!(
            "invalid login module control flag at line {line}, column {column}; \
             expected required, requisite, sufficient or optional"
        )));
    }
    let mut options: Vec<(String, Secret)> = Vec::new();
    loop {
        let key = tokens.next_token();
        let key_at = key.start;
        let key = match key.kind {
            TokenKind::Char(';') => break,
            TokenKind::Eof => return Err(syntax(key_at, "';' to end the login module entry")),
            kind => kind
                .into_text()
                .ok_or_else(|| syntax(key_at, "an option name or ';'"))?,
        };
        let eq = tokens.next_token();
        if eq.kind != TokenKind::Char('=') {
            return Err(syntax(eq.start, "'=' after an option name"));
        }
        let value = tokens.next_token();
        let value_at = value.start;
        let value = value
            .kind
            .into_text()
            .ok_or_else(|| syntax(value_at, "a value after '='"))?;
        match options.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = Secret::new(value),
            None => options.push((key, Secret::new(value))),
        }
    }
    Ok(JaasConfig {
        login_module,
        control_flag,
        options,
    })
}

/// The 1-based line and column (in characters) of character index `at`;
/// `\n`, `\r` and `\r\n` end lines, as in StreamTokenizer.
fn line_column(chars: &[char], at: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut previous = '\0';
    for &c in chars.iter().take(at) {
        match c {
            '\n' if previous == '\r' => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
        previous = c;
    }
    (line, column)
}

/// A token of the JAAS syntax.
#[derive(Debug, PartialEq, Eq)]
enum TokenKind {
    /// A run of word characters.
    Word(String),
    /// The contents of a quoted string, escapes resolved.
    Quoted(String),
    /// A single ordinary character (`;`, `=`, U+0081..U+009F).
    Char(char),
    /// End of the text.
    Eof,
}

impl TokenKind {
    /// The text of a word or quoted string (StreamTokenizer's `sval`);
    /// `None` for other tokens.
    fn into_text(self) -> Option<String> {
        match self {
            TokenKind::Word(s) | TokenKind::Quoted(s) => Some(s),
            TokenKind::Char(_) | TokenKind::Eof => None,
        }
    }
}

/// A token and the character index where it starts.
#[derive(Debug)]
struct Token {
    kind: TokenKind,
    start: usize,
}

/// How the tokenizer treats a character (Kafka's `JaasConfig` syntax
/// table).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Whitespace,
    Word,
    Quote,
    Slash,
    Ordinary,
}

/// `whitespaceChars(0, ' ')`, `wordChars(32, 128)`, `wordChars(160, 255)`
/// (characters above 255 are word characters in StreamTokenizer),
/// `ordinaryChar(';')`, `ordinaryChar('=')`, `quoteChar('"')`,
/// `quoteChar('\'')`, `commentChar('/')`.
fn class(c: char) -> Class {
    match c {
        '\0'..=' ' => Class::Whitespace,
        '"' | '\'' => Class::Quote,
        '/' => Class::Slash,
        ';' | '=' | '\u{81}'..='\u{9f}' => Class::Ordinary,
        _ => Class::Word,
    }
}

/// A StreamTokenizer over the characters of the configuration.
struct Tokenizer<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Tokenizer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// The next token, skipping whitespace and comments.
    fn next_token(&mut self) -> Token {
        loop {
            while self.peek().is_some_and(|c| class(c) == Class::Whitespace) {
                self.pos += 1;
            }
            let start = self.pos;
            let Some(c) = self.bump() else {
                return Token {
                    kind: TokenKind::Eof,
                    start,
                };
            };
            let kind = match class(c) {
                Class::Whitespace => continue,
                Class::Word => {
                    let mut word = String::from(c);
                    while let Some(next) = self.peek().filter(|&n| class(n) == Class::Word) {
                        word.push(next);
                        self.pos += 1;
                    }
                    TokenKind::Word(word)
                }
                Class::Quote => TokenKind::Quoted(self.quoted(c)),
                Class::Slash => {
                    if self.skip_comment() {
                        continue;
                    }
                    TokenKind::Eof
                }
                Class::Ordinary => TokenKind::Char(c),
            };
            return Token { kind, start };
        }
    }

    /// Skips the comment after a `/`; false when the text ends inside a
    /// `/* */` comment (StreamTokenizer then returns end of text).
    fn skip_comment(&mut self) -> bool {
        match self.bump() {
            Some('*') => {
                let mut previous = '\0';
                loop {
                    match self.bump() {
                        None => return false,
                        Some('/') if previous == '*' => return true,
                        Some(c) => previous = c,
                    }
                }
            }
            Some('\n') | Some('\r') | None => {
                // A lone `/` is a line comment because `/` is a comment
                // character. StreamTokenizer has already read the character
                // after the `/` and skips from the one after it, so a `/` at
                // the end of a line also swallows the next line.
                self.skip_line();
                true
            }
            Some(_) => {
                // `// ...`, or a lone `/` followed by more text.
                self.skip_line();
                true
            }
        }
    }

    /// Skips up to (not including) the next `\n` or `\r`.
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
            self.pos += 1;
        }
    }

    /// The contents of a string opened by `quote`: it ends at the same quote
    /// (consumed), or before an unescaped line end, or at the end of the
    /// text, as in StreamTokenizer.
    fn quoted(&mut self, quote: char) -> String {
        let mut out = String::new();
        while let Some(d) = self.peek() {
            if d == '\n' || d == '\r' {
                break;
            }
            self.pos += 1;
            if d == quote {
                break;
            }
            if d != '\\' {
                out.push(d);
                continue;
            }
            let Some(c) = self.bump() else {
                break;
            };
            if let Some(first) = c.to_digit(8) {
                let mut value = first;
                if let Some(second) = self.peek().and_then(|n| n.to_digit(8)) {
                    self.pos += 1;
                    value = value * 8 + second;
                    if first <= 3 {
                        if let Some(third) = self.peek().and_then(|n| n.to_digit(8)) {
                            self.pos += 1;
                            value = value * 8 + third;
                        }
                    }
                }
                // At most 0o377: always a valid char.
                out.extend(char::from_u32(value));
            } else {
                out.push(match c {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt<'a>(c: &'a JaasConfig, name: &str) -> Option<&'a str> {
        c.option(name).map(Secret::expose)
    }

    #[test]
    fn confluent_style_single_quotes() {
        let c = JaasConfig::parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='SECRET';",
        )
        .unwrap();
        assert_eq!(
            c.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(c.control_flag, "required");
        assert_eq!(c.module_kind(), Some(LoginModuleKind::Plain));
        assert_eq!(opt(&c, "username"), Some("KEY"));
        assert_eq!(opt(&c, "password"), Some("SECRET"));
        assert_eq!(
            c.option_names().collect::<Vec<_>>(),
            ["username", "password"]
        );
        assert_eq!(opt(&c, "Username"), None);
    }

    #[test]
    fn double_quotes_bare_words_and_flag_case() {
        let c = JaasConfig::parse(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED username="alice" password=alice-secret tokenauth=true;"#,
        )
        .unwrap();
        assert_eq!(c.control_flag, "required");
        assert_eq!(c.module_kind(), Some(LoginModuleKind::Scram));
        assert_eq!(opt(&c, "username"), Some("alice"));
        assert_eq!(opt(&c, "password"), Some("alice-secret"));
        assert_eq!(opt(&c, "tokenauth"), Some("true"));
        for flag in ["Requisite", "sufficient", "OPTIONAL"] {
            let c = JaasConfig::parse(&format!("a.B {flag};")).unwrap();
            assert_eq!(c.control_flag, flag.to_ascii_lowercase());
            assert_eq!(c.option_names().count(), 0);
            assert_eq!(c.module_kind(), None);
        }
    }

    #[test]
    fn escapes_inside_quotes_follow_stream_tokenizer() {
        let c = JaasConfig::parse(
            r#"m.PlainLoginModule required a="x\"y" b='it\'s' c="back\\slash" d="l1\nl2\tt" e="\101\60\0" f="\q" g="semi;colon=eq" h='dq"inside';"#,
        )
        .unwrap();
        assert_eq!(opt(&c, "a"), Some("x\"y"));
        assert_eq!(opt(&c, "b"), Some("it's"));
        assert_eq!(opt(&c, "c"), Some("back\\slash"));
        assert_eq!(opt(&c, "d"), Some("l1\nl2\tt"));
        assert_eq!(opt(&c, "e"), Some("A0\0"));
        assert_eq!(opt(&c, "f"), Some("q"));
        assert_eq!(opt(&c, "g"), Some("semi;colon=eq"));
        assert_eq!(opt(&c, "h"), Some("dq\"inside"));
    }

    #[test]
    fn multi_line_with_comments_and_empty_value() {
        let text = "\n  org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule\r\n    required /* block\n comment */\n    clientId=\"id\" // line comment\n    clientSecret = \"s/e=c;r\"\n    scope=\"\"\n  ;\n";
        let c = JaasConfig::parse(text).unwrap();
        assert_eq!(c.module_kind(), Some(LoginModuleKind::OAuthBearer));
        assert_eq!(opt(&c, "clientId"), Some("id"));
        assert_eq!(opt(&c, "clientSecret"), Some("s/e=c;r"));
        assert_eq!(opt(&c, "scope"), Some(""));
    }

    #[test]
    fn unquoted_slash_starts_a_comment_as_in_kafka() {
        // `http://x` unquoted: the word ends at `/`, the rest of the line is
        // a comment, and the entry ends on the next line.
        let c = JaasConfig::parse("m.X required url=http://host/path\n;").unwrap();
        assert_eq!(opt(&c, "url"), Some("http:"));
    }

    #[test]
    fn quoted_string_ends_at_line_end_as_in_kafka() {
        let c = JaasConfig::parse("m.X required a=\"open\n b=c;").unwrap();
        assert_eq!(opt(&c, "a"), Some("open"));
        assert_eq!(opt(&c, "b"), Some("c"));
    }

    #[test]
    fn later_duplicate_replaces_earlier() {
        let c = JaasConfig::parse("m.X required a=1 b=2 a=3;").unwrap();
        assert_eq!(opt(&c, "a"), Some("3"));
        assert_eq!(c.option_names().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn missing_semicolon_is_refused_with_position() {
        let e = JaasConfig::parse("m.PlainLoginModule required\n username='KEY' password='SECRET'")
            .unwrap_err();
        let SaslError::JaasSyntax {
            line,
            column,
            expected,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((*line, *column), (2, 34), "just past the last character");
        assert!(expected.contains("';'"));
        let text = e.to_string();
        assert!(!text.contains("SECRET") && !text.contains("KEY"), "{text}");
    }

    #[test]
    fn two_modules_are_refused() {
        let e = JaasConfig::parse(
            "a.PlainLoginModule required username=u password=p; b.ScramLoginModule required;",
        )
        .unwrap_err();
        assert!(matches!(e, SaslError::Jaas(_)), "{e:?}");
        assert!(e.to_string().contains("2 login module entries"), "{e}");
    }

    #[test]
    fn unknown_flag_is_refused_without_its_text() {
        let e = JaasConfig::parse("m.PlainLoginModule mandatory username=u;").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("control flag"), "{text}");
        assert!(text.contains("line 1, column 20"), "{text}");
        assert!(!text.contains("mandatory"), "{text}");
    }

    #[test]
    fn other_syntax_errors() {
        let cases = [
            ("", "names no login module"),
            ("  /* only a comment */ ", "names no login module"),
            ("m.X", "a control flag"),
            ("; required;", "a login module class name"),
            ("m.X required key;", "'=' after an option name"),
            ("m.X required key=;", "a value after '='"),
            ("m.X required key=", "a value after '='"),
            ("m.X required = v;", "an option name or ';'"),
            ("m.X required a=\"unterminated", "';' to end"),
            ("m.X required a=b /* open comment", "';' to end"),
        ];
        for (text, expected) in cases {
            let e = JaasConfig::parse(text).unwrap_err();
            assert!(e.to_string().contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn debug_redacts_values() {
        let c = JaasConfig::parse("m.PlainLoginModule required username='KEY' password='SECRET';")
            .unwrap();
        let debug = format!("{c:?}");
        assert!(
            debug.contains("username") && debug.contains("<redacted>"),
            "{debug}"
        );
        assert!(
            !debug.contains("SECRET") && !debug.contains("KEY"),
            "{debug}"
        );
    }

    #[test]
    fn module_kinds_by_simple_name() {
        assert_eq!(
            LoginModuleKind::from_class_name(
                "kafkashaded.org.apache.kafka.common.security.plain.PlainLoginModule"
            ),
            Some(LoginModuleKind::Plain)
        );
        assert_eq!(
            LoginModuleKind::from_class_name("OAuthBearerLoginModule"),
            Some(LoginModuleKind::OAuthBearer)
        );
        assert_eq!(
            LoginModuleKind::from_class_name("com.sun.security.auth.module.Krb5LoginModule"),
            None
        );
        for kind in [
            LoginModuleKind::Plain,
            LoginModuleKind::Scram,
            LoginModuleKind::OAuthBearer,
        ] {
            assert_eq!(
                LoginModuleKind::from_class_name(kind.class_name()),
                Some(kind)
            );
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let samples = [
            "\\",
            "'\\",
            "\"\\1",
            "\"\\477\"",
            "/",
            "//",
            "/*",
            "*/",
            "=",
            ";;",
            "\u{85}",
            "a b \u{90}=c;",
            "a b c=\u{85};",
            "é ß ü=日本;",
            "a\rb\r\nc=d\n;",
        ];
        for s in samples {
            let _ = JaasConfig::parse(s);
        }
        let c = JaasConfig::parse("é required ü=日本;").unwrap();
        assert_eq!(opt(&c, "ü"), Some("日本"));
    }
}
