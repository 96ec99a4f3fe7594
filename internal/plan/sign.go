package plan

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Plan signatures are ed25519 (RFC 8032) detached signatures over the exact
// bytes of the plan file as fetched: no canonicalisation, so what was
// reviewed and signed is byte for byte what runs.
//
// File formats, all text so they survive copy and paste:
//
//   - PLAN.sig: the 64-byte signature in standard base64 (88 characters)
//     and a newline. A raw 64-byte file is accepted too.
//   - public keys (needle build --plan-key, needle plan check --key): one
//     standard-base64 32-byte key per line; text after the key on the same
//     line, blank lines and lines starting with '#' are comments.
//   - private key (needle plan sign --key): the 32-byte ed25519 seed in
//     standard base64 on one line, '#' comment lines allowed. Keep it off
//     the provisioning server.
//
// A seed and a public key are both 32 random-looking bytes, so the bytes
// cannot tell them apart; the comment line `needle plan keygen` writes at
// the top of each file does (privateMark, publicMark), and a file whose
// comment names the other kind is refused: a public key given to sign, a
// private key given where public keys are read (so `needle build
// --plan-key` cannot bake a secret into an image).

var (
	// ErrUnsigned: keys are configured and the plan has no signature.
	ErrUnsigned = errors.New("plan is unsigned but this image requires a signature from a configured key")
	// ErrBadSignature: no configured key verifies the signature.
	ErrBadSignature = errors.New("plan signature does not verify with any configured key")
)

// The comments GenerateKey writes, which name each file's kind.
const (
	privateMark = "needle plan signing key"
	publicMark  = "needle plan public key"
)

// ParsePublicKeys reads a public key file; errors name file and line.
func ParsePublicKeys(file string, data []byte) ([]ed25519.PublicKey, error) {
	l := &errorList{File: file}
	var keys []ed25519.PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "#") && strings.Contains(line, privateMark) {
			return nil, &Error{File: file, Line: i + 1, Msg: "this is a private key (needle plan keygen's PREFIX.key), not public keys: give PREFIX.pub, and keep the private key off images and servers"}
		}
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(f[0])
		switch {
		case err != nil:
			l.Add(i+1, "public key is not base64: %v", err)
		case len(k) != ed25519.PublicKeySize:
			l.Add(i+1, "public key is %d bytes, an ed25519 key is %d", len(k), ed25519.PublicKeySize)
		default:
			keys = append(keys, ed25519.PublicKey(k))
		}
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, &Error{File: file, Msg: "no public key in the file"}
	}
	return keys, nil
}

// ParsePrivateKey reads a private key file (a base64 seed).
func ParsePrivateKey(file string, data []byte) (ed25519.PrivateKey, error) {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") && strings.Contains(line, publicMark) {
			return nil, &Error{File: file, Line: i + 1, Msg: "this is a public key (needle plan keygen's PREFIX.pub), not a signing key: sign with PREFIX.key"}
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		seed, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, &Error{File: file, Line: i + 1, Msg: fmt.Sprintf("private key is not base64: %v", err)}
		}
		if len(seed) != ed25519.SeedSize {
			return nil, &Error{File: file, Line: i + 1, Msg: fmt.Sprintf("private key is %d bytes, an ed25519 seed is %d", len(seed), ed25519.SeedSize)}
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	return nil, &Error{File: file, Msg: "no private key in the file"}
}

// GenerateKey makes a key pair and returns the private and public key files'
// contents. rand is crypto/rand.Reader outside tests.
func GenerateKey(rand io.Reader) (priv, pub []byte, err error) {
	pk, sk, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	priv = fmt.Appendf(nil, "# %s (ed25519 seed); keep it secret\n%s\n", privateMark,
		base64.StdEncoding.EncodeToString(sk.Seed()))
	pub = fmt.Appendf(nil, "# %s (ed25519); bake in with needle build --plan-key\n%s\n", publicMark,
		base64.StdEncoding.EncodeToString(pk))
	return priv, pub, nil
}

// Sign returns the signature file's contents for the plan bytes.
func Sign(key ed25519.PrivateKey, plan []byte) []byte {
	return append([]byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, plan))), '\n')
}

// IsSignature says whether b is a signature file's contents, so that
// `plan sign --out` overwrites only a signature.
func IsSignature(b []byte) bool {
	_, err := decodeSignature(b)
	return err == nil
}

// decodeSignature accepts the base64 text form and the raw 64 bytes.
func decodeSignature(sig []byte) ([]byte, error) {
	if len(sig) == ed25519.SignatureSize {
		return sig, nil
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sig)))
	if err != nil {
		return nil, fmt.Errorf("signature is neither 64 raw bytes nor base64: %w", err)
	}
	if len(raw) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, an ed25519 signature is %d", len(raw), ed25519.SignatureSize)
	}
	return raw, nil
}

// VerifySignature checks the plan bytes against a detached signature. With
// no keys configured it accepts anything (signatures are optional); with
// keys, a nil sig is ErrUnsigned and a signature no key verifies is
// ErrBadSignature. It returns the index of the key that verified, or -1.
func VerifySignature(plan, sig []byte, keys []ed25519.PublicKey) (int, error) {
	if len(keys) == 0 {
		return -1, nil
	}
	if sig == nil {
		return -1, ErrUnsigned
	}
	raw, err := decodeSignature(sig)
	if err != nil {
		return -1, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	for i, k := range keys {
		if ed25519.Verify(k, plan, raw) {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w (%d keys tried)", ErrBadSignature, len(keys))
}
