//go:build windows

package service

import "errors"

var errNotHere = errors.New("not this platform's service manager")

func sysvState(Settings) State { return State{Name: "unknown"} }

func systemdState() (State, error) { return State{Name: "unknown"}, errNotHere }
