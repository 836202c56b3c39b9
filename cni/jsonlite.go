package main

// The plugin's JSON: a small parser to a value tree and the few encoders it needs, instead of encoding/json.
// The plugin is started for every pod, and on a 2-core node eight starting together compete for CPU: linking
// and running encoding/json (with reflect and fmt) cost ~3 ms of CPU per start, about a quarter of the process
// (ADR 0005). What it reads follows encoding/json's decoding rules where the plugin relied on them: a struct's
// fields match keys case-insensitively and the last duplicate wins, a type mismatch is an error that names the
// field, invalid UTF-8 and lone surrogates in strings become U+FFFD, nesting is limited to 10000 levels, and a
// number decoded as a float64 must fit one. What it writes is what encoding/json would write (HTML-safe strings).

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	jsonNull = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is one parsed value; raw is its text as it was in the input.
type jsonValue struct {
	kind  int
	b     bool
	str   string
	raw   []byte
	items []*jsonValue // array elements
	keys  []string     // object keys, in order (duplicates kept)
	vals  []*jsonValue
}

// kindName is how encoding/json names a JSON value's kind in its type errors.
func (v *jsonValue) kindName() string {
	switch v.kind {
	case jsonBool:
		return "bool"
	case jsonNumber:
		return "number"
	case jsonString:
		return "string"
	case jsonArray:
		return "array"
	case jsonObject:
		return "object"
	}
	return "null"
}

// field is the value of the last key equal to name (a map's lookup), or nil.
func (v *jsonValue) field(name string) *jsonValue {
	var out *jsonValue
	for i, k := range v.keys {
		if k == name {
			out = v.vals[i]
		}
	}
	return out
}

// structField is the value a struct field named name would get: the last key equal to it ignoring case, or nil.
func (v *jsonValue) structField(name string) *jsonValue {
	var out *jsonValue
	for i, k := range v.keys {
		if k == name || strings.EqualFold(k, name) {
			out = v.vals[i]
		}
	}
	return out
}

// structFields are the values of every key a struct field named name would take, in order: encoding/json
// decodes each of them into the field (the last one decoded wins; a type error in any fails the whole decode).
func (v *jsonValue) structFields(name string) []*jsonValue {
	var out []*jsonValue
	for i, k := range v.keys {
		if k == name || strings.EqualFold(k, name) {
			out = append(out, v.vals[i])
		}
	}
	return out
}

// typeError is encoding/json's UnmarshalTypeError message.
func typeError(v *jsonValue, into string) error {
	return errors.New("json: cannot unmarshal " + v.kindName() + " into " + into)
}

