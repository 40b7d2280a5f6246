// Package knowledge reads the text of documents uploaded to a knowledge
// base: PDF (github.com/ledongthuc/pdf), HTML (golang.org/x/net/html),
// Markdown (goldmark, then its HTML) and plain text. It never imports
// the gateway (docs/ARCHITECTURE.md, "Packages and their direction").
package knowledge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"github.com/yuin/goldmark"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Format is a document format the knowledge base reads.
type Format string

// Formats.
const (
	PDF      Format = "pdf"
	HTML     Format = "html"
	Markdown Format = "markdown"
	Text     Format = "text"
)

// Limits of a document's reading.
const (
	// MaxPages is the most PDF pages read.
	MaxPages = 2000
)

// ErrUnsupported is returned for a file of a format the knowledge base
// does not read.
var ErrUnsupported = errors.New("knowledge: unsupported document format (PDF, Markdown, HTML or plain text)")

// ErrUnreadable is wrapped by the error of a document that is not what
// its format says (a malformed PDF, text that is not UTF-8).
var ErrUnreadable = errors.New("knowledge: unreadable document")

// FormatOf names the format of a file by its MIME type, else by its
// name's extension, else by its first bytes.
func FormatOf(filename, mimeType string, data []byte) (Format, error) {
	mt, _, _ := mime.ParseMediaType(mimeType)
	switch mt {
	case "application/pdf":
		return PDF, nil
	case "text/html", "application/xhtml+xml":
		return HTML, nil
	case "text/markdown", "text/x-markdown":
		return Markdown, nil
	}
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".pdf":
		return PDF, nil
	case ".html", ".htm", ".xhtml":
		return HTML, nil
	case ".md", ".markdown":
		return Markdown, nil
	case ".txt", ".text":
		return Text, nil
	}
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return PDF, nil
	}
	if mt == "text/plain" || mt == "" || mt == "application/octet-stream" {
		if utf8.Valid(data) {
			return Text, nil
		}
	}
	return "", ErrUnsupported
}

// Extract returns the text of document data in format f, at most max
// bytes of it (cut at a rune boundary).
func Extract(f Format, data []byte, max int) (string, error) {
	var s string
	var err error
	switch f {
	case PDF:
		s, err = ExtractPDF(data, max)
	case HTML:
		s, err = ExtractHTML(data)
	case Markdown:
		s, err = ExtractMarkdown(data)
	case Text:
		s, err = ExtractText(data)
	default:
		return "", ErrUnsupported
	}
	if err != nil {
		return "", err
	}
	return cut(strings.TrimSpace(s), max), nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ExtractText checks that data is UTF-8 text (a byte order mark
// dropped) and returns it.
func ExtractText(data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return "", fmt.Errorf("%w: the text is not UTF-8", ErrUnreadable)
	}
	return string(data), nil
}

// ExtractPDF returns the text of a PDF, page after page (a blank line
// between pages), stopping at max bytes or MaxPages pages. The reader
// panics on some malformed files: a panic is an ErrUnreadable, never a
// crash.
func ExtractPDF(data []byte, max int) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w: malformed PDF (%v)", ErrUnreadable, r)
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	var b strings.Builder
	fonts := map[string]*pdf.Font{}
	n := min(r.NumPage(), MaxPages)
	for i := 1; i <= n && b.Len() < max; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return "", fmt.Errorf("%w: page %d: %v", ErrUnreadable, i, err)
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.ToValidUTF8(t, ""))
	}
	return b.String(), nil
}

// blockAtoms are the HTML elements that end a paragraph of text.
var blockAtoms = map[atom.Atom]bool{atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.H1: true,
	atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Tr: true, atom.Table: true,
	atom.Section: true, atom.Article: true, atom.Blockquote: true, atom.Pre: true, atom.Ul: true, atom.Ol: true,
	atom.Dt: true, atom.Dd: true, atom.Hr: true, atom.Header: true, atom.Footer: true, atom.Title: true}

// skipAtoms hold no readable text.
var skipAtoms = map[atom.Atom]bool{atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Iframe: true, atom.Object: true, atom.Head: false}

// ExtractHTML returns the readable text of an HTML document: the text
// of its elements, scripts and styles left out, a blank line after each
// block (paragraph, heading, list item).
func ExtractHTML(data []byte) (string, error) {
	if !utf8.Valid(data) {
		data = []byte(strings.ToValidUTF8(string(data), " "))
	}
	z := html.NewTokenizer(bytes.NewReader(data))
	var b strings.Builder
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return b.String(), nil
			}
			return "", fmt.Errorf("%w: %v", ErrUnreadable, z.Err())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipAtoms[a] && tt == html.StartTagToken {
				skip++
			}
			if blockAtoms[a] {
				b.WriteString("\n\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipAtoms[a] && skip > 0 {
				skip--
			}
			if blockAtoms[a] {
				b.WriteString("\n\n")
			}
		case html.TextToken:
			if skip == 0 {
				b.WriteString(strings.Join(strings.Fields(string(z.Text())), " "))
				b.WriteByte(' ')
			}
		}
	}
}

// ExtractMarkdown renders Markdown with goldmark (raw HTML in it is left
// out) and returns the text of the result.
func ExtractMarkdown(data []byte) (string, error) {
	src, err := ExtractText(data)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := goldmark.Convert([]byte(src), &out); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	return ExtractHTML(out.Bytes())
}
