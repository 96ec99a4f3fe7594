package qemutest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/report"
)

// provServer is the test's provisioning server: plans by path, the report
// endpoint, and a record of what the guest asked for.
type provServer struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
	events   []report.Event
	URL      string // as the guest sees it (10.0.2.2)
}

func newProvServer(t testing.TB) *provServer {
	s := &provServer{files: map[string][]byte{}}
	s.URL = ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		if r.Method == http.MethodPost && r.URL.Path == "/report" {
			var e report.Event
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &e); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.events = append(s.events, e)
			return
		}
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	return s
}

func (s *provServer) put(path string, b []byte) {
	s.mu.Lock()
	s.files[path] = b
	s.mu.Unlock()
}

func (s *provServer) saw(req string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r == req {
			return true
		}
	}
	return false
}

func (s *provServer) reported() []report.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Event(nil), s.events...)
}

// diskHash hashes a disk image, to prove a failed install wrote nothing.
func diskHash(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

const mac0 = "52:54:00:12:34:56"

// basePlan selects the disk with serial needle-root.
const basePlan = `version: 1
name: qemu-plan
disks:
  - id: target
    select:
      serial: needle-root
    wipe: true
    partitions:
      - name: root
        type: linux-root-x86-64
        size: rest
        filesystem: {format: ext4}
boot:
  reboot: {}
`

// TestPlanFetchAndReport: DHCP via slirp, the plan fetched from the test
// server with ${mac} substituted (the server sees the path), validated
// against the inventory, and every event POSTed to needle.report in order.
//
// Wiring: one virtio-net NIC (MAC 52:54:00:12:34:56) on slirp, one 1 GiB
// virtio disk with serial needle-root.
func TestPlanFetchAndReport(t *testing.T) {
	t.Parallel()
	a := Require(t)
	srv := newProvServer(t)
	srv.put("/plans/"+mac0+".yaml", []byte(basePlan))
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.break=plan needle.plan=" + srv.URL + "/plans/${mac}.yaml needle.report=" + srv.URL + "/report",
		Disks:  []Disk{{File: disk(t, "root.img", gib), Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`network: address\s+10\.0\.2\.15/24`, modTime)
	vm.Expect(`plan: fetching `+regexpQuote(srv.URL+"/plans/"+mac0+".yaml"), 30*time.Second)
	vm.Expect(`plan:\s+would erase: /dev/vda \(1\.0 GiB, serial "needle-root"`, 30*time.Second)
	vm.Expect(`needle\.break=plan: stopped after stage plan`, 30*time.Second)
	if !srv.saw("GET /plans/" + mac0 + ".yaml") {
		t.Errorf("server requests %v lack the plan path with the MAC substituted", srv.requests)
	}
	// The report stream runs behind the install: give it a moment.
	deadline := time.Now().Add(Scale(20 * time.Second))
	var evs []report.Event
	for time.Now().Before(deadline) {
		evs = srv.reported()
		if n := len(evs); n > 0 && evs[n-1].Step == "validate" && evs[n-1].Kind == report.Finish ||
			n > 0 && strings.Contains(evs[n-1].Message, "needle.break") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var starts []string
	for i, e := range evs {
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Errorf("event %d has seq %d after %d: out of order", i, e.Seq, evs[i-1].Seq)
		}
		if e.Kind == report.Start {
			starts = append(starts, e.Stage+"/"+e.Step)
		}
	}
	// The stream starts once the network is up: what came before is in
	// the sequence numbers, not lost (the first POSTed event has seq > 1).
	want := []string{"plan/fetch", "plan/validate"}
	if got := strings.Join(starts, " "); !strings.Contains(got, strings.Join(want, " ")) {
		t.Errorf("report server saw step starts %q, want %q in order", got, want)
	}
}

// TestStaticIP: ip= in the kernel's static form with slirp's addresses;
// the image trusts a plan key and the plan carries a good signature.
func TestStaticIP(t *testing.T) {
	t.Parallel()
	a := Require(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := newProvServer(t)
	srv.put("/p.yaml", []byte(basePlan))
	srv.put("/p.yaml.sig", plan.Sign(priv, []byte(basePlan)))
	initrd := WithFiles(t, a.Initrd, map[string]File{"etc/needle/plan-keys.pub": {Data: []byte(base64.StdEncoding.EncodeToString(pub) + "\n")}})
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: initrd,
		Append: "quiet needle.break=plan ip=10.0.2.20::10.0.2.2:255.255.255.0:needle-static:eth0:off needle.plan=" + srv.URL + "/p.yaml",
		Disks:  []Disk{{File: disk(t, "root.img", gib), Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`network: method\s+static`, modTime)
	vm.Expect(`network: address\s+10\.0\.2\.20/24`, 10*time.Second)
	vm.Expect(`plan: signature verified with key 1 of /etc/needle/plan-keys\.pub`, 60*time.Second)
	vm.Expect(`plan/validate: ok`, 60*time.Second)
	vm.Expect(`needle# `, 30*time.Second)
	vm.Send(`echo H=$(hostname)`)
	vm.Expect(`\nH=needle-static\s`, 20*time.Second)
}

// TestPlanFailures: each bad plan stops the install before anything is
// touched, with a message that says what is wrong, and no disk byte
// changes.
func TestPlanFailures(t *testing.T) {
	a := Require(t)
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The image trusts pub; the server's signature is made with otherPriv.
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	keys := []byte(base64.StdEncoding.EncodeToString(pub) + "\n")
	for _, tc := range []struct {
		name  string
		setup func(s *provServer)
		url   string
		keys  bool
		disks int
		want  []string
	}{
		{name: "404", url: "/missing.yaml", setup: func(*provServer) {},
			want: []string{`stage: plan`, `cause: fetch \S+/missing\.yaml: not found \(HTTP 404\)`}},
		{name: "unreachable", url: "http://10.0.2.2:1/p.yaml", setup: func(*provServer) {},
			want: []string{`cause: fetch http://10\.0\.2\.2:1/p\.yaml: connection failure`, `gave up after 1m0s`}},
		{name: "unknown-field", url: "/p.yaml", setup: func(s *provServer) {
			s.put("/p.yaml", []byte(strings.Replace(basePlan, "size: rest", "size: rest\n        sizee: 1GiB", 1)))
		}, want: []string{`step:\s+fetch`, `p\.yaml:\d+: unknown field "sizee" in partition`}},
		{name: "two-disks", url: "/p.yaml", disks: 2, setup: func(s *provServer) {
			s.put("/p.yaml", []byte(strings.Replace(basePlan, "serial: needle-root", "size: {min: 1GiB, max: 2GiB}", 1)))
		}, want: []string{`step:\s+validate`, `vda`, `vdb`}},
		{name: "bad-signature", url: "/p.yaml", keys: true, setup: func(s *provServer) {
			s.put("/p.yaml", []byte(basePlan))
			s.put("/p.yaml.sig", plan.Sign(otherPriv, []byte(basePlan)))
		}, want: []string{`step:\s+fetch`, `signature does not verify with any configured key`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newProvServer(t)
			tc.setup(srv)
			url := tc.url
			if strings.HasPrefix(url, "/") {
				url = srv.URL + url
			}
			initrd := a.Initrd
			if tc.keys {
				initrd = WithFiles(t, a.Initrd, map[string]File{"etc/needle/plan-keys.pub": {Data: keys}})
			}
			var disks []Disk
			var hashes []string
			n := tc.disks
			if n == 0 {
				n = 1
			}
			for i := 0; i < n; i++ {
				p := disk(t, fmt.Sprintf("d%d.img", i), gib)
				// Some bytes that a wipe would clear.
				f, _ := os.OpenFile(p, os.O_WRONLY, 0)
				f.WriteAt([]byte("EFI PART not really"), 512)
				f.Close()
				disks = append(disks, Disk{File: p, Serial: fmt.Sprintf("needle-root%s", strings.Repeat("x", i))})
				hashes = append(hashes, diskHash(t, p))
			}
			if tc.disks == 2 {
				disks[0].Serial, disks[1].Serial = "A", "B"
			}
			vm := Start(t, Config{Kernel: a.Kernel, Initrd: initrd,
				Append: "quiet needle.onfail=poweroff needle.plan=" + url,
				Disks:  disks, NICs: []NIC{{MAC: mac0}}})
			vm.Expect(`INSTALL FAILED`, modTime+90*time.Second)
			for _, w := range tc.want {
				vm.Expect(w, 10*time.Second)
			}
			if err := vm.Wait(60 * time.Second); err != nil {
				t.Fatalf("guest did not power off: %v", err)
			}
			for i, d := range disks {
				if got := diskHash(t, d.File); got != hashes[i] {
					t.Errorf("disk %s changed although the install failed before any destructive step", d.File)
				}
			}
		})
	}
}