// finite says whether every number in v fits a float64, as decoding v into an `any` requires.
func (v *jsonValue) finite() error {
	switch v.kind {
	case jsonNumber:
		if _, err := strconv.ParseFloat(string(v.raw), 64); err != nil {
			return errors.New("json: cannot unmarshal number " + string(v.raw) + " into Go value of type float64")
		}
	case jsonArray:
		for _, it := range v.items {
			if err := it.finite(); err != nil {
				return err
			}
		}
	case jsonObject:
		for _, it := range v.vals {
			if err := it.finite(); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeString decodes a value into a string: null leaves s as it is, another kind is an error (the first one
// is kept, as encoding/json reports the first).
func decodeString(v *jsonValue, s string, into string, err *error) string {
	switch v.kind {
	case jsonNull:
	case jsonString:
		s = v.str
	default:
		if *err == nil {
			*err = typeError(v, into)
		}
	}
	return s
}

// stringField decodes every key of a struct field of type string.
func stringField(obj *jsonValue, name string, into string, err *error) string {
	s := ""
	for _, v := range obj.structFields(name) {
		s = decodeString(v, s, into, err)
	}
	return s
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

type jsonParser struct {
	s     []byte
	i     int
	depth int
}

// parseJSON parses one JSON text (surrounding whitespace allowed).
func parseJSON(s []byte) (*jsonValue, error) {
	p := &jsonParser{s: s}
	p.space()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, p.unexpected("after top-level value")
	}
	return v, nil
}

func (p *jsonParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

var errJSONEnd = errors.New("unexpected end of JSON input")

// unexpected is the error for the byte at p.i (or the end of input), in encoding/json's words.
func (p *jsonParser) unexpected(context string) error {
	if p.i >= len(p.s) {
		return errJSONEnd
	}
	c := p.s[p.i]
	q := "'" + string(rune(c)) + "'"
	switch {
	case c == '\'':
		q = `'\''`
	case c == '"':
		q = `'"'`
	case c < 0x20 || c >= utf8.RuneSelf:
		q = strconv.QuoteRune(rune(c))
	}
	return errors.New("invalid character " + q + " " + context)
}

func (p *jsonParser) value() (*jsonValue, error) {
	if p.i >= len(p.s) {
		return nil, errJSONEnd
	}
	start := p.i
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		str, err := p.string()
		if err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonString, str: str, raw: p.s[start:p.i]}, nil
	case c == '-' || c >= '0' && c <= '9':
		if err := p.number(); err != nil {
			return nil, err
		}
		return &jsonValue{kind: jsonNumber, raw: p.s[start:p.i]}, nil
	case c == 't':
		return p.literal("true", &jsonValue{kind: jsonBool, b: true})
	case c == 'f':
		return p.literal("false", &jsonValue{kind: jsonBool})
	case c == 'n':
		return p.literal("null", &jsonValue{kind: jsonNull})
	}
	return nil, p.unexpected("looking for beginning of value")
}

func (p *jsonParser) literal(word string, v *jsonValue) (*jsonValue, error) {
	start := p.i
	for k := 0; k < len(word); k++ {
		if p.i >= len(p.s) {
			return nil, errJSONEnd
		}
		if p.s[p.i] != word[k] {
			return nil, p.unexpected("in literal " + word + " (expecting " + strconv.QuoteRune(rune(word[k])) + ")")
		}
		p.i++
	}
	v.raw = p.s[start:p.i]
	return v, nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonParser) number() error {
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.s) {
		return errJSONEnd
	}
	switch c := p.s[p.i]; {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.unexpected("in numeric literal")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return p.unexpected("after decimal point in numeric literal")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.unexpected("in exponent of numeric literal")
		}
	}
	return nil
}

func hexDigit(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// hex4 reads the four hex digits of a \u escape at p.i.
func (p *jsonParser) hex4() (rune, error) {
	var r rune
	for k := 0; k < 4; k++ {
		if p.i >= len(p.s) {
			return 0, errJSONEnd
		}
		d := hexDigit(p.s[p.i])
		if d < 0 {
			return 0, p.unexpected("in \\u hexadecimal character escape")
		}
		r = r<<4 | d
		p.i++
	}
	return r, nil
}

// string reads a string literal at p.i (the opening quote) and returns its value.
func (p *jsonParser) string() (string, error) {
	p.i++
	start := p.i
	// Fast path: no escapes, valid UTF-8.
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			if s := p.s[start:p.i]; utf8.Valid(s) {
				p.i++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	p.i = start
	var b []byte
	for {
		if p.i >= len(p.s) {
			return "", errJSONEnd
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c < 0x20:
			return "", p.unexpected("in string literal")
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", errJSONEnd
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if r >= 0xd800 && r < 0xdc00 {
					// A high surrogate: with a low one after it, one character; alone, U+FFFD.
					if p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						lo, err := p.hex4()
						if err == nil && lo >= 0xdc00 && lo < 0xe000 {
							r = (r-0xd800)<<10 | (lo - 0xdc00) + 0x10000
						} else {
							p.i = save
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				} else if r >= 0xdc00 && r < 0xe000 {
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				p.i--
				return "", p.unexpected("in string escape code")
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			p.i += size
			b = utf8.AppendRune(b, r) // invalid UTF-8 becomes U+FFFD
		}
	}
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return errors.New("exceeded max depth")
	}
	return nil
}

func (p *jsonParser) array() (*jsonValue, error) {
	start := p.i
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++
	v := &jsonValue{kind: jsonArray}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
	} else {
		for {
			p.space()
			it, err := p.value()
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, it)
			p.space()
			if p.i >= len(p.s) {
				return nil, errJSONEnd
			}
			if p.s[p.i] == ']' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, p.unexpected("after array element")
			}
			p.i++
		}
	}
	p.depth--
	v.raw = p.s[start:p.i]
	return v, nil
}

func (p *jsonParser) object() (*jsonValue, error) {
	start := p.i
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.i++
	v := &jsonValue{kind: jsonObject}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
	} else {
		for {
			p.space()
			if p.i >= len(p.s) {
				return nil, errJSONEnd
			}
			if p.s[p.i] != '"' {
				return nil, p.unexpected("looking for beginning of object key string")
			}
			k, err := p.string()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) {
				return nil, errJSONEnd
			}
			if p.s[p.i] != ':' {
				return nil, p.unexpected("after object key")
			}
			p.i++
			p.space()
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			v.keys, v.vals = append(v.keys, k), append(v.vals, val)
			p.space()
			if p.i >= len(p.s) {
				return nil, errJSONEnd
			}
			if p.s[p.i] == '}' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, p.unexpected("after object key:value pair")
			}
			p.i++
		}
	}
	p.depth--
	v.raw = p.s[start:p.i]
	return v, nil
}

// compactJSON is valid JSON text without the whitespace between tokens (json.Compact).
func compactJSON(s []byte) []byte {
	out := make([]byte, 0, len(s))
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			out = append(out, c)
			switch c {
			case '\\':
				i++
				if i < len(s) {
					out = append(out, s[i])
				}
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out
}

const hexLower = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json writes it: HTML-safe (<, > and & escaped),
// U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexLower[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonQuote is s as a JSON string.
func jsonQuote(s string) string { return string(appendJSONString(nil, s)) }

// jsonObjectWriter writes one JSON object, member by member.
type jsonObjectWriter struct{ b []byte }

func (w *jsonObjectWriter) key(k string) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *jsonObjectWriter) str(k, v string) {
	w.key(k)
	w.b = appendJSONString(w.b, v)
}

func (w *jsonObjectWriter) num(k string, v int) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(v), 10)
}

func (w *jsonObjectWriter) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// strs writes a list of strings (nil is null, as encoding/json writes a nil slice).
func (w *jsonObjectWriter) strs(k string, v []string) {
	w.key(k)
	if v == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJSONString(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *jsonObjectWriter) raw(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, v...)
}

func (w *jsonObjectWriter) bytes() []byte {
	if len(w.b) == 0 {
		return []byte("{}")
	}
	return append(w.b, '}')
}
