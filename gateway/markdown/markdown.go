// Package markdown renders the Markdown of internal notes as HTML that is
// safe to put in a page: CommonMark (goldmark) without raw HTML, then
// sanitised (bluemonday) down to the elements Markdown makes, with links
// kept to http, https and mailto and opening in a new tab.
package markdown

import (
	"bytes"
	"html"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	ghtml "github.com/yuin/goldmark/renderer/html"
)

// md turns Markdown into HTML: CommonMark with strikethrough and bare
// links, a line break where the text has one, and raw HTML left out
// (html.WithUnsafe stays off).
var md = goldmark.New(
	goldmark.WithExtensions(extension.Strikethrough, extension.Linkify),
	goldmark.WithRendererOptions(ghtml.WithHardWraps()),
)

// policy keeps only what md produces for text (paragraphs, emphasis,
// lists, quotes, headings, code, links): no images (a note never loads a
// third party's file), no classes, styles or event attributes. Links must
// parse and be http, https or mailto; they get rel="nofollow noopener
// noreferrer" and target="_blank".
var policy = func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "strong", "em", "del", "ul", "ol", "li", "blockquote",
		"h1", "h2", "h3", "h4", "h5", "h6", "hr", "code", "pre")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^[0-9]{1,9}$`)).OnElements("ol")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}()

// Render returns text, Markdown, as sanitised HTML without leading or
// trailing white space. Raw HTML in the text
// is left out; when nothing would show (a text of only raw HTML, say),
// the text itself is returned escaped in a paragraph, so a note never
// renders empty.
func Render(text string) string {
	var buf bytes.Buffer
	if err := md.Convert([]byte(text), &buf); err != nil {
		return escaped(text) // goldmark fails only on a failing writer; a bytes.Buffer does not
	}
	out := strings.TrimSpace(string(policy.SanitizeBytes(buf.Bytes())))
	if strings.TrimSpace(tagRe.ReplaceAllString(out, "")) == "" {
		return escaped(text)
	}
	return out
}

func escaped(text string) string {
	return "<p>" + strings.ReplaceAll(html.EscapeString(text), "\n", "<br>\n") + "</p>"
}

// tagRe matches the tags of sanitised HTML, to tell whether any text is
// left between them.
var tagRe = regexp.MustCompile(`<[^>]*>`)
