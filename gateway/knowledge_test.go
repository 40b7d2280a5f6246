package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parleyhq/parley/engine"
)

const knowledgePath = "/api/v1/assistants/default/knowledge"

type knowledgeList struct {
	Entries  []engine.KnowledgeEntry `json:"entries"`
	Passages int                     `json:"passages"`
}

func (e *env) knowledge(token string) knowledgeList {
	e.t.Helper()
	code, body := e.api("GET", knowledgePath, token, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	return decodeAs[knowledgeList](e.t, body)
}

func (e *env) addFAQ(question, answer string) engine.KnowledgeEntry {
	e.t.Helper()
	code, body := e.api("POST", knowledgePath, ownerToken, map[string]any{"kind": "faq", "question": question, "answer": answer})
	require.Equal(e.t, http.StatusCreated, code, string(body))
	return decodeAs[engine.KnowledgeEntry](e.t, body)
}

type knowledgeSearch struct {
	Passages []engine.KnowledgePassage `json:"passages"`
	Answer   *struct {
		Outcome string                   `json:"outcome"`
		Reply   string                   `json:"reply"`
		Sources []engine.KnowledgeSource `json:"sources"`
	} `json:"answer"`
}

// TestKnowledgeAPI creates, reads, changes, searches and deletes entries
// and documents over HTTP, and checks that bad input changes nothing.
func TestKnowledgeAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.Empty(t, e.knowledge(ownerToken).Entries)

	faq := e.addFAQ("How long does shipping take?", "Shipping takes 3 days.")
	require.Equal(t, engine.KnowledgeFAQ, faq.Kind)
	require.Equal(t, "How long does shipping take?", faq.Title)
	require.Equal(t, 1, faq.Passages)
	code, body := e.api("POST", knowledgePath, ownerToken, map[string]any{"kind": "text", "title": "About us",
		"text": "We are a family shop in Porto.\n\nWe open every day from 9 to 18."})
	require.Equal(t, http.StatusCreated, code, string(body))
	text := decodeAs[engine.KnowledgeEntry](t, body)

	md := "# Returns\n\nYou can return any item within **30 days** for a refund.\n\n## Exchanges\n\nExchanges are free."
	code, body = e.upload(knowledgePath+"/documents", "file", "returns.md", "text/markdown", []byte(md), map[string]string{"title": "Returns guide"})
	require.Equal(t, http.StatusCreated, code, string(body))
	doc := decodeAs[engine.KnowledgeEntry](t, body)
	require.Equal(t, engine.KnowledgeDocument, doc.Kind)
	require.Equal(t, "Returns guide", doc.Title)
	require.NotNil(t, doc.Document)
	require.Equal(t, "returns.md", doc.Document.Filename)

	l := e.knowledge(ownerToken)
	require.Len(t, l.Entries, 3)
	require.Equal(t, doc.ID, l.Entries[0].ID, "newest first")
	require.Equal(t, 3, l.Passages)

	// The original comes back as uploaded.
	code, body = e.api("GET", knowledgePath+"/"+doc.ID.String()+"/original", ownerToken, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, md, string(body))

	// One entry with its passages.
	code, body = e.api("GET", knowledgePath+"/"+doc.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), "return any item within 30 days")

	// The tester finds the passages, and the rules agent's answer.
	code, body = e.api("POST", knowledgePath+"/search", ownerToken, map[string]any{"query": "how long is shipping?", "answer": true})
	require.Equal(t, http.StatusOK, code, string(body))
	sr := decodeAs[knowledgeSearch](t, body)
	require.NotEmpty(t, sr.Passages)
	require.Equal(t, faq.ID, sr.Passages[0].EntryID)
	require.NotNil(t, sr.Answer)
	require.Equal(t, "reply", sr.Answer.Outcome)
	require.Equal(t, "Shipping takes 3 days.", sr.Answer.Reply)
	require.Equal(t, faq.ID, sr.Answer.Sources[0].EntryID)
	code, body = e.api("POST", knowledgePath+"/search", ownerToken, map[string]any{"query": "exchanges free?", "k": 1})
	require.Equal(t, http.StatusOK, code, string(body))
	sr = decodeAs[knowledgeSearch](t, body)
	require.Len(t, sr.Passages, 1)
	require.Equal(t, doc.ID, sr.Passages[0].EntryID)
	require.Nil(t, sr.Answer)

	// Changes.
	code, body = e.api("PATCH", knowledgePath+"/"+faq.ID.String(), ownerToken, map[string]any{"answer": "Shipping takes 2 days."})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "Shipping takes 2 days.", decodeAs[engine.KnowledgeEntry](t, body).Answer)
	code, body = e.api("PATCH", knowledgePath+"/"+doc.ID.String(), ownerToken, map[string]any{"title": "Returns and exchanges"})
	require.Equal(t, http.StatusOK, code, string(body))
	code, body = e.api("POST", knowledgePath+"/search", ownerToken, map[string]any{"query": "exchanges"})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Returns and exchanges", decodeAs[knowledgeSearch](t, body).Passages[0].Title)

	// Bad input: 4xx with a JSON error, nothing stored.
	before := e.storeDigest()
	pdf, err := os.ReadFile("testdata/knowledge/warranty.pdf")
	require.NoError(t, err)
	for name, bad := range map[string]struct {
		method, path string
		body         any
		code         int
	}{
		"no kind":            {"POST", knowledgePath, map[string]any{"question": "q", "answer": "a"}, 400},
		"document kind":      {"POST", knowledgePath, map[string]any{"kind": "document", "title": "t"}, 400},
		"faq without answer": {"POST", knowledgePath, map[string]any{"kind": "faq", "question": "q"}, 400},
		"faq with text":      {"POST", knowledgePath, map[string]any{"kind": "faq", "question": "q", "answer": "a", "text": "x"}, 400},
		"blank question":     {"POST", knowledgePath, map[string]any{"kind": "faq", "question": "  ", "answer": "a"}, 400},
		"long answer":        {"POST", knowledgePath, map[string]any{"kind": "faq", "question": "q", "answer": strings.Repeat("a", engine.MaxKnowledgeAnswerBytes+1)}, 400},
		"unknown field":      {"POST", knowledgePath, map[string]any{"kind": "faq", "question": "q", "answer": "a", "x": 1}, 400},
		"unknown assistant":  {"POST", "/api/v1/assistants/sales/knowledge", map[string]any{"kind": "faq", "question": "q", "answer": "a"}, 404},
		"bad assistant":      {"GET", "/api/v1/assistants/Not%20One/knowledge", nil, 404},
		"kind change":        {"PATCH", knowledgePath + "/" + faq.ID.String(), map[string]any{"kind": "text"}, 400},
		"document text":      {"PATCH", knowledgePath + "/" + doc.ID.String(), map[string]any{"text": "new"}, 400},
		"text on faq":        {"PATCH", knowledgePath + "/" + faq.ID.String(), map[string]any{"title": "x"}, 400},
		"empty patch":        {"PATCH", knowledgePath + "/" + faq.ID.String(), map[string]any{}, 400},
		"unknown entry":      {"PATCH", knowledgePath + "/" + engine.NewID(time.Now()).String(), map[string]any{"answer": "a"}, 404},
		"bad id":             {"DELETE", knowledgePath + "/nope", nil, 404},
		"no original":        {"GET", knowledgePath + "/" + faq.ID.String() + "/original", nil, 404},
		"empty query":        {"POST", knowledgePath + "/search", map[string]any{"query": " "}, 400},
		"k too large":        {"POST", knowledgePath + "/search", map[string]any{"query": "x", "k": 21}, 400},
	} {
		code, body := e.api(bad.method, bad.path, ownerToken, bad.body)
		require.Equal(t, bad.code, code, "%s: %s", name, body)
		require.NotEmpty(t, errorCode(t, body), name)
	}
	for name, up := range map[string]struct {
		filename, mimeType string
		data               []byte
		code               int
		errCode            string
	}{
		"image":          {"photo.png", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), 415, "unsupported_document"},
		"malformed pdf":  {"broken.pdf", "application/pdf", pdf[:len(pdf)/2], 422, "unreadable_document"},
		"pdf of garbage": {"x.pdf", "application/pdf", []byte("%PDF-1.7\n" + strings.Repeat("stream\x00\xff", 500)), 422, "unreadable_document"},
		"latin-1 text":   {"notes.txt", "text/plain", []byte("caf\xe9"), 422, "unreadable_document"},
		"empty html":     {"empty.html", "text/html", []byte("<html><script>x()</script></html>"), 422, "unreadable_document"},
	} {
		code, body := e.upload(knowledgePath+"/documents", "file", up.filename, up.mimeType, up.data, nil)
		require.Equal(t, up.code, code, "%s: %s", name, body)
		require.Equal(t, up.errCode, errorCode(t, body), name)
	}
	// A 50 MB upload is refused from its Content-Length, before its body.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST %s/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n",
		knowledgePath, ownerToken, 50<<20)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	tooLarge, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	require.Equal(t, "body_too_large", errorCode(t, tooLarge))
	require.Equal(t, before, e.storeDigest(), "bad input stored nothing")

	// Another workspace sees none of it.
	e.newWorkspace("pk_workspace_b")
	require.Empty(t, e.knowledge("pk_workspace_b").Entries)
	for _, r := range [][2]string{{"GET", "/" + faq.ID.String()}, {"PATCH", "/" + faq.ID.String()}, {"DELETE", "/" + faq.ID.String()},
		{"GET", "/" + doc.ID.String() + "/original"}} {
		var body any
		if r[0] == "PATCH" {
			body = map[string]any{"answer": "stolen"}
		}
		code, resp := e.api(r[0], knowledgePath+r[1], "pk_workspace_b", body)
		require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r[0], r[1], resp)
	}
	code, body = e.api("POST", knowledgePath+"/search", "pk_workspace_b", map[string]any{"query": "shipping"})
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, decodeAs[knowledgeSearch](t, body).Passages)

	// Deleting the document removes its file.
	digest := doc.Document.SHA256
	code, _ = e.api("DELETE", knowledgePath+"/"+doc.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _ = e.api("GET", "/api/v1/media/"+digest, ownerToken, nil)
	require.Equal(t, http.StatusNotFound, code, "the file went with its entry")
	code, _ = e.api("DELETE", knowledgePath+"/"+text.ID.String(), ownerToken, nil)
	require.Equal(t, http.StatusNoContent, code)
	l = e.knowledge(ownerToken)
	require.Len(t, l.Entries, 1)
	require.Equal(t, 1, l.Passages)
}

