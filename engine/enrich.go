package engine

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/abadojack/whatlanggo"
	"github.com/nyaruka/phonenumbers"
)

// Contact enrichment: what Parley works out about a contact by itself,
// kept apart from what a person set. Profile.Country and
// Profile.Language are a person's (the API, an import, the contact
// page) and are never overwritten; Detected holds the country and the
// formatted number read from the contact's phone and the language read
// from the customer's own messages. What to show is the person's value
// when there is one, else the detected one (EffectiveCountry,
// EffectiveLanguage).

// Detected is what enrichment found about a contact. Every field is
// derived: Phone, PhoneInternational and Country are recomputed from the
// contact's phone on each write of the contact (EnrichPhone), Language
// from the customer's inbound text (DetectLanguage, SetDetectedLanguage).
type Detected struct {
	// Phone is the contact's number in E.164 form ("+34612345678").
	Phone string `json:"phone,omitempty"`
	// PhoneInternational is the number in international format for
	// display ("+34 612 34 56 78").
	PhoneInternational string `json:"phone_international,omitempty"`
	// Country is the ISO 3166-1 alpha-2 code of the number's region
	// ("ES").
	Country string `json:"country,omitempty"`
	// Language is the ISO 639-1 code of the language the customer writes
	// in ("es").
	Language string `json:"language,omitempty"`
}

// EnrichmentPhone returns the number enrichment reads for contact c: its
// profile phone, else the first WhatsApp identity (a wa_id is the
// customer's number in international digits).
func EnrichmentPhone(c *Contact) string {
	if c.Profile.Phone != "" {
		return c.Profile.Phone
	}
	for _, id := range c.Identities {
		if id.Channel == ChannelWhatsApp {
			return id.ExternalID
		}
	}
	return ""
}

// ParsePhone reads phone number s with the libphonenumber metadata. A
// number written with '+' or the international prefix 00, or as bare
// international digits (a WhatsApp id), is read as international; a
// national number ("612 34 56 78") is read in region (an ISO 3166-1
// alpha-2 code, usually the country a person set), when given. It
// returns the E.164 form, the international format and the region, and
// ok false when s is not a valid number.
func ParsePhone(s, region string) (e164, international, country string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return "", "", "", false
	}
	var candidates []string
	if !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "00") && len(region) == 2 {
		candidates = append(candidates, region)
	}
	candidates = append(candidates, "")
	for _, r := range candidates {
		in := s
		if r == "" && !strings.HasPrefix(s, "+") {
			d := PhoneDigits(s)
			in = "+" + strings.TrimPrefix(d, "00")
		}
		num, err := phonenumbers.Parse(in, strings.ToUpper(r))
		if err != nil || !phonenumbers.IsValidNumber(num) {
			continue
		}
		reg := phonenumbers.GetRegionCodeForNumber(num)
		if len(reg) != 2 || reg == "ZZ" || reg == "001" {
			reg = ""
		}
		return phonenumbers.Format(num, phonenumbers.E164), phonenumbers.Format(num, phonenumbers.INTERNATIONAL), reg, true
	}
	return "", "", "", false
}

// EnrichPhone recomputes the phone part of c.Detected from c's number
// (EnrichmentPhone; a national number is read in the country a person
// set) and reports whether it changed. An invalid or missing number
// clears it. It is called on every write of a contact, so the detected
// country follows the number.
func EnrichPhone(c *Contact) bool {
	was := c.Detected
	e164, intl, country, ok := ParsePhone(EnrichmentPhone(c), c.Profile.Country)
	if !ok {
		e164, intl, country = "", "", ""
	}
	c.Detected.Phone, c.Detected.PhoneInternational, c.Detected.Country = e164, intl, country
	return c.Detected != was
}

// Language detection limits.
const (
	// MinLanguageLetters is how many letters of a customer's text
	// language detection waits for: shorter text ("ok", "hola") says too
	// little.
	MinLanguageLetters = 20
	// LanguageConfidence is the confidence (0 to 1) below which a
	// detection is ignored. whatlanggo's confidence is the margin between
	// the two best languages' scores: between neighbours (Spanish,
	// Portuguese, Italian) it stays under 0.15 on a sentence even when the
	// answer is right, so the threshold only sets aside near ties, which
	// wait for more text.
	LanguageConfidence = 0.05
	// MaxLanguageSample is how many bytes of a customer's latest text
	// language detection reads.
	MaxLanguageSample = 600
	// LanguageSettledAfter is how many detections in a row must find the
	// same language before a contact's language counts as settled.
	LanguageSettledAfter = 3
)

