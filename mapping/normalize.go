package mapping

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// invisible drops the marks chat exports wrap around handles (bidi
// controls, BOM, zero-width characters); libphonenumber rejects them.
var invisible = strings.NewReplacer(
	"\u200e", "", "\u200f", "", "\u202a", "", "\u202b", "", "\u202c", "", "\u202d", "", "\u202e", "",
	"\u2066", "", "\u2067", "", "\u2068", "", "\u2069", "", "\ufeff", "", "\u200b", "", "\u200c", "", "\u200d", "")

var extension = strings.NewReplacer("ext.", "", "ext", "", "x", "")

// NormalizePhone returns raw as E.164 ("+4915123456789").
//
// Following chat-formats.md §5: invisible marks, the schemes whatsapp:,
// tel: and sms:, and the iOS "~" marker are stripped first; a bare digit
// string with 11 or more digits and no region is read as a WhatsApp id
// ("+" prepended); numbers without a country code need region (ISO 3166
// alpha-2). A number must be *possible* (right length for its country);
// validity against current number ranges is not required, because metadata
// changes and fictional test ranges are "invalid". Mexican mobile numbers in
// the legacy +52 1 form are rewritten to +52 so both spellings match.
func NormalizePhone(raw, region string) (string, error) {
	s := strings.TrimSpace(invisible.Replace(raw))
	lower := strings.ToLower(s)
	for _, scheme := range []string{"whatsapp:", "tel:", "sms:"} {
		if strings.HasPrefix(lower, scheme) {
			s = strings.TrimSpace(s[len(scheme):])
			break
		}
	}
	s = strings.TrimSpace(strings.TrimPrefix(s, "~"))
	if s == "" {
		return "", errors.New("empty phone number")
	}
	if strings.Contains(s, "@") {
		return "", fmt.Errorf("%q is an e-mail address, not a phone number", raw)
	}
	// Alphanumeric sender ids ("VERIZON", "ACMEALERTS") are not phones;
	// an extension ("ext. 12", "x12") is fine.
	if strings.ContainsFunc(extension.Replace(strings.ToLower(s)), func(r rune) bool { return r >= 'a' && r <= 'z' }) {
		return "", fmt.Errorf("%q is not a phone number (alphanumeric sender id)", raw)
	}
	if region == "" && isDigits(s) && len(s) >= 11 {
		s = "+" + s
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		if region == "" && !strings.HasPrefix(s, "+") {
			return "", fmt.Errorf("%q has no country code and the association sets no default_region", raw)
		}
		return "", fmt.Errorf("%q is not a phone number (%v)", raw, err)
	}
	// Mexico: WhatsApp keeps the legacy mobile "1" (+52 1 55 …), which
	// libphonenumber calls impossible; both spellings mean +52 55 ….
	if nsn := strconv.FormatUint(num.GetNationalNumber(), 10); num.GetCountryCode() == 52 && len(nsn) == 11 && nsn[0] == '1' {
		if n2, err := phonenumbers.Parse("+52"+nsn[1:], ""); err == nil {
			num = n2
		}
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("%q is not a possible phone number (short code or wrong length)", raw)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizeEmail lower-cases and trims an e-mail address (and strips
// mailto:); ok is false when it has no single "@" with text on both sides.
func NormalizeEmail(raw string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(invisible.Replace(raw)))
	s = strings.TrimPrefix(s, "mailto:")
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t<>,;") {
		return "", false
	}
	return s, true
}

// NormalizeLinkedInURL reduces a LinkedIn URL to "linkedin.com/<path>":
// no scheme, no www. or country subdomain (uk.linkedin.com), no query,
// fragment or trailing slash, lower case throughout (LinkedIn slugs are
// case-insensitive). ok is false for anything that is not a linkedin.com URL
// with a path.
func NormalizeLinkedInURL(raw string) (string, bool) {
	s := strings.TrimSpace(invisible.Replace(raw))
	if s == "" {
		return "", false
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host != "linkedin.com" && !strings.HasSuffix(host, ".linkedin.com") {
		return "", false
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if path == "" {
		return "", false
	}
	return strings.ToLower("linkedin.com" + path), true
}
