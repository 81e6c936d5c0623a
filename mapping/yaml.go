package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// LoadError is a problem with the mapping file itself, at a position in it.
// Line and Column are 1-based; both are 0 when the problem has no position
// (an unreadable file).
type LoadError struct {
	File   string
	Line   int
	Column int
	Msg    string
	Err    error // underlying error, if any (file system, YAML syntax)
}

func (e *LoadError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

func (e *LoadError) Unwrap() error { return e.Err }

// decoder walks the YAML AST strictly: every key must be known, every value
// of the expected shape, and every error names its position. It does not use
// reflection-based decoding because the messages must say what would be valid.
type decoder struct {
	file string
}

// position returns where a node starts. Block mappings report the position
// of their first ':' in goccy's AST, so use their first key instead.
func position(n ast.Node) (int, int) {
	switch v := n.(type) {
	case nil:
		return 1, 1
	case *ast.MappingNode:
		if len(v.Values) > 0 {
			return position(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		return position(v.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return tk.Position.Line, tk.Position.Column
}

func (d *decoder) errf(n ast.Node, format string, args ...any) *LoadError {
	line, col := position(n)
	return &LoadError{File: d.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// syntaxError turns a goccy parse error into a LoadError with its position.
func (d *decoder) syntaxError(err error) *LoadError {
	var ye interface {
		GetMessage() string
		GetToken() *token.Token
	}
	if errors.As(err, &ye) {
		if line, col := tokenPos(ye.GetToken()); line > 0 {
			return &LoadError{File: d.file, Line: line, Column: col, Msg: "YAML: " + ye.GetMessage(), Err: err}
		}
		return &LoadError{File: d.file, Msg: "YAML: " + ye.GetMessage(), Err: err}
	}
	return &LoadError{File: d.file, Msg: "YAML: " + err.Error(), Err: err}
}

// unwrap removes anchors and tags; aliases are refused because a mapping is
// meant to be read top to bottom.
func (d *decoder) unwrap(n ast.Node) (ast.Node, error) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			return nil, d.errf(n, "YAML aliases (*name) are not supported in a mapping; write the value out")
		default:
			return n, nil
		}
	}
}

// describe names a node's kind for "want X, got Y" messages.
func describe(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	default:
		return "a string"
	}
}

// entry is one key of a mapping with its value and the key node (for
// positions).
type entry struct {
	key   ast.Node
	value ast.Node
}

// section reads a mapping whose keys must all be in valid. where names the
// section in messages ("communication", "associations[1]").
type section struct {
	node    ast.Node
	where   string
	entries map[string]entry
	order   []string
}

func (d *decoder) section(n ast.Node, where string, valid []string) (*section, error) {
	n, err := d.unwrap(n)
	if err != nil {
		return nil, err
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return nil, d.errf(n, "%s: want a mapping with keys %s, got %s", where, strings.Join(valid, ", "), describe(n))
	}
	s := &section{node: m, where: where, entries: make(map[string]entry, len(m.Values))}
	for _, mv := range m.Values {
		key, err := d.unwrap(mv.Key)
		if err != nil {
			return nil, err
		}
		var name string
		switch k := key.(type) {
		case *ast.StringNode:
			name = k.Value
		case *ast.MergeKeyNode:
			return nil, d.errf(key, "merge keys (<<) are not supported in %s", where)
		default:
			if tk := key.GetToken(); tk != nil {
				name = tk.Value
			}
		}
		if !slices.Contains(valid, name) {
			return nil, d.errf(mv.Key, "unknown key %q in %s (valid: %s)", name, where, strings.Join(valid, ", "))
		}
		if _, dup := s.entries[name]; dup {
			return nil, d.errf(mv.Key, "key %q appears twice in %s", name, where)
		}
		v := ast.Node(mv.Value)
		if v == nil {
			v = mv.Key
		}
		s.entries[name] = entry{key: mv.Key, value: v}
		s.order = append(s.order, name)
	}
	return s, nil
}

// has reports whether the key is present with a non-null value.
func (s *section) has(name string) bool {
	e, ok := s.entries[name]
	if !ok {
		return false
	}
	_, null := e.value.(*ast.NullNode)
	return !null
}

func (d *decoder) require(s *section, names ...string) error {
	for _, name := range names {
		if !s.has(name) {
			return d.errf(s.node, "missing required key %q in %s", name, s.where)
		}
	}
	return nil
}

// scalar returns a scalar's text as written (numbers and booleans keep their
// spelling, so owner_id: 012 stays "012").
func (d *decoder) scalar(n ast.Node, where string) (string, error) {
	n, err := d.unwrap(n)
	if err != nil {
		return "", err
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", nil
		}
		return v.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, nil
	default:
		return "", d.errf(n, "%s: want a string, got %s", where, describe(n))
	}
}

// str is scalar but refuses numbers and booleans where only text makes sense.
func (d *decoder) str(n ast.Node, where string) (string, error) {
	u, err := d.unwrap(n)
	if err != nil {
		return "", err
	}
	switch u.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return d.scalar(u, where)
	default:
		return "", d.errf(u, "%s: want a string, got %s", where, describe(u))
	}
}

// strList reads a list of scalars; a single scalar counts as a one-item list.
func (d *decoder) strList(n ast.Node, where string) ([]string, error) {
	n, err := d.unwrap(n)
	if err != nil {
		return nil, err
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		s, err := d.scalar(n, where)
		if err != nil {
			return nil, d.errf(n, "%s: want a list of strings, got %s", where, describe(n))
		}
		return []string{s}, nil
	}
	out := make([]string, 0, len(seq.Values))
	for i, item := range seq.Values {
		s, err := d.scalar(item, fmt.Sprintf("%s[%d]", where, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// oneOf reads a string that must be one of valid.
func (d *decoder) oneOf(n ast.Node, where, what string, valid []string) (string, error) {
	s, err := d.scalar(n, where)
	if err != nil {
		return "", err
	}
	if !slices.Contains(valid, s) {
		return "", d.errf(n, "%s: unknown %s %q (valid: %s)", where, what, s, strings.Join(valid, ", "))
	}
	return s, nil
}

func (d *decoder) boolean(n ast.Node, where string) (bool, error) {
	n, err := d.unwrap(n)
	if err != nil {
		return false, err
	}
	b, ok := n.(*ast.BoolNode)
	if !ok {
		return false, d.errf(n, "%s: want true or false, got %s", where, describe(n))
	}
	return b.Value, nil
}

// isMapping reports whether a node (after anchors and tags) is a mapping.
func isMapping(n ast.Node) bool {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.MappingNode:
			return true
		default:
			return false
		}
	}
}

func isSequence(n ast.Node) bool {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.SequenceNode:
			return true
		default:
			return false
		}
	}
}

// tokenPos is the position of a raw token (for parser errors).
func tokenPos(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}
