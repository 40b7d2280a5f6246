package persistence

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/parleyhq/parley/engine"
)

// The knowledge base's embeddings (docs/ARCHITECTURE.md, "The knowledge
// base"). Keys, under the knowledge table:
//
//	'w' ws '1' 'c' asst                       the assistant's engine.EmbeddingSettings
//	'w' ws '1' 'x' asst entry idx             a passage's vector: settings fingerprint (8 bytes),
//	                                           text hash (8 bytes), float32s little-endian
//
// A vector counts only while its fingerprint is the settings' and its
// text hash the passage's: PutKnowledge deletes an entry's vectors with
// its passages, and new settings make every vector stale, so the
// embedder finds what to embed by comparing (PendingEmbeddings).
const (
	kEmbedSettings = 'c'
	kVector        = 'x'
)

func knowledgeVectorKey(ws engine.ID, asst string, pid passageID) []byte {
	return append(knowledgePrefix(ws, kVector, asst), pid[:]...)
}

// embeddingRecord is the stored settings with their assistant.
type embeddingRecord struct {
	engine.EmbeddingSettings
	Assistant string `json:"assistant"`
}

// PassageTextHash is the hash a vector keeps of the text it embeds.
func passageTextHash(text string) uint64 {
	h := sha256.Sum256([]byte(text))
	return binary.BigEndian.Uint64(h[:8])
}

// EmbeddingText is the text of passage p that is embedded (the text it
// is indexed by).
func EmbeddingText(p engine.Passage) string { return indexText(p) }

// KnowledgeEmbeddingSettings reads assistant asst's embeddings settings;
// the zero value (off) when it has none.
func (s *Store) KnowledgeEmbeddingSettings(ws engine.ID, asst string) (engine.EmbeddingSettings, error) {
	var r embeddingRecord
	err := s.get(knowledgePrefix(ws, kEmbedSettings, asst), &r)
	if errors.Is(err, ErrNotFound) {
		return engine.EmbeddingSettings{}, nil
	}
	if err != nil {
		return engine.EmbeddingSettings{}, fmt.Errorf("reading embeddings settings: %w", err)
	}
	return r.EmbeddingSettings, nil
}

// PutKnowledgeEmbeddingSettings writes assistant asst's embeddings
// settings into b.
func (b *Batch) PutKnowledgeEmbeddingSettings(ws engine.ID, asst string, set engine.EmbeddingSettings) {
	b.set(knowledgePrefix(ws, kEmbedSettings, asst), &embeddingRecord{EmbeddingSettings: set, Assistant: asst})
}

// EmbeddingAssistants returns the assistants of workspace ws whose
// embeddings are on.
func (s *Store) EmbeddingAssistants(ws engine.ID) ([]string, error) {
	rs, err := readAll[embeddingRecord](s, append(wsPrefix(ws, tKnowledge), kEmbedSettings), "embeddings settings")
	var out []string
	for _, r := range rs {
		if r.Enabled {
			out = append(out, r.Assistant)
		}
	}
	return out, err
}

// PendingPassage is a passage waiting for its vector.
type PendingPassage struct {
	ID   [20]byte
	Text string
}

// PendingEmbeddings returns up to limit passages of assistant asst
// without a vector of fingerprint fp for their current text, and how
// many passages have one.
func (s *Store) PendingEmbeddings(ws engine.ID, asst string, fp uint64, limit int) (pending []PendingPassage, done int, err error) {
	p := knowledgePrefix(ws, kPassage, asst)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, 0, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		if len(key) != len(p)+len(passageID{}) {
			continue
		}
		var pid passageID
		copy(pid[:], key[len(p):])
		var rec passageRecord
		if err := decode(it.Value(), &rec); err != nil {
			return nil, 0, fmt.Errorf("reading knowledge passage: %w", err)
		}
		text := EmbeddingText(rec.Passage)
		v, ok, err := s.getRaw(knowledgeVectorKey(ws, asst, pid))
		if err != nil {
			return nil, 0, err
		}
		if ok && len(v) >= 16 && binary.BigEndian.Uint64(v) == fp && binary.BigEndian.Uint64(v[8:]) == passageTextHash(text) {
			done++
			continue
		}
		if len(pending) < limit {
			pending = append(pending, PendingPassage{ID: pid, Text: text})
		}
	}
	return pending, done, iterErr(it)
}

// PutKnowledgeVector writes the vector of passage pid, embedded from
// text with settings of fingerprint fp, into b. It reports false (and
// writes nothing) when the passage is gone or its text changed since:
// the caller holds the assistant's entries (as for PutKnowledge).
func (s *Store) PutKnowledgeVector(b *Batch, ws engine.ID, asst string, pid [20]byte, fp uint64, text string, vec []float32) (bool, error) {
	id := passageID(pid)
	var rec passageRecord
	err := s.get(append(knowledgePassagePrefix(ws, asst, id.entry()), id[16:]...), &rec)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading knowledge passage: %w", err)
	}
	if EmbeddingText(rec.Passage) != text {
		return false, nil
	}
	v := make([]byte, 16, 16+4*len(vec))
	binary.BigEndian.PutUint64(v, fp)
	binary.BigEndian.PutUint64(v[8:], passageTextHash(text))
	for _, f := range vec {
		v = binary.LittleEndian.AppendUint32(v, math.Float32bits(f))
	}
	b.setRaw(knowledgeVectorKey(ws, asst, id), v)
	return true, b.err
}

// deleteKnowledgeVector removes a passage's vector (PutKnowledge).
func (b *Batch) deleteKnowledgeVector(ws engine.ID, asst string, pid passageID) {
	b.del(knowledgeVectorKey(ws, asst, pid))
}

// nearestPassages returns up to n passages of assistant asst whose
// vectors (of fingerprint fp) are the most similar to q, best first: a
// scan of the assistant's vectors.
func (s *Store) nearestPassages(ws engine.ID, asst string, fp uint64, q []float32, n int) ([]passageID, error) {
	p := knowledgePrefix(ws, kVector, asst)
	it, err := s.iter(p, prefixEnd(p))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	type hit struct {
		pid passageID
		sim float64
	}
	var qn float64
	for _, f := range q {
		qn += float64(f) * float64(f)
	}
	if qn == 0 {
		return nil, nil
	}
	qn = math.Sqrt(qn)
	best := make([]hit, 0, n+1)
	for ok := it.First(); ok; ok = it.Next() {
		key, v := it.Key(), it.Value()
		if len(key) != len(p)+len(passageID{}) || len(v) != 16+4*len(q) || binary.BigEndian.Uint64(v) != fp {
			continue
		}
		var dot, vn float64
		for i, x := range q {
			y := float64(math.Float32frombits(binary.LittleEndian.Uint32(v[16+4*i:])))
			dot += float64(x) * y
			vn += y * y
		}
		if vn == 0 {
			continue
		}
		h := hit{sim: dot / (qn * math.Sqrt(vn))}
		copy(h.pid[:], key[len(p):])
		if len(best) == n && h.sim <= best[n-1].sim {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, h, func(a, b hit) int {
			if a.sim > b.sim {
				return -1
			}
			if a.sim < b.sim {
				return 1
			}
			return 0
		})
		best = slices.Insert(best, i, h)
		if len(best) > n {
			best = best[:n]
		}
	}
	out := make([]passageID, len(best))
	for i, h := range best {
		out[i] = h.pid
	}
	return out, iterErr(it)
}
