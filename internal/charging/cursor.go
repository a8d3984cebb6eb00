package charging

import (
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// EncodeCursor turns a store's internal list position into the opaque page
// cursor handed to clients: the position in base 36, a dot, and a check
// value, so a made-up cursor ("garbage" is valid base 36) is refused rather
// than silently read as some position.
func EncodeCursor(pos int64) string {
	p := strconv.FormatInt(pos, 36)
	return p + "." + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(p))), 36)
}

// DecodeCursor is the inverse of EncodeCursor; any cursor it did not make is
// ErrInvalidInput.
func DecodeCursor(c string) (int64, error) {
	p, check, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(p, 36, 64)
	if !ok || err != nil || n <= 0 || EncodeCursor(n) != c || check == "" {
		return 0, fmt.Errorf("%w: bad cursor %q", ErrInvalidInput, c)
	}
	return n, nil
}

// EncodeKeyCursor is the cursor of a page that ends at key (a charger id):
// the next page starts after it. Like EncodeCursor it is checked, so a
// made-up cursor is refused rather than read as a place.
func EncodeKeyCursor(key string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(key))
	return "k" + p + "." + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(p))), 36)
}

// DecodeKeyCursor is the inverse of EncodeKeyCursor; any cursor it did not
// make is ErrInvalidInput.
func DecodeKeyCursor(c string) (string, error) {
	p, _, ok := strings.Cut(strings.TrimPrefix(c, "k"), ".")
	key, err := base64.RawURLEncoding.DecodeString(p)
	if !ok || err != nil || !strings.HasPrefix(c, "k") || EncodeKeyCursor(string(key)) != c {
		return "", fmt.Errorf("%w: bad cursor %q", ErrInvalidInput, c)
	}
	return string(key), nil
}
