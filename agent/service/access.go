package service

import "fmt"

// Need is a path the service account must reach.
type Need struct {
	Path string
	// What names the path for a person: "the agent binary", "the book of
	// connection …".
	What string
	// Exec: run it (a file). Enter: go into it (a folder whose contents
	// are given to the account later). Otherwise: read it (a file, or a
	// folder to list).
	Exec, Enter bool
}

// AccessError is a path the service account cannot reach, with how to fix it.
type AccessError struct {
	Account string
	// Path is the path at fault: the Need's own, or a folder above it.
	Path string
	Need Need
	Fix  string
}

func (e *AccessError) Error() string {
	if e.Path != e.Need.Path {
		return fmt.Sprintf("the service account %s cannot reach %s %s: it may not enter the folder %s. %s",
			e.Account, e.Need.What, e.Need.Path, e.Path, e.Fix)
	}
	verb := "read"
	switch {
	case e.Need.Exec:
		verb = "run"
	case e.Need.Enter:
		verb = "enter"
	}
	return fmt.Sprintf("the service account %s cannot %s %s %s. %s", e.Account, verb, e.Need.What, e.Path, e.Fix)
}
