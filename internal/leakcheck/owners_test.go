package leakcheck_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// goStmts returns, for each non-test Go file under dir, the functions
// that contain a go statement ("file: func").
func goStmts(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.GoStmt); ok {
					out = append(out, filepath.ToSlash(path)+": "+fn.Name.Name)
					return false
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoGoroutineInAConstructor: building a part starts nothing; its
// Run(ctx) (or Start) does, so the caller owns, stops and waits for it.
func TestNoGoroutineInAConstructor(t *testing.T) {
	for _, dir := range []string{"../../internal", "../../cmd"} {
		for _, g := range goStmts(t, dir) {
			if name := g[strings.LastIndex(g, " ")+1:]; strings.HasPrefix(name, "New") || strings.HasPrefix(name, "new") {
				t.Errorf("%s starts a goroutine; start it in Run(ctx) instead", g)
			}
		}
	}
}

// TestServerGoroutinesHaveOneOwner: internal/server starts goroutines only
// in its errgroup (Start) and in afterCalls; anything else that runs in
// the background is a component (components), so that Shutdown waits
// for it and its failure stops the server.
func TestServerGoroutinesHaveOneOwner(t *testing.T) {
	allowed := map[string]bool{
		"../../internal/server/aftercalls.go: Go": true,
	}
	for _, g := range goStmts(t, "../../internal/server") {
		if !allowed[g] {
			t.Errorf("%s starts a goroutine; add it to Server.components instead", g)
		}
	}
}
