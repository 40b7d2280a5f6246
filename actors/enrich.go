package actors

import (
	"context"

	"github.com/parleyhq/parley/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Language detection runs outside the conversation actors: once an
// inbound text message is committed, its conversation's actor offers the
// text to the runtime's language detector (a bounded queue and one
// worker; a full queue drops the text, the conversation never waits).
// The worker keeps each contact's latest text (engine.LanguageSample),
// detects its language once there is enough of it
// (engine.DetectLanguage) — once the same language was found
// engine.LanguageSettledAfter times in a row, only when the whole sample
// is new text (engine.LanguageDetectionDue) — and, when the result differs from what the
// contact holds, tells the contact's actor, which records it
// (engine.SetDetectedLanguage) in its own commit (docs/ARCHITECTURE.md,
// invariant 11).

const (
	// languageQueue is how many inbound texts wait for detection.
	languageQueue = 1024
	// languageSamples is how many contacts' latest text the detector
	// keeps; past it, it forgets one to make room.
	languageSamples = 10000
)

type languageJob struct {
	ws, contact engine.ID
	text        string
}

type contactKey struct{ ws, contact engine.ID }

// languageState is what the detector keeps of one contact.
type languageState struct {
	sample string // the contact's latest text (engine.LanguageSample)
	lang   string // the language last told the contact
	agreed int    // detections in a row that found lang
	fresh  int    // bytes of text added to sample since the last detection
}

// languageDetector is the runtime's language detection pool.
type languageDetector struct {
	rt     *Runtime
	jobs   chan languageJob
	states map[contactKey]languageState // owned by run

	dropped  prometheus.Counter
	detected prometheus.Counter
}

func newLanguageDetector(rt *Runtime, reg prometheus.Registerer) *languageDetector {
	d := &languageDetector{rt: rt, jobs: make(chan languageJob, languageQueue),
		states: map[contactKey]languageState{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_language_detection_dropped_total",
			Help: "Inbound texts not read for language detection because its queue was full."}),
		detected: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_language_detections_total",
			Help: "Contacts whose detected language was set or changed."}),
	}
	if reg != nil {
		reg.MustRegister(d.dropped, d.detected)
	}
	return d
}

// offer queues a customer's text for detection without waiting.
func (d *languageDetector) offer(ws, contact engine.ID, text string) {
	if engine.CountLetters(text) == 0 {
		return
	}
	select {
	case d.jobs <- languageJob{ws: ws, contact: contact, text: text}:
	default:
		d.dropped.Inc()
	}
}

// run reads the queue until ctx ends (the runtime's Shutdown).
func (d *languageDetector) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-d.jobs:
			d.handle(j)
		}
	}
}

func (d *languageDetector) handle(j languageJob) {
	k := contactKey{j.ws, j.contact}
	st, ok := d.states[k]
	if !ok && len(d.states) >= languageSamples {
		for old := range d.states {
			delete(d.states, old)
			break
		}
	}
	st.sample = engine.LanguageSample(st.sample, j.text)
	st.fresh += len(j.text)
	if !engine.LanguageDetectionDue(st.agreed, st.fresh) {
		d.states[k] = st
		return
	}
	st.fresh = 0
	lang, _, ok := engine.DetectLanguage(st.sample)
	switch {
	case !ok:
	case lang == st.lang:
		st.agreed++
	default:
		st.lang, st.agreed = lang, 1
	}
	d.states[k] = st
	if !ok || st.agreed > 1 {
		return
	}
	d.rt.contactTell(j.ws, j.contact, "detected language", func(a *contactActor) (any, error) {
		if a.c == nil {
			return nil, nil // merged away or deleted
		}
		next, changed := engine.SetDetectedLanguage(*a.c, lang, a.rt.clock.Now())
		if !changed {
			return nil, nil
		}
		d.detected.Inc()
		return a.put(next, engine.EventContactUpdated)
	})
}
