package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

func TestParsePhone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, region          string
		e164, intl, country string
		ok                  bool
	}{
		{"+34 612 34 56 78", "", "+34612345678", "+34 612 34 56 78", "ES", true},
		{"34612345678", "", "+34612345678", "+34 612 34 56 78", "ES", true}, // a WhatsApp id
		{"0034 612345678", "", "+34612345678", "+34 612 34 56 78", "ES", true},
		{"+33 6 12 34 56 78", "", "+33612345678", "+33 6 12 34 56 78", "FR", true},
		{"+44 7400 123456", "", "+447400123456", "+44 7400 123456", "GB", true},
		{"+1 650-253-0000", "", "+16502530000", "+1 650-253-0000", "US", true},
		{"+1 416 555 0199", "", "+14165550199", "+1 416-555-0199", "CA", true},
		{"+49 30 901820", "", "+4930901820", "+49 30 901820", "DE", true},
		{"+55 11 91234 5678", "", "+5511912345678", "+55 11 91234-5678", "BR", true},
		{"+91 98765 43210", "", "+919876543210", "+91 98765 43210", "IN", true},
		// a national number is read in the country a person set
		{"612 34 56 78", "ES", "+34612345678", "+34 612 34 56 78", "ES", true},
		{"06 12 34 56 78", "fr", "+33612345678", "+33 6 12 34 56 78", "FR", true},
		// invalid numbers
		{"", "", "", "", "", false},
		{"12345", "", "", "", "", false},
		{"+34 1", "", "", "", "", false},
		{"+999 123456789", "", "", "", "", false},
		{"not a number", "", "", "", "", false},
		{strings.Repeat("9", 80), "", "", "", "", false},
	} {
		e164, intl, country, ok := engine.ParsePhone(tc.in, tc.region)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.e164, e164, tc.in)
		require.Equal(t, tc.intl, intl, tc.in)
		require.Equal(t, tc.country, country, tc.in)
	}
}

