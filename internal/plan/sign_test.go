package plan

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// detRand is a deterministic key source for tests (never for real keys).
type detRand byte

func (d detRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(d) + byte(i)
	}
	return len(p), nil
}

func TestSignVerify(t *testing.T) {
	privFile, pubFile, err := GenerateKey(detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey("k.key", privFile)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := ParsePublicKeys("k.pub", pubFile)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := GenerateKey(detRand(2))
	others, err := ParsePublicKeys("o.pub", otherPub)
	if err != nil {
		t.Fatal(err)
	}
	plan := []byte("version: 1\nboot: {reboot: {}}\n")
	sig := Sign(priv, plan)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	tampered := append(bytes.Clone(plan), ' ')

	tests := []struct {
		name    string
		plan    []byte
		sig     []byte
		keys    []ed25519.PublicKey
		wantErr error
		wantKey int
	}{
		{"good base64", plan, sig, pubs, nil, 0},
		{"good raw", plan, raw, pubs, nil, 0},
		{"second key verifies", plan, sig, append(others, pubs...), nil, 1},
		{"no keys, unsigned", plan, nil, nil, nil, -1},
		{"no keys, any signature", plan, []byte("junk"), nil, nil, -1},
		{"unsigned refused", plan, nil, pubs, ErrUnsigned, -1},
		{"tampered plan", tampered, sig, pubs, ErrBadSignature, -1},
		{"wrong key", plan, sig, others, ErrBadSignature, -1},
		{"garbage signature", plan, []byte("not base64!\n"), pubs, ErrBadSignature, -1},
		{"short signature", plan, []byte(base64.StdEncoding.EncodeToString(raw[:32])), pubs, ErrBadSignature, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := VerifySignature(tt.plan, tt.sig, tt.keys)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tt.wantErr)
			}
			if k != tt.wantKey {
				t.Errorf("VerifySignature key = %d, want %d", k, tt.wantKey)
			}
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name, data, want string
	}{
		{"comments and trailing text", "# ops team\n\n" + good + " ops@example\n", ""},
		{"not base64", "# k\n" + good + "\n%%%\n", "keys.pub:3: public key is not base64: illegal base64 data at input byte 0"},
		{"wrong length", base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", "keys.pub:1: public key is 31 bytes, an ed25519 key is 32"},
		{"empty", "# nothing\n", "keys.pub: no public key in the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKeys("keys.pub", []byte(tt.data))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("ParsePublicKeys = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParsePrivateKey("k.key", []byte("# c\n"+good+"\n")); err != nil {
		t.Errorf("ParsePrivateKey(seed) = %v", err)
	}
	if _, err := ParsePrivateKey("k.key", []byte(base64.StdEncoding.EncodeToString(make([]byte, 64)))); err == nil ||
		err.Error() != "k.key:1: private key is 64 bytes, an ed25519 seed is 32" {
		t.Errorf("ParsePrivateKey(64 bytes) = %v", err)
	}
}
