package handoff

import (
	"fmt"
	"strings"
)

// The GRUB script language, as much of it as grub-mkconfig emits: words
// with '…' and "…" quoting, backslash escapes and line continuations, $var
// and ${var} references, ";" and newlines between commands, # comments,
// if/elif/else/fi, function NAME { … }, menuentry/submenu … { … }, and
// for/while/until loops (parsed, never run). Reference: the GRUB manual,
// "Shell-like scripting", and grub-core/script/yylex.l.

// wordPart is a piece of a word: literal text, or a variable to expand.
type wordPart struct {
	text   string // literal text, or the variable's name when isVar
	isVar  bool
	quoted bool // inside "…": the expansion is not split into words
}

// word is one shell word before expansion.
type word []wordPart

// literal returns the word's text when it has no variable in it.
func (w word) literal() (string, bool) {
	var b strings.Builder
	for _, p := range w {
		if p.isVar {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

// bare says whether the word is exactly s, unquoted (a keyword).
func (w word) bare(s string) bool {
	return len(w) == 1 && !w[0].isVar && !w[0].quoted && w[0].text == s
}

type stmt interface{ stmtLine() int }

// cmdStmt is a simple command.
type cmdStmt struct {
	line  int
	words []word
}

// ifStmt is if LIST; then LIST [elif LIST; then LIST]… [else LIST] fi.
type ifStmt struct {
	line     int
	conds    [][]stmt
	bodies   [][]stmt
	elseBody []stmt
}

// funcStmt is function NAME { LIST }.
type funcStmt struct {
	line int
	name string
	body []stmt
}

// menuStmt is menuentry|submenu ARGS… { LIST }.
type menuStmt struct {
	line    int
	submenu bool
	args    []word
	body    []stmt
}

// loopStmt is a for, while or until loop; generated configs have none
// that matter for the default entry, so it is skipped.
type loopStmt struct{ line int }

func (s *cmdStmt) stmtLine() int  { return s.line }
func (s *ifStmt) stmtLine() int   { return s.line }
func (s *funcStmt) stmtLine() int { return s.line }
func (s *menuStmt) stmtLine() int { return s.line }
func (s *loopStmt) stmtLine() int { return s.line }

type tokKind int

const (
	tokWord tokKind = iota
	tokSep          // newline or ;
	tokLBrace
	tokRBrace
	tokEOF
)

type token struct {
	kind tokKind
	line int
	w    word
}

// lexer turns grub.cfg text into tokens.
type lexer struct {
	src  string
	pos  int
	line int
}

func (l *lexer) peekc() byte {
	if l.pos < len(l.src) {
		return l.src[l.pos]
	}
	return 0
}

func (l *lexer) next() (token, error) {
	// Blanks, continuations and comments.
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
			continue
		case c == '\\' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '\n':
			l.pos += 2
			l.line++
			continue
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		break
	}
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, line: l.line}, nil
	}
	line := l.line
	switch c := l.src[l.pos]; c {
	case '\n':
		l.pos++
		l.line++
		return token{kind: tokSep, line: line}, nil
	case ';':
		l.pos++
		return token{kind: tokSep, line: line}, nil
	case '{':
		l.pos++
		return token{kind: tokLBrace, line: line}, nil
	case '}':
		l.pos++
		return token{kind: tokRBrace, line: line}, nil
	}
	w, err := l.word()
	if err != nil {
		return token{}, err
	}
	return token{kind: tokWord, line: line, w: w}, nil
}

// word reads one word up to an unquoted blank, newline, ; { or }.
func (l *lexer) word() (word, error) {
	var w word
	var lit strings.Builder
	quoted := false
	flush := func() {
		if lit.Len() > 0 {
			w = append(w, wordPart{text: lit.String(), quoted: quoted})
			lit.Reset()
		}
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case ' ', '\t', '\r', '\n', ';', '{', '}':
			flush()
			return w, nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				l.pos++
				continue
			}
			if l.src[l.pos+1] == '\n' { // continuation inside a word
				l.pos += 2
				l.line++
				continue
			}
			lit.WriteByte(l.src[l.pos+1])
			l.pos += 2
		case '\'':
			flush()
			end := strings.IndexByte(l.src[l.pos+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated ' quote", l.line)
			}
			s := l.src[l.pos+1 : l.pos+1+end]
			l.line += strings.Count(s, "\n")
			// An empty '' still makes a word.
			w = append(w, wordPart{text: s, quoted: true})
			l.pos += end + 2
		case '"':
			flush()
			if err := l.dquote(&w); err != nil {
				return nil, err
			}
		case '$':
			v, ok := l.variable()
			if !ok {
				lit.WriteByte('$')
				l.pos++
				continue
			}
			flush()
			w = append(w, wordPart{text: v, isVar: true})
		default:
			lit.WriteByte(c)
			l.pos++
		}
	}
	flush()
	return w, nil
}