// LanguageDetectionDue reports whether a contact's language should be
// detected again, given agreed, how many detections in a row found the
// language it holds, and fresh, the bytes of text it wrote since the last
// detection. Until the language is settled every new text is read; once
// it is, the sample is read again only when all of it is new text: a
// change of language needs several messages to win a sample of
// MaxLanguageSample bytes anyway, and detection reads every byte of the
// sample, so reading it at every message cost more CPU than storing the
// message.
func LanguageDetectionDue(agreed, fresh int) bool {
	return agreed < LanguageSettledAfter || fresh >= MaxLanguageSample
}

// detectableLanguages are the languages detection chooses among: the
// most spoken ones the messaging channels carry. A closed list keeps
// near neighbours the customers of a business rarely write in (Galician,
// Catalan, Esperanto...) from winning on short text.
var detectableLanguages = map[whatlanggo.Lang]bool{
	whatlanggo.Eng: true, whatlanggo.Spa: true, whatlanggo.Fra: true, whatlanggo.Deu: true, whatlanggo.Por: true,
	whatlanggo.Ita: true, whatlanggo.Nld: true, whatlanggo.Pol: true, whatlanggo.Rus: true, whatlanggo.Ukr: true,
	whatlanggo.Tur: true, whatlanggo.Arb: true, whatlanggo.Hin: true, whatlanggo.Ind: true, whatlanggo.Cmn: true,
	whatlanggo.Jpn: true, whatlanggo.Kor: true, whatlanggo.Vie: true, whatlanggo.Tha: true, whatlanggo.Heb: true,
	whatlanggo.Swe: true, whatlanggo.Dan: true, whatlanggo.Nob: true, whatlanggo.Fin: true, whatlanggo.Ron: true,
	whatlanggo.Ces: true, whatlanggo.Ell: true, whatlanggo.Hun: true,
}

// DetectableLanguages returns the ISO 639-1 codes DetectLanguage can
// answer.
func DetectableLanguages() []string {
	out := make([]string, 0, len(detectableLanguages))
	for l := range detectableLanguages {
		out = append(out, l.Iso6391())
	}
	return out
}

// CountLetters counts the letters of s.
func CountLetters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// LanguageSample appends text, a customer's new message, to sample, the
// text read so far, and keeps the last MaxLanguageSample bytes (cut on a
// character boundary).
func LanguageSample(sample, text string) string {
	s := strings.TrimSpace(sample + "\n" + text)
	if len(s) > MaxLanguageSample {
		cut := len(s) - MaxLanguageSample
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = s[cut:]
	}
	return s
}

// DetectLanguage returns the ISO 639-1 code of the language text is
// written in, among the detectable languages (whatlanggo's trigram
// models), and ok false when text has fewer than MinLanguageLetters
// letters or the detection's confidence is below LanguageConfidence.
func DetectLanguage(text string) (lang string, confidence float64, ok bool) {
	if CountLetters(text) < MinLanguageLetters {
		return "", 0, false
	}
	info := whatlanggo.DetectWithOptions(text, whatlanggo.Options{Whitelist: detectableLanguages})
	code := info.Lang.Iso6391()
	if info.Confidence < LanguageConfidence || !detectableLanguages[info.Lang] || code == "" {
		return "", info.Confidence, false
	}
	return code, info.Confidence, true
}

// SetDetectedLanguage records lang as the language contact c writes in,
// at now, and reports whether it changed. A language a person set
// (Profile.Language) stays what is shown: the detected one is kept beside
// it.
func SetDetectedLanguage(c Contact, lang string, now time.Time) (Contact, bool) {
	if lang == "" || c.Detected.Language == lang {
		return c, false
	}
	c.Detected.Language = lang
	c.UpdatedAt = now
	return c, true
}

// EffectiveCountry returns the country to show for c and whether it was
// detected: the one a person set, else the one read from the phone.
func EffectiveCountry(c *Contact) (country string, detected bool) {
	if c.Profile.Country != "" {
		return c.Profile.Country, false
	}
	return c.Detected.Country, c.Detected.Country != ""
}

// EffectiveLanguage returns the language to show for c and whether it
// was detected: the one a person set, else the one read from the
// customer's messages.
func EffectiveLanguage(c *Contact) (lang string, detected bool) {
	if c.Profile.Language != "" {
		return c.Profile.Language, false
	}
	return c.Detected.Language, c.Detected.Language != ""
}
