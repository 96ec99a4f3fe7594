package plan

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/needle-boot/needle/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// A plan's problems are yamlstrict's, like the hwdb's: each names the file
// and line, and a plan is checked as a whole so the operator fixes it in
// one round trip rather than one error per fetch.
type (
	Error     = yamlstrict.Error
	Errors    = yamlstrict.Errors
	errorList = yamlstrict.List
)

// maxNodes bounds the nodes the decoder visits, so that a plan built from
// nested YAML aliases (the "billion laughs" shape) fails instead of eating
// the ramdisk's memory. Real plans have a few hundred nodes; a 24-disk
// server with ten partitions each about three thousand.
const maxNodes = 20000

// MaxSize caps a plan's bytes before YAML sees them. A plan is kilobytes;
// yaml.v3 builds the node tree of the whole input before the decoder's
// node count applies (TestDecodeMemoryBounded measures the worst cases),
// and that tree costs about 65 times the input, so the cap is what bounds
// the ramdisk's memory. The fetch, `needle plan check`, `plan sign` and
// `raid apply --plan` all read through it.
const MaxSize = 1 << 20

// tooLarge is the refusal of a plan over MaxSize.
func tooLarge(file string, size string) error {
	return Errors{{File: file, Msg: fmt.Sprintf("plan is %s bytes, over the %d MiB cap (a plan is kilobytes; large files belong in an image)", size, MaxSize>>20)}}
}

// ReadFile reads a plan from a file, refusing one over MaxSize without
// reading further (an endless file such as /dev/zero included). A FIFO or
// terminal is read through the runtime's poller (O_NONBLOCK), so a
// cancelled ctx (the operator's Ctrl-C) ends a read nobody answers.
func ReadFile(ctx context.Context, file string) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Regular files have no deadlines (their reads do not block); that
	// error is ignored.
	defer context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if ctx.Err() != nil {
		return nil, fmt.Errorf("reading %s: %w", file, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(data) > MaxSize {
		return nil, tooLarge(file, "more than "+strconv.Itoa(MaxSize))
	}
	return data, nil
}

// Decode reads a plan strictly: unknown keys, wrong types, duplicate keys,
// several YAML documents and a version other than 1 are errors naming the
// file, line and field. It does not run the semantic checks; Parse does both.
func Decode(file string, data []byte) (*Plan, error) {
	if len(data) > MaxSize {
		return nil, tooLarge(file, strconv.Itoa(len(data)))
	}
	root, err := yamlstrict.Document(file, data, "plan")
	if err != nil {
		return nil, err
	}
	l := &errorList{File: file}
	p := &Plan{File: file}
	d := &decoder{errs: l}
	d.value(root, reflect.ValueOf(p).Elem(), "")
	if l.Len() > 0 && (p.Pos.Line == 0 || d.nodes > maxNodes) {
		return nil, l.Err() // not a mapping, or too large: nothing more to say
	}
	if !p.Pos.Has("version") {
		l.Add(p.Pos.Line, "version missing; this needle reads version: 1")
	} else if p.Version != 1 {
		l.Add(p.Pos.Of("version"), "version %d not supported; this needle reads version: 1", p.Version)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// decoder maps a yaml.Node tree onto the schema types by their yaml tags.
// It is written here rather than using yaml.v3's KnownFields so that wrong
// types name their field, scalars keep their source text (a serial "0012"
// stays "0012"), and every mapping records its key lines in Pos.
type decoder struct {
	errs  *errorList
	nodes int
}

var posType = reflect.TypeFor[Pos]()

// what names a schema type in messages.
func what(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Plan]():
		return "plan"
	case reflect.TypeFor[RAID]():
		return "raid entry"
	case reflect.TypeFor[Controller]():
		return "controller"
	case reflect.TypeFor[Volume]():
		return "raid volume"
	case reflect.TypeFor[MD]():
		return "md array"
	case reflect.TypeFor[Disk]():
		return "disk"
	case reflect.TypeFor[Wipe]():
		return "wipe"
	case reflect.TypeFor[Selector]():
		return "select"
	case reflect.TypeFor[SizeRange]():
		return "size range"
	case reflect.TypeFor[Partition]():
		return "partition"
	case reflect.TypeFor[Filesystem]():
		return "filesystem"
	case reflect.TypeFor[Image]():
		return "image"
	case reflect.TypeFor[File]():
		return "file"
	case reflect.TypeFor[Contents]():
		return "contents"
	case reflect.TypeFor[Boot]():
		return "boot"
	case reflect.TypeFor[Kexec]():
		return "kexec"
	case reflect.TypeFor[Reboot]():
		return "reboot"
	}
	return strings.ToLower(t.Name())
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// value decodes n into v; field is the key path used in messages.
func (d *decoder) value(n *yaml.Node, v reflect.Value, field string) {
	d.nodes++
	if d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errs.Add(n.Line, "plan too large or too deeply aliased (over %d YAML nodes)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.errs.Add(n.Line, "%s: unresolved alias", field)
			return
		}
		d.value(n.Alias, v, field)
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, field)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) && v.Type().Elem().Kind() != reflect.Struct {
			return // an absent optional scalar
		}
		nv := reflect.New(v.Type().Elem())
		v.Set(nv)
		if isNull(n) {
			// `reboot:` with nothing after it still says "reboot".
			if f, ok := nv.Elem().Type().FieldByName("Pos"); ok && f.Type == posType {
				nv.Elem().FieldByIndex(f.Index).Set(reflect.ValueOf(Pos{Line: n.Line}))
			}
			return
		}
		d.value(n, nv.Elem(), field)
	case reflect.Struct:
		d.mapping(n, v, field)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errs.Add(n.Line, "%s: want a list, got %s", field, yamlstrict.Kind(n))
			return
		}
		if len(n.Content) > maxNodes-d.nodes {
			// Refused before the slice is made: a flat list of a
			// million items would otherwise allocate a million
			// schema structs before the node count trips.
			d.nodes = maxNodes + 1
			d.errs.Add(n.Line, "plan too large: %s has %d items (over %d YAML nodes)", field, len(n.Content), maxNodes)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), fmt.Sprintf("%s[%d]", field, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errs.Add(n.Line, "%s: want a string, got %s", field, yamlstrict.Kind(n))
			return
		}
		if isNull(n) {
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			d.errs.Add(n.Line, "%s: want true or false, got %s", field, yamlstrict.Kind(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.errs.Add(n.Line, "%s: want an integer, got %s", field, yamlstrict.Kind(n))
			return
		}
		v.SetInt(int64(i))
	default:
		// Only reachable if the schema grows a type the decoder lacks.
		panic(fmt.Sprintf("plan: decoder has no case for %s", v.Type()))
	}
}

