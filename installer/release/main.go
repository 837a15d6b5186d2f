// Command release makes and checks the agent's signed releases (package
// shared/release); make release runs it through installer/release.sh.
//
//	release keys -dir D [-root-key F]          test root and signing key in D, made once
//	release certify -root-key F -key K -out C  certify signing key K (made when missing)
//	release revoke -root-key F -list L ID...   add signing key ids to the revocation list L
//	release pack -version V -out DIR -key K -cert C [-revocations L] [-roots R] PLATFORM=BINARY...
//	release verify -roots R DIR                check the release in DIR
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("a command is required: keys, certify, revoke, pack or verify")
	}
	cmds := map[string]func(*flag.FlagSet, []string, io.Writer) error{
		"keys": runKeys, "certify": runCertify, "revoke": runRevoke, "pack": runPack, "verify": runVerify,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q: keys, certify, revoke, pack or verify", args[0])
	}
	return cmd(flag.NewFlagSet("release "+args[0], flag.ContinueOnError), args[1:], out)
}
