package qemutest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClockInThePast: a box whose RTC says 2001 (a dead battery) fetches
// its plan over HTTPS. The init moves the clock to the image's build time,
// so a certificate issued before the build verifies; a certificate issued
// after it (the clock still too early) fails with the clock and the
// certificate's validity in the error.
func TestClockInThePast(t *testing.T) {
	a := Require(t)
	out, err := exec.Command("git", "-C", a.Root, "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatalf("the build's epoch (git log): %v", err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(sec, 0)
	for _, tc := range []struct {
		name      string
		notBefore time.Time
		want      string
	}{
		{"issued before the build", epoch.Add(-24 * time.Hour), `plan/fetch: ok`},
		{"issued after the build", time.Now().Add(24 * time.Hour),
			`system clock is 20\d\d-\S+, certificate "10\.0\.2\.2" valid from 20\d\d-\S+ to 20\d\d-\S+`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			caPEM, url := serveTLSPlan(t, tc.notBefore)
			initrd := WithFiles(t, a.Initrd, map[string]File{"etc/needle/ca.pem": {Data: caPEM}})
			vm := Start(t, Config{Kernel: a.Kernel, Initrd: initrd, NICs: []NIC{{}},
				Append: "quiet needle.onfail=poweroff needle.plan=" + url + "/p.yaml",
				Args:   []string{"-rtc", "base=2001-01-01T00:00:00"}})
			vm.Expect(`system clock was 2001-01-01T00:00:\d\dZ, before this image was built: set to `+
				regexpQuote(epoch.UTC().Format(time.RFC3339)), bootTimeout)
			vm.Expect(tc.want, 3*time.Minute)
			if err := vm.Wait(3 * time.Minute); err != nil {
				t.Fatalf("guest did not power off: %v", err)
			}
		})
	}
}

// serveTLSPlan serves a plan that fits no machine over HTTPS with a
// certificate for 10.0.2.2 valid from notBefore, signed by a CA of its own;
// it returns the CA's PEM and the URL the guest uses.
func serveTLSPlan(t *testing.T, notBefore time.Time) ([]byte, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "needle test CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Now().Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "10.0.2.2"},
		IPAddresses: []net.IP{net.ParseIP("10.0.2.2")}, NotBefore: notBefore, NotAfter: time.Now().Add(48 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Fetched and parsed, then refused by validation: no such disk.
		fmt.Fprint(w, "version: 1\nname: clock\ndisks:\n  - id: d\n    select: {serial: NO-SUCH-DISK}\n    wipe: true\nboot: {reboot: {}}\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), fmt.Sprintf("https://10.0.2.2:%d", ln.Addr().(*net.TCPAddr).Port)
}
