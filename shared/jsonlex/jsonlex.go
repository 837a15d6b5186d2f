// Package jsonlex reads JSON's tokens from bytes held in memory, for
// Ferry's one-pass readers of records (protocol.RecordID's check and
// model's plain decoder). A Lexer's methods read at I and move it past
// what they read; those returning a bool return false, at once, where the
// bytes at I are not the token.
package jsonlex

// Lexer reads the JSON text B from I.
type Lexer struct {
	B []byte
	I int
}

// Peek is the byte at I, or 0 at the end.
func (l *Lexer) Peek() byte {
	if l.I < len(l.B) {
		return l.B[l.I]
	}
	return 0
}

// Space skips JSON's white space.
func (l *Lexer) Space() {
	for l.I < len(l.B) && (l.B[l.I] == ' ' || l.B[l.I] == '\t' || l.B[l.I] == '\r' || l.B[l.I] == '\n') {
		l.I++
	}
}

// Number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (l *Lexer) Number() bool {
	if l.Peek() == '-' {
		l.I++
	}
	switch c := l.Peek(); {
	case c == '0':
		l.I++
	case c >= '1' && c <= '9':
		l.Digits()
	default:
		return false
	}
	if l.Peek() == '.' {
		l.I++
		if !l.Digits() {
			return false
		}
	}
	if c := l.Peek(); c == 'e' || c == 'E' {
		l.I++
		if c := l.Peek(); c == '+' || c == '-' {
			l.I++
		}
		if !l.Digits() {
			return false
		}
	}
	return true
}

// Digits reads one or more decimal digits.
func (l *Lexer) Digits() bool {
	start := l.I
	for l.I < len(l.B) && l.B[l.I] >= '0' && l.B[l.I] <= '9' {
		l.I++
	}
	return l.I > start
}

// Literal reads lit (true, false or null).
func (l *Lexer) Literal(lit string) bool {
	if len(l.B)-l.I < len(lit) || string(l.B[l.I:l.I+len(lit)]) != lit {
		return false
	}
	l.I += len(lit)
	return true
}

// Next reads what follows a member of an object or an element of an
// array, after any space: a comma and the space after it (more is true)
// or close, '}' or ']' (more is false). ok is false for anything else.
func (l *Lexer) Next(close byte) (more, ok bool) {
	l.Space()
	switch l.Peek() {
	case ',':
		l.I++
		l.Space()
		return true, true
	case close:
		l.I++
		return false, true
	}
	return false, false
}
