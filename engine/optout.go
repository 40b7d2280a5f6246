package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Opt-out keywords (docs/ARCHITECTURE.md, "Opt-out keywords"): a
// WhatsApp message that is, as a whole, one of the workspace's opt-out
// keywords unsubscribes its contact from broadcasts and is answered
// with a confirmation; one of its resubscribe keywords subscribes the
// contact again. The AI does not answer either message.

// DefaultOptOutKeywords are STOP and its translations, used when a
// workspace has configured none.
var DefaultOptOutKeywords = []string{
	"STOP", "STOP ALL", "UNSUBSCRIBE", "OPT OUT", // English
	"ARRÊT", "DÉSABONNEMENT", // French (accents do not matter: ARRET matches)
	"STOPP", "ABMELDEN", // German, Norwegian, Swedish
	"BAJA", "CANCELAR", "PARAR", // Spanish, Portuguese
	"DESCADASTRAR",             // Portuguese
	"DISDETTA", "DISISCRIVIMI", // Italian
	"AFMELDEN", // Dutch
}

// DefaultResubscribeKeywords are what a contact writes to receive
// broadcasts again, used when a workspace has configured none.
var DefaultResubscribeKeywords = []string{"START", "UNSTOP", "SUBSCRIBE"}

// Default confirmation texts of the opt-out settings.
const (
	DefaultOptOutConfirmation      = "You have been unsubscribed and will no longer receive broadcast messages from us. Reply START to subscribe again."
	DefaultResubscribeConfirmation = "You are subscribed again and will receive our broadcast messages. Reply STOP to unsubscribe."
)

// Limits on the opt-out settings.
const (
	MaxOptOutKeywords           = 50
	MaxOptOutKeywordBytes       = 64
	MaxOptOutConfirmationBytes  = 1024
	ContactChangeUnsubscribed   = ContactChangeKind("unsubscribed")
	ContactChangeResubscribed   = ContactChangeKind("resubscribed")
	OptOutConfirmationReasoning = "opt-out keyword confirmation"
)

// OptOutSettings are a workspace's opt-out keyword rules. A nil keyword
// list means the defaults; an empty non-nil one means none (the rule is
// off). An empty confirmation means the default text.
type OptOutSettings struct {
	Keywords                []string `json:"keywords"`
	Confirmation            string   `json:"confirmation"`
	ResubscribeKeywords     []string `json:"resubscribe_keywords"`
	ResubscribeConfirmation string   `json:"resubscribe_confirmation"`
}

// OptOutEffective returns s with the defaults filled in, as the rule
// applies it and the API shows it.
func (s OptOutSettings) OptOutEffective() OptOutSettings {
	if s.Keywords == nil {
		s.Keywords = DefaultOptOutKeywords
	}
	if s.ResubscribeKeywords == nil {
		s.ResubscribeKeywords = DefaultResubscribeKeywords
	}
	if strings.TrimSpace(s.Confirmation) == "" {
		s.Confirmation = DefaultOptOutConfirmation
	}
	if strings.TrimSpace(s.ResubscribeConfirmation) == "" {
		s.ResubscribeConfirmation = DefaultResubscribeConfirmation
	}
	return s
}

// CleanOptOutSettings checks settings a person submitted and returns
// them trimmed, with keywords deduplicated (by their matching form), or
// an ErrInvalid error naming what is wrong. Omitted lists stay nil (the
// defaults).
func CleanOptOutSettings(s OptOutSettings) (OptOutSettings, error) {
	var err error
	if s.Keywords, err = cleanOptOutKeywords("keywords", s.Keywords); err != nil {
		return OptOutSettings{}, err
	}
	if s.ResubscribeKeywords, err = cleanOptOutKeywords("resubscribe_keywords", s.ResubscribeKeywords); err != nil {
		return OptOutSettings{}, err
	}
	for _, k := range s.Keywords {
		if OptOutKeyword(k, s.ResubscribeKeywords) {
			return OptOutSettings{}, fmt.Errorf("%w: %q is both an opt-out and a resubscribe keyword", ErrInvalid, k)
		}
	}
	for name, text := range map[string]*string{"confirmation": &s.Confirmation, "resubscribe_confirmation": &s.ResubscribeConfirmation} {
		*text = strings.TrimSpace(*text)
		if !utf8.ValidString(*text) || len(*text) > MaxOptOutConfirmationBytes {
			return OptOutSettings{}, fmt.Errorf("%w: %s must be valid text of at most %d bytes", ErrInvalid, name, MaxOptOutConfirmationBytes)
		}
	}
	return s, nil
}