// messagesOf returns the messages of a conversation through the API.
func (e *env) apiMessages(conv engine.ID) []engine.Message {
	e.t.Helper()
	code, body := e.api("GET", "/api/v1/conversations/"+conv.String()+"/messages", ownerToken, nil)
	require.Equal(e.t, http.StatusOK, code, string(body))
	var page struct {
		Messages []engine.Message `json:"messages"`
	}
	require.NoError(e.t, json.Unmarshal(body, &page))
	return page.Messages
}

// aiMessage returns the newest AI message of a conversation through the
// API.
func (e *env) aiMessage(conv engine.ID) engine.Message {
	e.t.Helper()
	for _, m := range e.apiMessages(conv) {
		if m.Sender.Kind == engine.SenderAI {
			return m
		}
	}
	e.t.Fatalf("no AI message in %s", conv)
	return engine.Message{}
}

// The built-in rules agent answers from a matching FAQ entry (no AI
// service), records it as the reply's source, and hands off a question
// the knowledge base does not answer.
func TestKnowledgeRulesAgentAnswersFAQ(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	faq := e.addFAQ("Do you ship to Canada?", "Yes, we ship to Canada in 7 to 10 days.")
	e.addFAQ("Which payment methods do you accept?", "Cards, PayPal and bank transfer.")
	e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.1", "15550201", "Lea", "hi, do you ship to canada?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550201")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 || got[0] != "Yes, we ship to Canada in 7 to 10 days." {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	m := e.aiMessage(conv)
	require.Equal(t, []engine.KnowledgeSource{{EntryID: faq.ID, Index: 0, Kind: engine.KnowledgeFAQ, Title: "Do you ship to Canada?"}}, m.Sources)
	require.Contains(t, m.Reasoning, "knowledge base")
}

