package gnucash

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits on what an XML book may hold, so that a damaged or hostile file
// ends in an error instead of unbounded memory. GnuCash's own files are
// far inside them.
const (
	maxTokenBytes  = 1 << 20  // one tag, text, comment or CDATA section
	maxDepth       = 64       // element nesting
	maxObjectBytes = 16 << 20 // text kept for one object (a transaction)
	maxObjectNodes = 400_000  // elements in one object (~50,000 splits)
)

var (
	// errDirective is a <!DOCTYPE …> or another declaration: GnuCash never
	// writes one, and refusing it shuts out entity tricks.
	errDirective = errors.New("DOCTYPE and other <!…> declarations are not allowed in a GnuCash book")
	// errTokenSize is a tag or text longer than maxTokenBytes.
	errTokenSize = fmt.Errorf("a tag or text is longer than %d bytes", maxTokenBytes)
)

// guard is the reader between the book's bytes and the XML decoder. It
// fails once one token (the stretch from a '<' to the next, or a comment,
// CDATA section or processing instruction as a whole) grows past
// maxTokenBytes, or a declaration starts: encoding/xml buffers a token
// whole, so this bounds its memory. (The decoder expands only XML's five
// built-in entities, and Strict, the default, rejects others.)
//
// It also drops, unread, the elements named in drop: a data type that needs
// no transactions has them cut out of the stream before the decoder, which
// would spend most of the read tokenizing them, sees them. Dropping looks
// only for the element's end tag, so a dropped element is not checked.
type guard struct {
	br    *bufio.Reader
	state guardState
	run   int     // bytes of the current token
	bang  []byte  // bytes after "<!" while telling a comment from CDATA
	tail  [2]byte // the last two bytes, for "-->", "]]>" and "?>"
	drop  []string
	end   []byte // the end tag being dropped to; nil when not dropping
	lines int    // newlines dropped, for the decoder's line numbers
	err   error
}

type guardState uint8

const (
	inMarkup  guardState = iota // text or a tag: '<' starts the next token
	afterLT                     // just read '<'
	inBang                      // read "<!", deciding
	inComment                   // until "-->"
	inCDATA                     // until "]]>"
	inPI                        // until "?>"
	inDropTag                   // the start tag of a dropped element, until '>'
)

// newGuard reads r, dropping the elements named in drop ("gnc:transaction").
func newGuard(r io.Reader, drop ...string) *guard {
	return &guard{br: bufio.NewReaderSize(r, 64<<10), bang: make([]byte, 0, 8), drop: drop}
}

