// Package testutil holds small helpers shared by Casket's tests.
package testutil

import (
	"testing"

	"github.com/casketserver/casket/casketfile"
)

// Dispenser tokenizes src (one directive, as it would appear inside a site block) and returns a
// Dispenser over it, failing the test on a syntax error.
func Dispenser(t testing.TB, src string) *casketfile.Dispenser {
	t.Helper()
	tokens, err := casketfile.Tokenize([]byte(src), "Casketfile")
	if err != nil {
		t.Fatalf("tokenizing %q: %v", src, err)
	}
	return casketfile.NewDispenser(tokens)
}