func cleanOptOutKeywords(name string, ks []string) ([]string, error) {
	if ks == nil {
		return nil, nil
	}
	if len(ks) > MaxOptOutKeywords {
		return nil, fmt.Errorf("%w: at most %d %s", ErrInvalid, MaxOptOutKeywords, name)
	}
	out := make([]string, 0, len(ks))
	seen := map[string]bool{}
	for _, k := range ks {
		k = strings.TrimSpace(k)
		if !utf8.ValidString(k) || len(k) > MaxOptOutKeywordBytes {
			return nil, fmt.Errorf("%w: each of %s must be valid text of at most %d bytes", ErrInvalid, name, MaxOptOutKeywordBytes)
		}
		f := optOutForm(k)
		if f == "" {
			return nil, fmt.Errorf("%w: %s holds an empty keyword", ErrInvalid, name)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// OptOutKeyword reports whether text, as a whole, is one of keywords:
// surrounding spaces and punctuation, case and accents do not matter
// ("stop", " Stop! ", "arret" and "ARRÊT" all match "ARRÊT"), but a
// keyword inside a longer message does not match ("please stop the
// noise" is not an opt-out).
func OptOutKeyword(text string, keywords []string) bool {
	if len(text) > 4*MaxOptOutKeywordBytes {
		return false
	}
	t := optOutForm(text)
	if t == "" {
		return false
	}
	for _, k := range keywords {
		if optOutForm(k) == t {
			return true
		}
	}
	return false
}

// optOutForm is the matching form of s: accents removed, lower case,
// words separated by single spaces (spaces, punctuation and symbols
// separate words and are dropped).
func optOutForm(s string) string {
	s = strings.ToValidUTF8(s, "")
	if !isASCII(s) {
		// A chain keeps state: each call makes its own, since the rules
		// run in many actors at once.
		strip := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
		if folded, _, err := transform.String(strip, s); err == nil {
			s = folded
		}
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		default:
			space = true // spaces and punctuation separate words
		}
	}
	return b.String()
}

// OptOutAction is what an inbound message does to its contact's
// subscription under the opt-out rules.
type OptOutAction int

// Opt-out actions.
const (
	OptOutNone OptOutAction = iota
	OptOutUnsubscribe
	OptOutResubscribe
)

// ClassifyOptOut says whether text is an opt-out or a resubscribe
// keyword under settings s (defaults applied).
func ClassifyOptOut(text string, s OptOutSettings) OptOutAction {
	e := s.OptOutEffective()
	switch {
	case OptOutKeyword(text, e.Keywords):
		return OptOutUnsubscribe
	case OptOutKeyword(text, e.ResubscribeKeywords):
		return OptOutResubscribe
	}
	return OptOutNone
}

// SetContactSubscription unsubscribes (or resubscribes) contact c at
// now, because the contact wrote keyword. It returns the contact and
// the activity entry (id is its id), and changed false when c already
// stood so.
func SetContactSubscription(c Contact, unsubscribed bool, keyword string, id ID, now time.Time) (Contact, ContactChange, bool) {
	if c.Unsubscribed == unsubscribed {
		return c, ContactChange{}, false
	}
	c.Unsubscribed = unsubscribed
	c.UpdatedAt = now
	kind := ContactChangeResubscribed
	if unsubscribed {
		kind = ContactChangeUnsubscribed
	}
	return c, ContactChange{ID: id, WorkspaceID: c.WorkspaceID, ContactID: c.ID, Kind: kind,
		To: truncateBytes(keyword, MaxOptOutKeywordBytes), At: now}, true
}

// optOut applies the opt-out rules to a customer's WhatsApp text
// message in receive: it reports whether the message was a keyword, in
// which case the conversation is marked, a confirmation is sent and the
// AI does not answer.
func (a *applier) optOut(cmd Receive) bool {
	if a.c.Channel != ChannelWhatsApp || cmd.Content.Kind != KindText {
		return false
	}
	act := ClassifyOptOut(cmd.Content.Text, a.s.OptOut)
	if act == OptOutNone {
		return false
	}
	e := a.s.OptOut.OptOutEffective()
	unsub := act == OptOutUnsubscribe
	keyword := strings.TrimSpace(truncateRunes(cmd.Content.Text, MaxOptOutKeywordBytes))
	a.c.Unsubscribed = unsub
	a.optOutAction = act
	confirm := e.Confirmation
	if unsub {
		a.system("Unsubscribed from broadcasts: the customer wrote \"" + keyword + "\"")
	} else {
		a.system("Subscribed to broadcasts again: the customer wrote \"" + keyword + "\"")
		confirm = e.ResubscribeConfirmation
	}
	a.sendOut(Sender{Kind: SenderAI}, Content{Kind: KindText, Text: confirm}, OptOutConfirmationReasoning)
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
