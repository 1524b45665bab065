package antientropy

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the package's dependencies to the standard library and
// the storage package: the node adapts its transport to Peer, never the
// reverse.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		std := !strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, "kvstore")
		if !std && imp != "kvstore/storage" {
			t.Errorf("antientropy imports %s; only the standard library and kvstore/storage are allowed", imp)
		}
	}
}