// An uploaded PDF's passage reaches the OpenAI-compatible agent's prompt,
// and the reply records the passages it was given.
func TestKnowledgePDFReachesOpenAIPrompt(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	ai.set(func(int) (int, string, time.Duration) {
		return 200, completion("The warranty lasts 24 months.", "From the warranty document."), 0
	})
	e := newAIEnv(t)
	e.useOpenAI(ai, 5)
	pdf, err := os.ReadFile("testdata/knowledge/warranty.pdf")
	require.NoError(t, err)
	code, body := e.upload(knowledgePath+"/documents", "file", "warranty.pdf", "application/pdf", pdf, nil)
	require.Equal(t, http.StatusCreated, code, string(body))
	doc := decodeAs[engine.KnowledgeEntry](t, body)
	require.Equal(t, "warranty", doc.Title, "the file's name without its extension")
	e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.pdf", "15550202", "Max", "how long is the warranty on my widget?"))
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550202")
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	reqs := ai.requests()
	require.Len(t, reqs, 1)
	var sent struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].Body, &sent))
	require.Contains(t, sent.Messages[0].Content, "knowledge base")
	require.Contains(t, sent.Messages[0].Content, "warranty of 24 months from the day of delivery", "the PDF's passage is in the prompt")
	m := e.aiMessage(conv)
	require.Len(t, m.Sources, 1)
	require.Equal(t, doc.ID, m.Sources[0].EntryID)
	require.Equal(t, "warranty", m.Sources[0].Title)
}

