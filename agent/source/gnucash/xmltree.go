package gnucash

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// An XML book is read as a stream of objects: the children of <gnc:book>
// (or of <gnc-v2> in old files), such as one <gnc:account> or one
// <gnc:transaction>. Each object the caller wants is read into a small tree,
// handed over, and its memory reused for the next; the others are skipped
// token by token. Nothing else of the file is held.

// tree is one object's elements. Nodes live in one slice reused from
// object to object; children are linked by index.
type tree struct {
	nodes []node
	bytes int // text and names kept, against maxObjectBytes
}

type node struct {
	name  string // prefix:local as written, "act:name"
	typ   string // the type attribute (type="guid", slot:value type="frame")
	text  string // the text directly inside, whitespace kept
	first int32  // first child, -1 when none
	last  int32
	next  int32 // next sibling
}

// nodeRef is a node of a tree; the zero of its index, -1, is "absent", so
// lookups chain without checks: n.child("a").child("b").text().
type nodeRef struct {
	t *tree
	i int32
}

func (t *tree) root() nodeRef { return nodeRef{t, 0} }

func (n nodeRef) ok() bool { return n.i >= 0 }

func (n nodeRef) name() string {
	if n.i < 0 {
		return ""
	}
	return n.t.nodes[n.i].name
}

// text is the node's text, trimmed; "" when absent.
func (n nodeRef) text() string {
	if n.i < 0 {
		return ""
	}
	return strings.TrimSpace(n.t.nodes[n.i].text)
}

// rawText is the node's text as written (descriptions keep their spaces).
func (n nodeRef) rawText() string {
	if n.i < 0 {
		return ""
	}
	return n.t.nodes[n.i].text
}

func (n nodeRef) typ() string {
	if n.i < 0 {
		return ""
	}
	return n.t.nodes[n.i].typ
}

// child is the first child named name.
func (n nodeRef) child(name string) nodeRef {
	if n.i < 0 {
		return n
	}
	for c := n.t.nodes[n.i].first; c >= 0; c = n.t.nodes[c].next {
		if n.t.nodes[c].name == name {
			return nodeRef{n.t, c}
		}
	}
	return nodeRef{n.t, -1}
}

// each calls fn for each child named name ("" for every child).
func (n nodeRef) each(name string, fn func(nodeRef) error) error {
	if n.i < 0 {
		return nil
	}
	for c := n.t.nodes[n.i].first; c >= 0; c = n.t.nodes[c].next {
		if name == "" || n.t.nodes[c].name == name {
			if err := fn(nodeRef{n.t, c}); err != nil {
				return err
			}
		}
	}
	return nil
}

// walker reads an XML book's objects.
type walker struct {
	guard *guard
	dec   *xml.Decoder
	names map[xml.Name]string // prefix:local, made once per name
	stack []xml.Name
	tree  tree
}

// newWalker reads the book r, dropping unread the elements named in drop.
func newWalker(r io.Reader, drop ...string) *walker {
	g := newGuard(r, drop...)
	dec := xml.NewDecoder(g)
	dec.Strict = true
	return &walker{guard: g, dec: dec, names: map[xml.Name]string{}}
}

// errNotBook is an XML file whose root is not <gnc-v2>.
var errNotBook = errors.New("not a GnuCash book")