func TestEnrichPhone(t *testing.T) {
	t.Parallel()
	wa := func(id string) []engine.Identity {
		return []engine.Identity{{Channel: engine.ChannelWhatsApp, ExternalID: id}}
	}
	for _, tc := range []struct {
		name    string
		c       engine.Contact
		want    engine.Detected
		changed bool
	}{
		{"a WhatsApp contact's country comes from its wa_id", engine.Contact{Identities: wa("34612345678")},
			engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES"}, true},
		{"the profile phone wins over the identity",
			engine.Contact{Profile: engine.Profile{Phone: "+33612345678"}, Identities: wa("34612345678")},
			engine.Detected{Phone: "+33612345678", PhoneInternational: "+33 6 12 34 56 78", Country: "FR"}, true},
		{"a country a person set is kept; the detected one sits beside it",
			engine.Contact{Profile: engine.Profile{Phone: "+34612345678", Country: "PT"}},
			engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES"}, true},
		{"an invalid number clears what was detected",
			engine.Contact{Profile: engine.Profile{Phone: "123"}, Detected: engine.Detected{Phone: "+34612345678", Country: "ES", Language: "es"}},
			engine.Detected{Language: "es"}, true},
		{"nothing to read changes nothing", engine.Contact{Profile: engine.Profile{Name: "Ana"}}, engine.Detected{}, false},
		{"the language is left alone",
			engine.Contact{Identities: wa("34612345678"), Detected: engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES", Language: "fr"}},
			engine.Detected{Phone: "+34612345678", PhoneInternational: "+34 612 34 56 78", Country: "ES", Language: "fr"}, false},
	} {
		c := tc.c
		changed := engine.EnrichPhone(&c)
		require.Equal(t, tc.changed, changed, tc.name)
		require.Equal(t, tc.want, c.Detected, tc.name)
		require.Equal(t, tc.c.Profile, c.Profile, tc.name+": the profile a person set is untouched")
		country, detected := engine.EffectiveCountry(&c)
		if tc.c.Profile.Country != "" {
			require.Equal(t, tc.c.Profile.Country, country, tc.name)
			require.False(t, detected, tc.name)
		} else {
			require.Equal(t, tc.want.Country, country, tc.name)
			require.Equal(t, tc.want.Country != "", detected, tc.name)
		}
	}
}

func TestDetectLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text, want string
		ok         bool
	}{
		{"Hola, quería saber si tienen disponible la talla mediana de la camiseta azul", "es", true},
		{"Bonjour, je voudrais savoir si vous livrez en Belgique la semaine prochaine", "fr", true},
		{"Hi there, I would like to know whether the blue shirt comes in medium", "en", true},
		{"Guten Tag, ich möchte wissen, ob das blaue Hemd in Größe M verfügbar ist", "de", true},
		{"Olá, bom dia! Vocês têm esta camisa no tamanho médio? Não encontrei no site", "pt", true},
		{"Здравствуйте, я хотел бы узнать, есть ли у вас эта рубашка", "ru", true},
		{"Hola\nquería saber si tienen la camiseta azul en talla mediana", "es", true},
		{"Ciao, vorrei sapere se avete la maglietta blu", "it", true},
		// too little text to tell
		{"hola", "", false},
		{"ok 👍 thanks", "", false},
		{"1234567890 1234567890 1234567890", "", false},
		{"", "", false},
	} {
		got, _, ok := engine.DetectLanguage(tc.text)
		require.Equal(t, tc.ok, ok, tc.text)
		require.Equal(t, tc.want, got, tc.text)
	}
}

func TestLanguageSample(t *testing.T) {
	t.Parallel()
	s := engine.LanguageSample("", "hola")
	s = engine.LanguageSample(s, "¿tienen la camiseta azul?")
	require.Equal(t, "hola\n¿tienen la camiseta azul?", s)
	long := engine.LanguageSample(strings.Repeat("é", engine.MaxLanguageSample), "fin")
	require.LessOrEqual(t, len(long), engine.MaxLanguageSample)
	require.True(t, strings.HasSuffix(long, "\nfin"))
	require.True(t, strings.HasPrefix(long, "é"), "cut on a character boundary")
}

func TestSetDetectedLanguage(t *testing.T) {
	t.Parallel()
	c := engine.Contact{Profile: engine.Profile{Language: "ca"}}
	next, changed := engine.SetDetectedLanguage(c, "es", crmNow)
	require.True(t, changed)
	require.Equal(t, "es", next.Detected.Language)
	require.Equal(t, crmNow, next.UpdatedAt)
	lang, detected := engine.EffectiveLanguage(&next)
	require.Equal(t, "ca", lang, "a language a person set is kept")
	require.False(t, detected)
	_, changed = engine.SetDetectedLanguage(next, "es", crmNow)
	require.False(t, changed, "the same language again changes nothing")
	next.Profile.Language = ""
	lang, detected = engine.EffectiveLanguage(&next)
	require.Equal(t, "es", lang)
	require.True(t, detected)
}

// BenchmarkParsePhone measures reading one number with the
// libphonenumber metadata (loaded once, at first use).
func BenchmarkParsePhone(b *testing.B) {
	nums := []string{"34612345678", "+33 6 12 34 56 78", "+1 650-253-0000", "+44 7400 123456", "+55 11 91234 5678"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, _, ok := engine.ParsePhone(nums[i%len(nums)], ""); !ok {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkDetectLanguage measures one detection over a customer's
// message of about 75 letters.
func BenchmarkDetectLanguage(b *testing.B) {
	texts := []string{"Hola, quería saber si tienen disponible la talla mediana de la camiseta azul",
		"Bonjour, je voudrais savoir si vous livrez en Belgique la semaine prochaine",
		"Hi there, I would like to know whether the blue shirt comes in medium"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := engine.DetectLanguage(texts[i%len(texts)]); !ok {
			b.Fatal("not detected")
		}
	}
}

func TestMergeContactKeepsDetectedLanguage(t *testing.T) {
	t.Parallel()
	target := engine.Contact{Profile: engine.Profile{Name: "Ana"}}
	src := engine.Contact{Profile: engine.Profile{Name: "Ana G"}, Detected: engine.Detected{Language: "es", Country: "ES"}}
	m := engine.MergeContact(target, src, crmNow)
	require.Equal(t, "es", m.Detected.Language, "an empty detected language is filled from the other")
	target.Detected.Language = "pt"
	m = engine.MergeContact(target, src, crmNow)
	require.Equal(t, "pt", m.Detected.Language, "the survivor's own is kept")
}

// FuzzParsePhone reads any text as a phone number: no panic, and a
// number read is E.164 that reads back the same, in its own country.
func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"34612345678", "+33 6 12 34 56 78", "0034 612345678", "612 34 56 78", "+999 1", "", "++", "00", "+1 (650) 253-0000 ext. 12"} {
		f.Add(s, "ES")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		e164, intl, country, ok := engine.ParsePhone(s, region)
		if !ok {
			if e164 != "" || intl != "" || country != "" {
				t.Fatalf("%q: not a number but %q %q %q", s, e164, intl, country)
			}
			return
		}
		if !strings.HasPrefix(e164, "+") || len(e164) > 16 || intl == "" || len(country) != 0 && len(country) != 2 {
			t.Fatalf("%q: %q %q %q", s, e164, intl, country)
		}
		again, _, country2, ok := engine.ParsePhone(e164, "")
		if !ok || again != e164 || country2 != country {
			t.Fatalf("%q: %q reads back as %q %q %v", s, e164, again, country2, ok)
		}
	})
}

// FuzzDetectLanguage reads any text: no panic, and an answer is one of
// the detectable languages.
func FuzzDetectLanguage(f *testing.F) {
	for _, s := range []string{"Hola, quería saber si tienen la camiseta azul", "ok", "", "ééééééééééééééééééééééé", "\xff\xfe abc def ghi jkl mno pqr stu"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lang, _, ok := engine.DetectLanguage(s)
		if ok && !slices.Contains(engine.DetectableLanguages(), lang) {
			t.Fatalf("%q: %q", s, lang)
		}
		if !ok && lang != "" {
			t.Fatalf("%q: not detected but %q", s, lang)
		}
	})
}

func TestLanguageDetectionDue(t *testing.T) {
	t.Parallel()
	for agreed := range engine.LanguageSettledAfter {
		require.True(t, engine.LanguageDetectionDue(agreed, 1), "unsettled (%d): every text is read", agreed)
	}
	settled := engine.LanguageSettledAfter
	require.False(t, engine.LanguageDetectionDue(settled, 1))
	require.False(t, engine.LanguageDetectionDue(settled, engine.MaxLanguageSample-1))
	require.True(t, engine.LanguageDetectionDue(settled, engine.MaxLanguageSample), "a sample that is all new text is read again")
	require.True(t, engine.LanguageDetectionDue(settled+5, engine.MaxLanguageSample+80))
}
