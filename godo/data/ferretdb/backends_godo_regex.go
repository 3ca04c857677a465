// godo's addition to FerretDB v1.24.2, copied into internal/backends by
// godo/data/build-ferretdb.sh: the walk over a `$regex` that every backend's
// pushdown shares, each backend saying how its own pattern language spells the
// pieces (SQLite's GLOB, PostgreSQL's regular expressions).

package backends

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/types"
)

// GodoDialect spells the pieces of a glob-shaped regular expression in a backend's
// pattern language.
type GodoDialect interface {
	// Anchor is written for the leading `^` (end false) and the closing `$`.
	Anchor(end bool) string
	// Any is `.` (star false) or `.*`.
	Any(star bool) string
	// Literal is one character that must match itself.
	Literal(c rune) string
	// Member is one member of a bracket set, written as it was (escaped false) or
	// after a backslash; first when it opens the set (after any `^`). False when the
	// dialect cannot say it there.
	Member(c rune, escaped, first bool) (string, bool)
}

// GodoRegex is a `$regex` operator's argument in the dialect: only a string without
// options (`$options` is a key of its own in the operator document, ops) and of a
// glob's shape (GodoPattern).
func GodoRegex(ops *types.Document, arg any, d GodoDialect) (string, bool) {
	pattern, ok := arg.(string)
	if !ok || ops.Has("$options") {
		return "", false
	}

	return GodoPattern(pattern, d)
}

// GodoPattern turns an anchored regular expression made of literals, `.`, `.*` and
// bracket sets (the shape godo gives a glob: `^...$`) into the dialect's pattern.
// False for any other expression, and for an escape that is a class rather than a
// literal (`\d`, `\w`: a backslash before an ASCII letter or digit).
func GodoPattern(pattern string, d GodoDialect) (string, bool) {
	if !strings.HasPrefix(pattern, "^") {
		return "", false
	}

	rs := []rune(pattern[1:])
	var out strings.Builder
	out.WriteString(d.Anchor(false))

	for i := 0; i < len(rs); i++ {
		c := rs[i]

		switch c {
		case '$':
			if i != len(rs)-1 {
				return "", false
			}

			out.WriteString(d.Anchor(true))

			return out.String(), true
		case '.':
			star := i+1 < len(rs) && rs[i+1] == '*'
			if star {
				i++
			}

			out.WriteString(d.Any(star))
		case '\\':
			if i+1 >= len(rs) || GodoWord(rs[i+1]) {
				return "", false
			}

			i++
			out.WriteString(d.Literal(rs[i]))
		case '[':
			end, set, ok := godoSet(rs, i, d)
			if !ok {
				return "", false
			}

			out.WriteString(set)
			i = end
		case '*', '+', '?', '(', ')', '{', '}', '|', ']', '^':
			return "", false
		default:
			out.WriteString(d.Literal(c))
		}
	}

	// No closing `$`: not anchored at the end.
	return "", false
}

// GodoWord reports whether c is an ASCII letter or digit: after a backslash, an
// escape in every dialect (and not the same one), never a literal.
func GodoWord(c rune) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// godoSet turns the bracket set at rs[start] into the dialect's: the index of its
// closing `]`, the set, and whether the dialect can say it. Members are literals or
// escaped punctuation, and ranges between two of them; no classes or collating
// elements.
func godoSet(rs []rune, start int, d GodoDialect) (int, string, bool) {
	var out strings.Builder
	out.WriteRune('[')

	i := start + 1
	if i < len(rs) && rs[i] == '^' {
		out.WriteRune('^')
		i++
	}

	first := true

	for ; i < len(rs); i++ {
		c, escaped := rs[i], false

		switch c {
		case ']':
			if first {
				// `[]...]` is a literal `]` in POSIX and GLOB, an error in Go.
				return 0, "", false
			}

			out.WriteRune(']')

			return i, out.String(), true
		case '[':
			// `[:alpha:]`, `[=a=]`, `[.a.]` in POSIX; a literal in Go.
			return 0, "", false
		case '\\':
			if i+1 >= len(rs) || GodoWord(rs[i+1]) {
				return 0, "", false
			}

			i++
			c, escaped = rs[i], true
		}

		member, ok := d.Member(c, escaped, first)
		if !ok {
			return 0, "", false
		}

		out.WriteString(member)
		first = false
	}

	return 0, "", false
}
