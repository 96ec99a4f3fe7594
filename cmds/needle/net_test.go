package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestNetShow(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"net", "show", "--resolv", "/nonexistent"}, &out, &errb); err != nil {
		t.Fatalf("needle net show: %v\n%s", err, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("first line %q, want the header", lines[0])
	}
	var lo string
	for _, l := range lines {
		if strings.HasPrefix(l, "lo ") {
			lo = l
		}
	}
	// Every network namespace has lo; its address shows once it is up.
	if lo == "" {
		t.Fatalf("no lo line in:\n%s", out.String())
	}
}

func TestNetUpErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"net"}, "net: want a subcommand"},
		{[]string{"net", "down"}, `net: unknown subcommand "down"`},
		// ip= is parsed before anything is touched, so this is safe on any host.
		{[]string{"net", "up", "--cmdline", "none", "--ip", "eth0:bogus"}, `net up: ip="eth0:bogus": field autoconf "bogus"`},
		{[]string{"net", "up", "--cmdline", "/nonexistent/cmdline"}, "net up: open /nonexistent/cmdline"},
		{[]string{"net", "up", "extra"}, `net up: unexpected arguments ["extra"]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("needle %s = %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
			}
		})
	}
}