// The webhook agent receives the passages in its payload's knowledge
// field.
func TestKnowledgeWebhookAgentPayload(t *testing.T) {
	t.Parallel()
	ai := newFakeAI(t)
	e := newAIEnv(t)
	code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "webhook", "webhook_url": ai.srv.URL + "/bot"})
	require.Equal(t, http.StatusOK, code, string(body))
	faq := e.addFAQ("What are your opening hours?", "Every day from 9 to 18.")
	other := e.addFAQ("Are your opening hours different on public holidays?", "Only mornings on public holidays.")
	// The reply names the entry it used: the message records only it.
	ai.set(func(int) (int, string, time.Duration) {
		return 200, `{"reply":"We open at 9.","sources":["` + faq.ID.String() + `"]}`, 0
	})
	e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.wh", "15550203", "Ria", "what are your opening hours"))
	eventually(t, 5*time.Second, func() error {
		if got := e.sentTexts(); len(got) != 1 {
			return fmt.Errorf("sent %q", got)
		}
		return nil
	})
	var payload struct {
		Knowledge []engine.KnowledgePassage `json:"knowledge"`
	}
	require.NoError(t, json.Unmarshal(ai.requests()[0].Body, &payload))
	require.Len(t, payload.Knowledge, 2, "both entries hold words of the question")
	require.Equal(t, faq.ID, payload.Knowledge[0].EntryID)
	require.Equal(t, other.ID, payload.Knowledge[1].EntryID)
	require.Equal(t, "Every day from 9 to 18.", payload.Knowledge[0].Answer)
	require.Greater(t, payload.Knowledge[0].Match, 0.9)
	conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550203")
	src := e.aiMessage(conv).Sources
	require.Len(t, src, 1)
	require.Equal(t, faq.ID, src[0].EntryID)
}

