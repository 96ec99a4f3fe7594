package raid

import (
	"math"
	"strconv"
	"strings"
)

// Size multipliers. The vendor tools print binary multiples with decimal
// names: storcli's "3.637 TB" for a 4 TB (decimal) drive, sas2ircu's
// "Size (in MB)" in MiB, arcconf's "MB" in MiB, tw_cli's "GB" in GiB.
var binaryUnits = map[string]float64{
	"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40, "PIB": 1 << 50,
}

// ssacli prints decimal units ("600 GB" is 600e9 bytes, HPE's drive label).
var decimalUnits = map[string]float64{
	"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40, "PIB": 1 << 50,
}

// parseSize reads "10.691 TB", "2861588MB", "1.82 TB" with the given unit
// table. The result is the tool's rounded figure, not an exact byte count.
func parseSize(s string, units map[string]float64) (uint64, bool) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if i <= 0 {
		return 0, false
	}
	num, unit := s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, false
	}
	m, ok := units[unit]
	if !ok {
		return 0, false
	}
	b := f * m
	if b >= math.MaxUint64/2 {
		return 0, false
	}
	return uint64(math.Round(b)), true
}

// mib converts a whole number of MiB.
func mib(s string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n > math.MaxUint64>>21 {
		return 0, false
	}
	return n << 20, true
}

// normLevel maps the tools' RAID level spellings ("RAID1", "RAID-10",
// "1+0", "RAID 5", "SINGLE", "5+0") to raid0…raid60 and jbod.
func normLevel(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	l = strings.TrimPrefix(l, "raid")
	l = strings.Trim(l, " -_")
	switch l {
	case "0", "1", "1e", "5", "6", "10", "50", "60", "1adm", "10adm", "5ee", "00":
		return "raid" + l
	case "1+0", "1/10", "1 + 0":
		return "raid10"
	case "5+0":
		return "raid50"
	case "6+0":
		return "raid60"
	case "6 (adg)", "adg", "6 reed-solomon":
		return "raid6"
	case "single", "jbod", "simple_volume", "simple volume", "volume":
		return "jbod"
	case "":
		return ""
	}
	return Unknown(strings.TrimSpace(s))
}

// mediaOf maps the tools' media words to hdd/ssd.
func mediaOf(s string) string {
	u := strings.ToUpper(s)
	switch {
	case strings.Contains(u, "SSD") || strings.Contains(u, "FLASH"):
		return "ssd"
	case strings.Contains(u, "HDD"):
		return "hdd"
	}
	return ""
}

// atoiOK parses a non-negative decimal int.
func atoiOK(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= 0
}
