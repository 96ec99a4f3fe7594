package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/raid"
)

func TestRunRaidParse(t *testing.T) {
	td := filepath.Join("..", "..", "internal", "raid", "testdata")
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; "" means success
		check   func(t *testing.T, r *raid.Result)
	}{
		{
			name: "sas2ircu display detected",
			args: []string{"parse", "--tool", "sas2ircu", filepath.Join(td, "sas2ircu", "checkraid-test1-display-raid1-optimal.txt")},
			check: func(t *testing.T, r *raid.Result) {
				want := raid.Volume{Controller: 0, ID: "79", Level: "raid1", Members: []string{"1:0", "1:1"}, SizeBytes: 152064 << 20, State: "optimal", RawState: "Okay (OKY)"}
				if r.Command != "display" || len(r.Volumes) != 1 {
					t.Fatalf("command %q, %d volumes; want display, 1", r.Command, len(r.Volumes))
				}
				if diff := cmp.Diff(want, r.Volumes[0]); diff != "" {
					t.Errorf("volume (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "storcli named command",
			args: []string{"parse", "--tool", "perccli", "--cmd", "ctrl-show", filepath.Join(td, "perccli", "brenard-call-show-all-J-h755.txt")},
			check: func(t *testing.T, r *raid.Result) {
				if len(r.Volumes) != 1 || r.Volumes[0].ID != "239" || len(r.Volumes[0].Members) != 7 {
					t.Errorf("volumes = %+v, want VD 239 with 7 members", r.Volumes)
				}
			},
		},
		{
			name:    "perccli2 refused",
			args:    []string{"parse", "--tool", "perccli", filepath.Join(td, "perccli", "brenard-perccli2-call-show-all-J-h965i.txt")},
			wantErr: "storcli2/perccli2 JSON schema",
		},
		{
			name:    "tool error",
			args:    []string{"parse", "--tool", "sas2ircu", filepath.Join(td, "sas2ircu", "checkraid-list-no-controller-mptlib2-error1.txt")},
			wantErr: "MPTLib2 Error 1",
		},
		{
			name:    "wrong command named",
			args:    []string{"parse", "--tool", "sas2ircu", "--cmd", "list", filepath.Join(td, "sas2ircu", "checkraid-test1-display-raid1-optimal.txt")},
			wantErr: "sas2ircu list",
		},
		{name: "unknown tool", args: []string{"parse", "--tool", "megacli", "x"}, wantErr: "unknown tool"},
		{name: "missing file", args: []string{"parse", "--tool", "sas2ircu", filepath.Join(td, "nope.txt")}, wantErr: "no such file"},
		{name: "no tool", args: []string{"parse", "x"}, wantErr: "want --tool"},
		{name: "no subcommand", args: nil, wantErr: "want the subcommand parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"raid"}, tt.args...), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run(raid %q) = %v, want error containing %q", tt.args, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				if stdout.Len() != 0 {
					t.Errorf("stdout on failure: %q", stdout.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("run(raid %q): %v", tt.args, err)
			}
			var r raid.Result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("output is not the model as JSON: %v\n%s", err, stdout.String())
			}
			tt.check(t, &r)
		})
	}
}