// dquote reads "…" starting at the opening quote.
func (l *lexer) dquote(w *word) error {
	start := l.line
	l.pos++
	var lit strings.Builder
	// An empty "" still makes a word.
	*w = append(*w, wordPart{quoted: true})
	flush := func() {
		if lit.Len() > 0 {
			*w = append(*w, wordPart{text: lit.String(), quoted: true})
			lit.Reset()
		}
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			flush()
			return nil
		case '\\':
			if l.pos+1 < len(l.src) {
				switch n := l.src[l.pos+1]; n {
				case '$', '"', '\\':
					lit.WriteByte(n)
					l.pos += 2
					continue
				case '\n':
					l.pos += 2
					l.line++
					continue
				}
			}
			lit.WriteByte('\\')
			l.pos++
		case '$':
			v, ok := l.variable()
			if !ok {
				lit.WriteByte('$')
				l.pos++
				continue
			}
			flush()
			*w = append(*w, wordPart{text: v, isVar: true, quoted: true})
		default:
			if c == '\n' {
				l.line++
			}
			lit.WriteByte(c)
			l.pos++
		}
	}
	return fmt.Errorf("line %d: unterminated \" quote", start)
}

// variable reads $name, ${name}, $1, $?, $# or $@ at l.pos; false when the
// $ starts none of them (it is then a literal $).
func (l *lexer) variable() (string, bool) {
	s := l.src[l.pos+1:]
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 1 {
			return "", false
		}
		name := s[1:end]
		if strings.ContainsAny(name, " \t\n\"'${") {
			return "", false
		}
		l.pos += end + 2
		return name, true
	}
	if s != "" && strings.IndexByte("?#@*", s[0]) >= 0 {
		l.pos += 2
		return s[:1], true
	}
	n := 0
	for n < len(s) && (isLetter(s[n]) || isDigit(s[n]) || s[n] == '_') {
		n++
	}
	if n == 0 {
		return "", false
	}
	l.pos += n + 1
	return s[:n], true
}

// parser builds statements from tokens.
type parser struct {
	lx    lexer
	tok   token
	depth int
}

// maxNesting bounds block nesting, so hostile input cannot exhaust the stack.
const maxNesting = 64