// nodeDecoder is a schema type whose YAML takes more than one shape, which
// the tag-driven walk cannot express. It decodes itself with the decoder's
// own helpers, so its errors read like every other field's.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, field string)
}

// decodeNode reads `wipe: true|false` or `wipe: {discard: BOOL, zeroout:
// BOOL}`; a mapping is strict like any other (unknown keys, wrong types and
// duplicates are errors) and means wipe: true.
func (w *Wipe) decodeNode(d *decoder, n *yaml.Node, field string) {
	switch {
	case n.Kind == yaml.MappingNode:
		d.mapping(n, reflect.ValueOf(w).Elem(), field)
		w.Enabled = true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool" && n.Decode(&w.Enabled) == nil:
		w.Pos = Pos{Line: n.Line}
	default:
		d.errs.Add(n.Line, "%s: want true, false or a mapping such as {zeroout: true}, got %s", field, yamlstrict.Kind(n))
	}
}

// mapping decodes a YAML mapping into a schema struct.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, field string) {
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		if field == "" {
			d.errs.Add(n.Line, "the plan must be a mapping (version: 1, disks: …), got %s", yamlstrict.Kind(n))
			return
		}
		d.errs.Add(n.Line, "%s: want a mapping (%s), got %s", field, what(t), yamlstrict.Kind(n))
		return
	}
	pos := Pos{Line: n.Line, keys: make(map[string]int, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errs.Add(k.Line, "%s: a key must be a plain name, got %s", field, yamlstrict.Kind(k))
			continue
		}
		if k.Value == "<<" {
			d.errs.Add(k.Line, "%s: YAML merge keys (<<) are not supported", field)
			continue
		}
		if first, dup := pos.keys[k.Value]; dup {
			d.errs.Add(k.Line, "%s: field %q given twice (first at line %d)", field, k.Value, first)
			continue
		}
		pos.keys[k.Value] = k.Line
		idx := fieldIndex(t, k.Value)
		if idx < 0 {
			d.errs.Add(k.Line, "unknown field %q in %s", k.Value, what(t))
			continue
		}
		sub := k.Value
		if field != "" {
			sub = field + "." + k.Value
		}
		d.value(val, v.Field(idx), sub)
	}
	if f, ok := t.FieldByName("Pos"); ok && f.Type == posType {
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(pos))
	}
}

// fieldIndex finds the struct field whose yaml tag is key.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag != "" && tag != "-" && tag == key {
			return i
		}
	}
	return -1
}
