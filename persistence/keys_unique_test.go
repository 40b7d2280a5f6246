package persistence

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestTableBytesUnique reads the package's sources and fails when two
// tables (constants named t<Name> holding a byte) share a key byte. Tables
// of the system space ('s') and of a workspace ('w' ws) are kept apart by
// different bytes too, so that a key's table byte alone says what it
// holds: two tables once took 's' 'H', and one's prefix scan would have
// read the other's record.
func TestTableBytesUnique(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	owner := map[rune]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) || !isTableName(name.Name) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.CHAR {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil || len([]rune(s)) != 1 {
						t.Fatalf("%s: %s = %s is not one character", fset.Position(lit.Pos()), name.Name, lit.Value)
					}
					r := []rune(s)[0]
					where := name.Name + " (" + fset.Position(lit.Pos()).String() + ")"
					if prev, taken := owner[r]; taken {
						t.Errorf("table byte %q is taken twice: %s and %s", r, prev, where)
					}
					owner[r] = where
				}
			}
		}
	}
	if len(owner) < 20 {
		t.Fatalf("found only %d tables: the scan no longer sees the constants", len(owner))
	}
}

// isTableName reports whether a constant is a table byte by its name:
// t followed by an upper-case letter (tMessage, tVAPID).
func isTableName(n string) bool {
	return len(n) > 1 && n[0] == 't' && unicode.IsUpper(rune(n[1]))
}