// parseGrub parses a grub.cfg.
func parseGrub(src string) ([]stmt, error) {
	p := &parser{lx: lexer{src: src, line: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	list, end, err := p.list(nil)
	if err != nil {
		return nil, err
	}
	if end == "}" {
		return nil, fmt.Errorf("line %d: } without {", p.tok.line)
	}
	return list, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// list parses statements until EOF, a "}" or a keyword in stops at the
// start of a command; it returns which one ended it ("" for EOF), leaving
// that token current.
func (p *parser) list(stops []string) ([]stmt, string, error) {
	var out []stmt
	for {
		switch p.tok.kind {
		case tokEOF:
			return out, "", nil
		case tokSep:
			if err := p.advance(); err != nil {
				return nil, "", err
			}
			continue
		case tokRBrace:
			return out, "}", nil
		case tokLBrace:
			return nil, "", fmt.Errorf("line %d: unexpected {", p.tok.line)
		}
		for _, s := range stops {
			if p.tok.w.bare(s) {
				return out, s, nil
			}
		}
		st, err := p.statement()
		if err != nil {
			return nil, "", err
		}
		out = append(out, st)
	}
}

func (p *parser) statement() (stmt, error) {
	w := p.tok.w
	line := p.tok.line
	switch {
	case w.bare("if"):
		return p.ifStmt()
	case w.bare("function"):
		return p.funcStmt()
	case w.bare("menuentry"), w.bare("submenu"):
		return p.menuStmt(w.bare("submenu"))
	case w.bare("then"), w.bare("elif"), w.bare("else"), w.bare("fi"), w.bare("do"), w.bare("done"):
		k, _ := w.literal()
		return nil, fmt.Errorf("line %d: %q without its opening keyword", line, k)
	case w.bare("for"), w.bare("while"), w.bare("until"):
		if err := p.skipLoop(); err != nil {
			return nil, err
		}
		return &loopStmt{line: line}, nil
	}
	c := &cmdStmt{line: line}
	for p.tok.kind == tokWord {
		c.words = append(c.words, p.tok.w)
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	// A "{" after a plain command is a syntax error in GRUB too.
	if p.tok.kind == tokLBrace {
		return nil, fmt.Errorf("line %d: unexpected { after %s", p.tok.line, describe(c.words[0]))
	}
	return c, nil
}

func describe(w word) string {
	if s, ok := w.literal(); ok {
		return fmt.Sprintf("%q", s)
	}
	return "a command"
}

func (p *parser) nest(line int) error {
	p.depth++
	if p.depth > maxNesting {
		return fmt.Errorf("line %d: blocks nested deeper than %d", line, maxNesting)
	}
	return nil
}

func (p *parser) ifStmt() (stmt, error) {
	s := &ifStmt{line: p.tok.line}
	if err := p.nest(s.line); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	for {
		// Current token is "if" or "elif".
		if err := p.advance(); err != nil {
			return nil, err
		}
		cond, end, err := p.list([]string{"then"})
		if err != nil {
			return nil, err
		}
		if end != "then" {
			return nil, fmt.Errorf("line %d: if without then", s.line)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		body, end, err := p.list([]string{"elif", "else", "fi"})
		if err != nil {
			return nil, err
		}
		s.conds = append(s.conds, cond)
		s.bodies = append(s.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.advance(); err != nil {
				return nil, err
			}
			body, end, err := p.list([]string{"fi"})
			if err != nil {
				return nil, err
			}
			if end != "fi" {
				return nil, fmt.Errorf("line %d: if without fi", s.line)
			}
			s.elseBody = body
			return s, p.advance()
		case "fi":
			return s, p.advance()
		default:
			return nil, fmt.Errorf("line %d: if without fi", s.line)
		}
	}
}

// block parses { LIST } with the current token at "{".
func (p *parser) block(line int, what string) ([]stmt, error) {
	if p.tok.kind != tokLBrace {
		return nil, fmt.Errorf("line %d: %s without {", line, what)
	}
	if err := p.nest(line); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	body, end, err := p.list(nil)
	if err != nil {
		return nil, err
	}
	if end != "}" {
		return nil, fmt.Errorf("line %d: %s: { without }", line, what)
	}
	return body, p.advance()
}

func (p *parser) funcStmt() (stmt, error) {
	line := p.tok.line
	if err := p.advance(); err != nil {
		return nil, err
	}
	name, ok := p.tok.w.literal()
	if p.tok.kind != tokWord || !ok || name == "" {
		return nil, fmt.Errorf("line %d: function without a name", line)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for p.tok.kind == tokSep {
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	body, err := p.block(line, "function "+name)
	if err != nil {
		return nil, err
	}
	return &funcStmt{line: line, name: name, body: body}, nil
}

func (p *parser) menuStmt(submenu bool) (stmt, error) {
	s := &menuStmt{line: p.tok.line, submenu: submenu}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for p.tok.kind == tokWord {
		s.args = append(s.args, p.tok.w)
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	what := "menuentry"
	if submenu {
		what = "submenu"
	}
	body, err := p.block(s.line, what)
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

// skipLoop skips a for/while/until loop up to its "done", minding nesting.
func (p *parser) skipLoop() error {
	line := p.tok.line
	depth := 0
	atStart := true
	for {
		switch p.tok.kind {
		case tokEOF:
			return fmt.Errorf("line %d: loop without done", line)
		case tokSep:
			atStart = true
		case tokWord:
			if atStart {
				switch {
				case p.tok.w.bare("for"), p.tok.w.bare("while"), p.tok.w.bare("until"):
					depth++
				case p.tok.w.bare("done"):
					depth--
					if depth == 0 {
						return p.advance()
					}
				}
			}
			atStart = p.tok.w.bare("do")
		default:
			atStart = true
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}