// A correction of a down-rated reply becomes a knowledge entry, and the
// next answer to the same question is the correction; rating the reply
// up again removes the entry.
func TestKnowledgeCorrectionChangesTheNextAnswer(t *testing.T) {
	t.Parallel()
	e := newAIEnv(t)
	e.addFAQ("How long does shipping take?", "Shipping takes 3 days.")
	ask := func(wamid, user string) engine.ID {
		t.Helper()
		n := len(e.sentTexts())
		e.webhook(engine.ChannelWhatsApp, waText(wamid, user, "Tom", "how long does shipping take?"))
		eventually(t, 5*time.Second, func() error {
			if got := e.sentTexts(); len(got) != n+1 {
				return fmt.Errorf("sent %q", got)
			}
			return nil
		})
		return e.thread(engine.ChannelWhatsApp, phoneID, user)
	}
	conv := ask("wamid.kc.1", "15550204")
	require.Equal(t, "Shipping takes 3 days.", e.sentTexts()[0])
	seq := e.seqOf(conv, engine.SenderAI)
	rate := func(body map[string]any) {
		t.Helper()
		code, resp := e.api("POST", "/api/v1/conversations/"+conv.String()+"/messages/"+strconv.FormatUint(seq, 10)+"/feedback", ownerToken, body)
		require.Equal(t, http.StatusOK, code, string(resp))
	}
	rate(map[string]any{"rating": "down", "correction": "Since March, shipping takes 5 days."})
	var corr engine.KnowledgeEntry
	for _, en := range e.knowledge(ownerToken).Entries {
		if en.Kind == engine.KnowledgeCorrection {
			corr = en
		}
	}
	require.Equal(t, engine.KnowledgeCorrection, corr.Kind)
	require.Equal(t, "how long does shipping take?", corr.Question)
	require.Equal(t, "Since March, shipping takes 5 days.", corr.Answer)
	require.NotNil(t, corr.Rating)
	require.Equal(t, conv, corr.Rating.ConversationID)

	conv2 := ask("wamid.kc.2", "15550205")
	require.Equal(t, "Since March, shipping takes 5 days.", e.sentTexts()[1], "the next answer is the correction")
	require.Equal(t, corr.ID, e.aiMessage(conv2).Sources[0].EntryID)

	// A new correction replaces the entry; an up rating removes it.
	rate(map[string]any{"rating": "down", "correction": "Shipping takes 4 days."})
	l := e.knowledge(ownerToken)
	require.Len(t, l.Entries, 2)
	rate(map[string]any{"rating": "up"})
	l = e.knowledge(ownerToken)
	require.Len(t, l.Entries, 1)
	require.Equal(t, engine.KnowledgeFAQ, l.Entries[0].Kind)
	ask("wamid.kc.3", "15550206")
	require.Equal(t, "Shipping takes 3 days.", e.sentTexts()[2])
}

// Concurrent changes of one assistant's entries keep its totals equal to
// the sum of its entries' passages (the owner's mutex holds each read of
// the counts with its commit).
func TestKnowledgeConcurrentChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const writers, each = 6, 8
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				q := fmt.Sprintf("Question %d of writer %d about shipping and returns?", i, w)
				code, body := e.api("POST", knowledgePath, ownerToken, map[string]any{"kind": "faq", "question": q, "answer": "An answer about shipping."})
				if code != http.StatusCreated {
					errs <- fmt.Errorf("create: %d %s", code, body)
					return
				}
				var en engine.KnowledgeEntry
				if err := json.Unmarshal(body, &en); err != nil {
					errs <- err
					return
				}
				if i%2 == 1 {
					if code, body := e.api("DELETE", knowledgePath+"/"+en.ID.String(), ownerToken, nil); code != http.StatusNoContent {
						errs <- fmt.Errorf("delete: %d %s", code, body)
						return
					}
				} else if code, body := e.api("PATCH", knowledgePath+"/"+en.ID.String(), ownerToken, map[string]any{"answer": "Shipping takes two days."}); code != http.StatusOK {
					errs <- fmt.Errorf("update: %d %s", code, body)
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		require.NoError(t, <-errs)
	}
	l := e.knowledge(ownerToken)
	require.Len(t, l.Entries, writers*each/2)
	sum := 0
	for _, en := range l.Entries {
		sum += en.Passages
	}
	require.Equal(t, sum, l.Passages, "the totals are the entries' passages")
	code, body := e.api("POST", knowledgePath+"/search", ownerToken, map[string]any{"query": "shipping", "k": 20})
	require.Equal(t, http.StatusOK, code)
	require.Len(t, decodeAs[knowledgeSearch](t, body).Passages, 20)
}

