package markdown

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestRenderMarkdown(t *testing.T) {
	cases := []struct{ in, want string }{
		{"**bold** and _italic_", "<p><strong>bold</strong> and <em>italic</em></p>"},
		{"- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"},
		{"3. c\n4. d", "<ol start=\"3\">\n<li>c</li>\n<li>d</li>\n</ol>"},
		{"run `make test`", "<p>run <code>make test</code></p>"},
		{"```\n<b>x</b>\n```", "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>"},
		{"[docs](https://example.com/a?b=1)", `<p><a href="https://example.com/a?b=1" rel="nofollow noreferrer noopener" target="_blank">docs</a></p>`},
		{"see https://example.com", `<p>see <a href="https://example.com" rel="nofollow noreferrer noopener" target="_blank">https://example.com</a></p>`},
		{"[mail](mailto:a@example.com)", `<p><a href="mailto:a@example.com" rel="nofollow noreferrer">mail</a></p>`},
		{"line one\nline two @alice", "<p>line one<br>\nline two @alice</p>"},
		{"~~gone~~", "<p><del>gone</del></p>"},
		{"<b>hi</b>", "<p>hi</p>"},
		{"<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"},
		{"[a]: https://example.com", "<p>[a]: https://example.com</p>"},
	}
	for _, c := range cases {
		if got := strings.TrimSpace(Render(c.in)); got != c.want {
			t.Errorf("Render(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// TestRenderHostile feeds the renderer what an attacker would write in a
// note: nothing that runs script, loads a file or styles the page may
// come out.
func TestRenderHostile(t *testing.T) {
	hostile := []string{
		"<script>alert(1)</script>",
		"hello <script>alert(1)</script> there",
		"<img src=x onerror=alert(1)>",
		"![x](javascript:alert(1))",
		"![x](https://evil.example/track.png)",
		"[click](javascript:alert(1))",
		"[click](JaVaScRiPt:alert(1))",
		"[click](java\tscript:alert(1))",
		"[click](&#106;avascript:alert(1))",
		"[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
		"[click](vbscript:msgbox(1))",
		"<a href=\"javascript:alert(1)\">x</a>",
		"<div><p><span onmouseover=alert(1)>nested <b><i onclick=x()>deep</i></b></span></p></div>",
		"<iframe src=https://evil.example></iframe>",
		"<svg><script>alert(1)</script></svg>",
		"<style>body{display:none}</style>",
		"<a href=x style=\"position:fixed\">x</a>",
		"[x](https://example.com \"title\" onclick=alert(1))",
		"[x](https://example.com\" onclick=\"alert(1))",
		"<form action=https://evil.example><input name=p></form>",
		"`<script>alert(1)</script>`",
		"<!-- <script>alert(1)</script> -->",
		"<<script>script>alert(1)<</script>/script>",
	}
	for _, in := range hostile {
		out := Render(in)
		if problem := unsafeHTML(out); problem != "" {
			t.Errorf("Render(%q) = %q: %s", in, out, problem)
		}
	}
}

var allowed = map[string]bool{"p": true, "br": true, "strong": true, "em": true, "del": true, "ul": true,
	"ol": true, "li": true, "blockquote": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true,
	"h6": true, "hr": true, "code": true, "pre": true, "a": true}

// safeScheme says whether a link's href, as a browser reads it (tabs and
// new lines dropped, case aside), is http, https or mailto.
func safeScheme(href string) bool {
	u, err := url.Parse(strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(href))
	if err != nil {
		return false
	}
	s := strings.ToLower(u.Scheme)
	return s == "http" || s == "https" || s == "mailto"
}

// unsafeHTML parses out as a browser would and says what in it is not
// allowed: an element or attribute outside the list, or a link that is
// not http, https or mailto.
func unsafeHTML(out string) string {
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if !allowed[tok.Data] {
				return "element " + tok.Data
			}
			for _, a := range tok.Attr {
				switch {
				case tok.Data == "a" && a.Key == "href":
					if !safeScheme(a.Val) {
						return "link to " + a.Val
					}
				case tok.Data == "a" && (a.Key == "rel" || a.Key == "target"):
				case tok.Data == "ol" && a.Key == "start":
				default:
					return "attribute " + a.Key + " on " + tok.Data
				}
			}
		case html.CommentToken:
			return "a comment"
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"**b** _i_ `c`\n- l\n[a](https://x.y)", "<img src=x onerror=alert(1)>",
		"[x](javascript:alert(1))", "```\n<script>\n```", "<div><b onclick=x>y</b></div>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Render(in)
		if problem := unsafeHTML(out); problem != "" {
			t.Fatalf("Render(%q) = %q: %s", in, out, problem)
		}
		if strings.TrimSpace(in) != "" && strings.TrimSpace(out) == "" {
			t.Fatalf("Render(%q) is empty", in)
		}
	})
}