func (g *guard) Read(p []byte) (int, error) {
	for g.err == nil {
		if g.end != nil || g.state == inDropTag {
			g.err = g.dropElement()
			continue
		}
		head, err := g.br.Peek(1)
		if err != nil {
			g.err = err
			break
		}
		if g.state == inMarkup && head[0] == '<' && len(g.drop) > 0 {
			dropped, err := g.startDrop()
			if err != nil {
				g.err = err
				break
			}
			if dropped {
				continue
			}
		}
		data, _ := g.br.Peek(min(g.br.Buffered(), len(p)))
		n, err := g.scanAll(data)
		copy(p, data[:n])
		g.br.Discard(n)
		if err != nil {
			g.err = err
			return 0, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, g.err
}

// scanAll checks data and says how much of it to hand on: all of it, or
// up to a '<' that may open an element to drop, which Read looks at first
// with enough bytes to tell. (A '<' at data's start has been looked at.)
func (g *guard) scanAll(data []byte) (int, error) {
	for i := 0; i < len(data); i++ {
		if g.state == inMarkup { // the common case: skip to the next '<'
			j := bytes.IndexByte(data[i:], '<')
			if j < 0 {
				j = len(data) - i
			}
			if g.run += j; g.run > maxTokenBytes {
				return 0, errTokenSize
			}
			if i += j; i == len(data) {
				break
			}
			if i > 0 && g.mayDrop(data[i:]) {
				return i, nil // hand on what comes before; Read looks at the '<' next time
			}
		}
		if err := g.scan(data[i]); err != nil {
			return 0, err
		}
	}
	return len(data), nil
}

// mayDrop reports whether rest, starting with '<', may open an element to
// drop, or is too short to tell.
func (g *guard) mayDrop(rest []byte) bool {
	for _, name := range g.drop {
		if len(rest) < len(name)+2 {
			if n := min(len(rest)-1, len(name)); string(rest[1:1+n]) == name[:n] {
				return true
			}
			continue
		}
		if string(rest[1:len(name)+1]) == name {
			return true
		}
	}
	return false
}

// startDrop looks at the '<' the reader is at: when it opens an element to
// drop, it consumes the name and starts dropping.
func (g *guard) startDrop() (bool, error) {
	for _, name := range g.drop {
		head, err := g.br.Peek(len(name) + 2)
		if err != nil && err != io.EOF {
			return false, err
		}
		if len(head) == len(name)+2 && string(head[1:len(name)+1]) == name && bytes.IndexByte([]byte(" \t\r\n>/"), head[len(name)+1]) >= 0 {
			g.br.Discard(len(name) + 1)
			g.state, g.end, g.tail = inDropTag, []byte("</"+name+">"), [2]byte{}
			return true, nil
		}
	}
	return false, nil
}

// dropElement reads on to the end of the element being dropped: its start
// tag's '>' (done if it was "/>"), then its end tag.
func (g *guard) dropElement() error {
	for g.state == inDropTag {
		c, err := g.br.ReadByte()
		if err != nil {
			return err
		}
		if c == '\n' {
			g.lines++
		}
		if c == '>' {
			g.state, g.run = inMarkup, 0
			if g.tail[1] == '/' {
				g.end = nil
			}
		}
		g.tail = [2]byte{g.tail[1], c}
	}
	for g.end != nil {
		if _, err := g.br.Peek(1); err != nil {
			return err
		}
		window, _ := g.br.Peek(g.br.Buffered())
		if i := bytes.Index(window, g.end); i >= 0 {
			g.lines += bytes.Count(window[:i], newline)
			g.br.Discard(i + len(g.end))
			g.end = nil
			return nil
		}
		if keep := len(g.end) - 1; len(window) > keep {
			g.lines += bytes.Count(window[:len(window)-keep], newline)
			g.br.Discard(len(window) - keep)
		} else if _, err := g.br.Peek(len(window) + 1); err != nil {
			return err // the file ends inside the dropped element
		}
	}
	return nil
}

func (g *guard) scan(c byte) error {
	g.run++
	prev := g.tail
	g.tail = [2]byte{prev[1], c}
	switch g.state {
	case inMarkup:
		if c == '<' {
			g.state, g.run = afterLT, 1
		}
	case afterLT:
		switch c {
		case '!':
			g.state, g.bang = inBang, g.bang[:0]
		case '?':
			g.state = inPI
		case '<':
			g.run = 1
		default:
			g.state = inMarkup
		}
	case inBang:
		g.bang = append(g.bang, c)
		switch {
		case bytes.Equal(g.bang, commentOpen):
			g.state, g.tail = inComment, [2]byte{}
		case bytes.Equal(g.bang, cdataOpen):
			g.state, g.tail = inCDATA, [2]byte{}
		case !bytes.HasPrefix(commentOpen, g.bang) && !bytes.HasPrefix(cdataOpen, g.bang):
			return errDirective
		}
	case inComment:
		if c == '>' && prev == [2]byte{'-', '-'} {
			g.state = inMarkup
		}
	case inCDATA:
		if c == '>' && prev == [2]byte{']', ']'} {
			g.state = inMarkup
		}
	case inPI:
		if c == '>' && prev[1] == '?' {
			g.state = inMarkup
		}
	}
	if g.run > maxTokenBytes {
		return errTokenSize
	}
	return nil
}

var (
	newline     = []byte("\n")
	commentOpen = []byte("--")
	cdataOpen   = []byte("[CDATA[")
)
