package httpapi

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// internalMessage is what a client gets for a 500: the error itself, which
// may name files, goes to the log only.
const internalMessage = "httpapi: internal error; the node's log has the details"

// absPath matches what looks like an absolute file path of two components
// or more, after a separator (so that URLs' "//host" do not match).
var absPath = regexp.MustCompile(`(^|[\s"'(=\[,])(/[^\s"'()\[\],;:/]+(?:/[^\s"'()\[\],;:/]*)+)`)

// clientMessage returns the text of err to send to an HTTP client with
// status: for a 500 (an error of no known kind) but ErrOutcomeUnknown, a
// fixed message; otherwise err's text with the file
// paths it holds (those of *fs.PathError and *os.LinkError in its tree,
// and anything that looks like an absolute path) replaced by "[path]". A
// Raft or storage error must not tell a client where a node keeps its
// files. redacted reports whether the text differs from err.Error().
func clientMessage(err error, status int) (msg string, redacted bool) {
	full := err.Error()
	if status == 500 && !errors.Is(err, ErrOutcomeUnknown) {
		return internalMessage, true
	}
	msg = full
	walkErrors(err, func(e error) {
		var p string
		switch x := e.(type) {
		case *fs.PathError:
			p = x.Path
		case *os.LinkError:
			msg = strings.ReplaceAll(msg, x.Old, "[path]")
			p = x.New
		}
		if len(p) > 1 { // not "" or "."
			msg = strings.ReplaceAll(msg, p, "[path]")
		}
	})
	msg = absPath.ReplaceAllString(msg, "$1[path]")
	return msg, msg != full
}

// walkErrors calls f on err and every error it wraps, depth first; the
// tree is bounded by what the wrapped errors hold.
func walkErrors(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(x.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			walkErrors(e, f)
		}
	}
}