// The OpenAI-compatible agent is asked to cite the passages it uses, by
// entry id: with tools through cite_sources, with the json reply format
// in "sources". The reply records only those it names; it records every
// passage given when it names none it was given.
func TestKnowledgeOpenAICitesSources(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"tools", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			ai := newFakeAI(t)
			e := newAIEnv(t)
			code, body := e.api("PUT", "/api/v1/agent", ownerToken, map[string]any{"kind": "openai",
				"base_url": ai.srv.URL + "/v1", "model": "m", "reply_format": format, "timeout_seconds": 5})
			require.Equal(t, http.StatusOK, code, string(body))
			ship := e.addFAQ("Do you ship to Canada?", "Yes, we ship to Canada in 7 to 10 days.")
			pay := e.addFAQ("Which payment methods do you accept in Canada?", "Cards, PayPal and bank transfer.")
			answer := func(cite ...string) func(int) (int, string, time.Duration) {
				return func(int) (int, string, time.Duration) {
					if format == "json" {
						obj, _ := json.Marshal(map[string]any{"reply": "We take cards and PayPal.", "handoff": false, "sources": cite})
						return 200, completion(string(obj), ""), 0
					}
					args, _ := json.Marshal(map[string]any{"sources": cite})
					return 200, completion("We take cards and PayPal.", "", [2]string{"cite_sources", string(args)}), 0
				}
			}
			ai.set(answer(pay.ID.String(), "01NOTANENTRYOFTHISBASE0000"))
			e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.cite1", "15550211", "Ana", "how can I pay for shipping to canada?"))
			conv := e.thread(engine.ChannelWhatsApp, phoneID, "15550211")
			eventually(t, 5*time.Second, func() error {
				if got := e.sentTexts(); len(got) != 1 {
					return fmt.Errorf("sent %q", got)
				}
				return nil
			})
			reqs := ai.requests()
			require.Len(t, reqs, 1)
			require.Contains(t, string(reqs[0].Body), "entry "+pay.ID.String(), "the prompt names each passage's entry id")
			require.Contains(t, string(reqs[0].Body), "entry "+ship.ID.String())
			m := e.aiMessage(conv)
			require.Len(t, m.Sources, 1, "only the cited passage; an id that was not given is ignored")
			require.Equal(t, pay.ID, m.Sources[0].EntryID)
			require.Equal(t, "Which payment methods do you accept in Canada?", m.Sources[0].Title)

			// Naming none it was given: every passage given is recorded.
			ai.set(answer())
			e.webhook(engine.ChannelWhatsApp, waText("wamid.kn.cite2", "15550212", "Bo", "how can I pay for shipping to canada?"))
			conv2 := e.thread(engine.ChannelWhatsApp, phoneID, "15550212")
			eventually(t, 5*time.Second, func() error {
				if got := e.sentTexts(); len(got) != 2 {
					return fmt.Errorf("sent %q", got)
				}
				return nil
			})
			m2 := e.aiMessage(conv2)
			require.Len(t, m2.Sources, 2)
		})
	}
}