// walk reads the book to its end. For each object whose element name want
// accepts it fills the tree and calls visit; others are skipped. Book-level
// children of <gnc:book> and of <gnc-v2> are both objects.
func (w *walker) walk(ctx context.Context, want func(name string) bool, visit func(name string, t *tree) error) error {
	root, err := w.rootElement()
	if err != nil {
		return err
	}
	if w.name(root.Name) != "gnc-v2" {
		return fmt.Errorf("%w: its root element is <%s>, not <gnc-v2>", errNotBook, truncate(w.name(root.Name), 40))
	}
	w.stack = append(w.stack[:0], root.Name)
	objects := 0
	for len(w.stack) > 0 {
		if objects++; objects%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tok, err := w.token()
		if err != nil {
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // an end element, text between objects
		}
		name := w.name(start.Name)
		switch {
		case name == "gnc:book" && len(w.stack) == 2: // descend: its children are objects
		case want(name):
			if err := w.capture(start); err != nil {
				return err
			}
			if err := visit(name, &w.tree); err != nil {
				return err
			}
		default:
			if err := w.skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

// rootElement reads up to the root element: only the XML declaration,
// comments and white space may come before it.
func (w *walker) rootElement() (xml.StartElement, error) {
	for {
		tok, err := w.dec.RawToken()
		if err == io.EOF {
			return xml.StartElement{}, fmt.Errorf("%w: the file holds no XML element", errNotBook)
		}
		if err != nil {
			return xml.StartElement{}, w.syntax(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("%w: text before its first element", errNotBook)
			}
		case xml.Directive:
			return xml.StartElement{}, w.syntax(errDirective)
		}
	}
}

// token reads the next token, keeping the stack of open elements, which
// RawToken does not check.
func (w *walker) token() (xml.Token, error) {
	tok, err := w.dec.RawToken()
	if err == io.EOF {
		return nil, w.syntax(fmt.Errorf("the file ends inside <%s>: it is cut short", w.name(w.stack[len(w.stack)-1])))
	}
	if err != nil {
		return nil, w.syntax(err)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if len(w.stack) >= maxDepth {
			return nil, w.syntax(fmt.Errorf("elements nested more than %d deep", maxDepth))
		}
		w.stack = append(w.stack, t.Name)
	case xml.EndElement:
		if open := w.stack[len(w.stack)-1]; open != t.Name {
			return nil, w.syntax(fmt.Errorf("</%s> closes <%s>", truncate(w.name(t.Name), 40), truncate(w.name(open), 40)))
		}
		w.stack = w.stack[:len(w.stack)-1]
	case xml.Directive:
		return nil, w.syntax(errDirective)
	}
	return tok, nil
}

// skip reads past the end of the element just started.
func (w *walker) skip() error {
	for depth := len(w.stack) - 1; len(w.stack) > depth; {
		if _, err := w.token(); err != nil {
			return err
		}
	}
	return nil
}

// capture reads the element just started, start, into the tree.
func (w *walker) capture(start xml.StartElement) error {
	t := &w.tree
	t.nodes, t.bytes = t.nodes[:0], 0
	t.add(w.name(start.Name), typeAttr(start), -1)
	open := []int32{0}
	for depth := len(w.stack) - 1; len(w.stack) > depth; {
		tok, err := w.token()
		if err != nil {
			return err
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			if len(t.nodes) >= maxObjectNodes {
				return w.syntax(fmt.Errorf("<%s> holds more than %d elements", t.nodes[0].name, maxObjectNodes))
			}
			open = append(open, t.add(w.name(tt.Name), typeAttr(tt), open[len(open)-1]))
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(bytes.TrimSpace(tt)) == 0 {
				continue // indentation
			}
			n := &t.nodes[open[len(open)-1]]
			if t.bytes += len(tt); t.bytes > maxObjectBytes {
				return w.syntax(fmt.Errorf("<%s> holds more than %d bytes of text", t.nodes[0].name, maxObjectBytes))
			}
			n.text += string(tt)
		}
	}
	return nil
}

// add appends a node under parent (-1 for the root) and returns its index.
func (t *tree) add(name, typ string, parent int32) int32 {
	i := int32(len(t.nodes))
	t.nodes = append(t.nodes, node{name: name, typ: typ, first: -1, last: -1, next: -1})
	if parent >= 0 {
		p := &t.nodes[parent]
		if p.last >= 0 {
			t.nodes[p.last].next = i
		} else {
			p.first = i
		}
		p.last = i
	}
	return i
}

func typeAttr(s xml.StartElement) string {
	for _, a := range s.Attr {
		if a.Name.Local == "type" && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// name is prefix:local as written. GnuCash always writes the same
// prefixes (gnc:, act:, trn:…), so names are matched by them.
func (w *walker) name(n xml.Name) string {
	if s, ok := w.names[n]; ok {
		return s
	}
	s := n.Local
	if n.Space != "" {
		s = n.Space + ":" + n.Local
	}
	if len(w.names) < 4096 {
		w.names[n] = s
	}
	return s
}

// xmlError is a fault in the XML with the line it is on.
type xmlError struct {
	line int
	err  error
}

func (e *xmlError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *xmlError) Unwrap() error { return e.err }

func (w *walker) syntax(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &xmlError{line: se.Line + w.guard.lines, err: errors.New(se.Msg)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the file is cut short")
	}
	line, _ := w.dec.InputPos()
	return &xmlError{line: line + w.guard.lines, err: err}
}
