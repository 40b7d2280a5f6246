package knowledge

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const maxText = 1 << 20

func TestExtractPDF(t *testing.T) {
	data, err := os.ReadFile("../testdata/knowledge/warranty.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := FormatOf("warranty.pdf", "application/octet-stream", data)
	if err != nil || f != PDF {
		t.Fatalf("format %q, %v; want pdf", f, err)
	}
	text, err := Extract(f, data, maxText)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warranty of 24 months", "serial number engraved", "Batteries are covered"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	// Cut at the limit.
	if short, err := Extract(f, data, 20); err != nil || len(short) > 20 {
		t.Errorf("limited text %q, %v", short, err)
	}
}

func TestExtractMalformedPDF(t *testing.T) {
	data, err := os.ReadFile("../testdata/knowledge/warranty.pdf")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"header only": []byte("%PDF-1.4\n"),
		"truncated":   data[:len(data)/2],
		"garbage":     append([]byte("%PDF-1.7\n"), strings.Repeat("obj << /Length 99999999 >> stream\n", 50)...),
		"bad xref":    []byte(strings.Replace(string(data), "xref", "xrex", 1)),
		"deep nesting": []byte("%PDF-1.4\nxref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Root " + strings.Repeat("[", 1_000_000) +
			" >>\nstartxref\n9\n%%EOF\n"),
	} {
		if _, err := ExtractPDF(bad, maxText); !errors.Is(err, ErrUnreadable) {
			t.Errorf("%s: err %v, want ErrUnreadable", name, err)
		}
	}
}

func TestExtractHTMLAndMarkdown(t *testing.T) {
	h := `<html><head><title>Returns</title><style>p{color:red}</style><script>var secret = "x";</script></head>
<body><h1>Returns policy</h1><p>Items can be returned within <b>30 days</b>.</p><ul><li>Keep the receipt</li></ul></body></html>`
	text, err := Extract(HTML, []byte(h), maxText)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Returns policy", "returned within 30 days", "Keep the receipt"} {
		if !strings.Contains(text, want) {
			t.Errorf("html text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "secret") || strings.Contains(text, "color") {
		t.Errorf("html text %q holds a script or a style", text)
	}
	md := "# Shipping\n\nWe ship **worldwide** in 3 to 5 days.\n\n<script>alert(1)</script>\n\n- Tracking by email\n"
	text, err = Extract(Markdown, []byte(md), maxText)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Shipping", "We ship worldwide in 3 to 5 days", "Tracking by email"} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "alert") {
		t.Errorf("markdown text %q holds raw HTML", text)
	}
	if _, err := Extract(Text, []byte("caf\xe9"), maxText); !errors.Is(err, ErrUnreadable) {
		t.Errorf("latin-1 text: %v, want ErrUnreadable", err)
	}
	if _, err := FormatOf("photo.png", "image/png", []byte("\x89PNG\r\n")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("png: %v, want ErrUnsupported", err)
	}
}

func FuzzExtractPDF(f *testing.F) {
	if data, err := os.ReadFile("../testdata/knowledge/warranty.pdf"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Never a panic, whatever the bytes; the text is UTF-8.
		if text, err := ExtractPDF(data, 4096); err == nil && !utf8Valid(text) {
			t.Fatalf("text is not UTF-8: %q", text)
		}
	})
}

func FuzzExtractHTML(f *testing.F) {
	f.Add([]byte("<p>Hello <b>world</b></p><script>x</script>"))
	f.Add([]byte("<html><body><ul><li>a<li>b</ul>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if text, err := ExtractHTML(data); err == nil && !utf8Valid(text) {
			t.Fatalf("text is not UTF-8: %q", text)
		}
	})
}

func FuzzExtractMarkdown(f *testing.F) {
	f.Add([]byte("# Title\n\nSome *text* and [a link](http://x).\n\n```\ncode\n```\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if text, err := ExtractMarkdown(data); err == nil && !utf8Valid(text) {
			t.Fatalf("text is not UTF-8: %q", text)
		}
	})
}

func FuzzExtractText(f *testing.F) {
	f.Add([]byte("plain text"))
	f.Add([]byte("\xef\xbb\xbfwith a BOM"))
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := Extract(Text, data, 64)
		if err == nil && (len(text) > 64 || !utf8Valid(text)) {
			t.Fatalf("text %q: over the limit or not UTF-8", text)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
