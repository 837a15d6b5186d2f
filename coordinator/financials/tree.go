package financials

import (
	"cmp"
	"slices"
	"strings"

	"github.com/ferry-sync/ferry/shared/model"
)

// account is what a report needs of a chartOfAccounts record.
type account struct {
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	FullyQualifiedName string            `json:"fullyQualifiedName"`
	NominalCode        string            `json:"nominalCode"`
	Type               model.AccountType `json:"type"`
	Currency           string            `json:"currency"`
}

// node is one line of a section's tree: an account (acct ≥ 0, the index
// of its balances) or a grouping level of the chart that is no account
// (acct -1).
type node struct {
	id, name, code string
	acct           int
	children       []*node
}

// section is the tree of one part of a statement (assets, income, …):
// every account of its type, under the lines of the chart above it.
type section struct {
	root  *node
	byKey map[string]*node
}

func newSection(name string) *section {
	return &section{root: &node{name: name, acct: -1}, byKey: map[string]*node{}}
}

// add puts account i, a, under its parents: the levels of its
// fullyQualifiedName, each the account of that full name or, when none
// has it, a grouping line. GnuCash joins the names with ":"; Codat's
// form ("Asset.Current.Bank.Business Current Account") with "." and
// begins with the account's type, which the section stands for.
func (s *section) add(i int, a *account, byName map[string]*account) {
	parent := s.root
	paths, names := parentLevels(a)
	for j, path := range paths {
		parent = s.child(parent, path, names[j], byName[path])
	}
	key := a.FullyQualifiedName
	if key == "" {
		key = a.Name
	}
	if n := s.byKey[key]; n != nil && n.acct == -1 {
		n.id, n.name, n.code, n.acct = a.ID, a.Name, a.NominalCode, i // the line made for its children
		return
	} else if n != nil {
		key += "\x00" + a.ID // a second account of the same full name: a sibling
	}
	n := &node{id: a.ID, name: a.Name, code: a.NominalCode, acct: i}
	s.byKey[key] = n
	parent.children = append(parent.children, n)
}

// child returns the line for path under parent, making it: the account
// a (whose own balance counts in its own type's section) or, when nil, a
// grouping line.
func (s *section) child(parent *node, path, name string, a *account) *node {
	if n := s.byKey[path]; n != nil {
		return n
	}
	n := &node{name: name, acct: -1}
	if a != nil {
		n.id, n.name, n.code = a.ID, a.Name, a.NominalCode
	}
	s.byKey[path] = n
	parent.children = append(parent.children, n)
	return n
}

// parentLevels are the levels above a in the chart, the top first: each
// one's full path and its own name.
func parentLevels(a *account) (paths, names []string) {
	fq, name := a.FullyQualifiedName, a.Name
	if fq == "" || fq == name {
		return nil, nil
	}
	var sep, parents string
	switch {
	case strings.HasSuffix(fq, ":"+name):
		sep, parents = ":", strings.TrimSuffix(fq, ":"+name)
	case strings.HasSuffix(fq, "."+name):
		sep, parents = ".", strings.TrimSuffix(fq, "."+name)
	case strings.Contains(fq, ":"):
		sep, parents = ":", fq[:strings.LastIndex(fq, ":")]
	case strings.Contains(fq, "."):
		sep, parents = ".", fq[:strings.LastIndex(fq, ".")]
	default:
		return nil, nil
	}
	names = strings.Split(parents, sep)
	path := ""
	for j, n := range names {
		if j > 0 {
			path += sep
		}
		path += n
		paths = append(paths, path)
	}
	if sep == "." && names[0] == string(a.Type) {
		paths, names = paths[1:], names[1:] // Codat's path begins with the type
	}
	return paths, names
}

// sortTree orders each line's children as GnuCash lists accounts: by
// code, then name.
func sortTree(n *node) {
	slices.SortStableFunc(n.children, func(a, b *node) int {
		return cmp.Or(cmp.Compare(a.code, b.code), cmp.Compare(a.name, b.name))
	})
	for _, c := range n.children {
		sortTree(c)
	}
}
