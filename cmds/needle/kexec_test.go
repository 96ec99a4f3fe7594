package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandoffFind(t *testing.T) {
	tree, err := filepath.Abs("../../internal/handoff/testdata/fedora39")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"handoff", "find", "--root", tree + "/root", "--boot", tree + "/boot",
		"--cmdline", "root=PARTUUID=${partuuid:root} ro", "--ref", "partuuid:root=abcd-02", "--json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("needle handoff find: %v\n%s", err, errOut.String())
	}
	var a struct {
		Target struct {
			Kernel, Cmdline, Source string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if want := tree + "/boot/vmlinuz-6.5.6-300.fc39.x86_64"; a.Target.Kernel != want {
		t.Errorf("kernel = %q, want %q", a.Target.Kernel, want)
	}
	if a.Target.Cmdline != "root=PARTUUID=abcd-02 ro" {
		t.Errorf("cmdline = %q, want the plan's with the reference filled", a.Target.Cmdline)
	}

	out.Reset()
	err = run(context.Background(), []string{"handoff", "find", "--root", tree + "/root", "--cmdline", "root=${uuid:nope}"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "${uuid:nope}") {
		t.Errorf("handoff find with an unknown reference: error = %v, want one naming ${uuid:nope}", err)
	}
}
