package api

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// The documentation page renders the OpenAPI document on the server: no
// script, nothing fetched from elsewhere, so it works in the control room
// without the internet.
var docsPage = template.Must(template.New("docs").Funcs(template.FuncMap{
	"json": func(v any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	},
	"upper": strings.ToUpper,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} {{.Version}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
code,pre{font:13px ui-monospace,monospace;background:#f3f4f6;border-radius:4px}pre{padding:.6rem;overflow:auto}
.op{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.m{font-weight:700;display:inline-block;min-width:4rem}.GET{color:#0969da}.POST{color:#1a7f37}.PUT{color:#9a6700}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;text-align:left;padding:.2rem .4rem;vertical-align:top}
</style></head><body>
<h1>{{.Title}} <small>{{.Version}}</small></h1>
<p>{{.Description}}</p>
<p>The machine-readable document is <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>
{{range .Ops}}<div class="op" id="{{.ID}}"><h3><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code></h3>
<p><b>{{.Summary}}</b>{{if .Role}} · needs a <i>{{.Role}}</i> key{{end}}{{if .Public}} · no key needed{{end}}</p>
<p>{{.Description}}</p>
{{if .Params}}<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<p>Body (application/json):</p><pre>{{json .Body}}</pre>{{end}}
<p>Answers: {{range $i, $s := .Statuses}}{{if $i}}, {{end}}{{$s}}{{end}}</p></div>
{{end}}
<h2>Problems</h2>
<p>Every error is <code>application/problem+json</code> (RFC 9457): <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>, and <code>reference</code>, the request's trace id. Quote it to the fleet team: it finds the request's logs and trace.</p>
{{range .Problems}}<h3 id="problem-{{.Slug}}">{{.Title}}</h3><p><code>{{.Slug}}</code></p>{{end}}
</body></html>
`))

type docParam struct{ Name, In, Type, Description string }

type docOp struct {
	ID, Method, Path, Summary, Description, Role string
	Public                                       bool
	Params                                       []docParam
	Body                                         any
	Statuses                                     []string
}

// renderDocs renders the page from the document.
func (a *API) renderDocs() ([]byte, error) {
	doc := a.Document()
	info := doc["info"].(map[string]any)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var ops []docOp
	for _, rt := range a.routes {
		op := doc["paths"].(map[string]any)[rt.pattern].(map[string]any)[strings.ToLower(rt.method)].(map[string]any)
		d := docOp{ID: op["operationId"].(string), Method: rt.method, Path: rt.pattern, Summary: rt.summary, Public: rt.public}
		d.Description, _ = op["description"].(string)
		d.Role, _ = op["x-watchtower-role"].(string)
		params, _ := op["parameters"].([]map[string]any)
		for _, p := range params {
			typ := ""
			if s, ok := p["schema"].(map[string]any); ok {
				typ, _ = s["type"].(string)
				if enum, ok := s["enum"].([]any); ok {
					var vs []string
					for _, e := range enum {
						b, _ := json.Marshal(e)
						vs = append(vs, string(b))
					}
					typ += ": " + strings.Join(vs, " | ")
				}
			}
			desc, _ := p["description"].(string)
			d.Params = append(d.Params, docParam{Name: p["name"].(string), In: p["in"].(string), Type: typ, Description: desc})
		}
		if rb, ok := op["requestBody"].(map[string]any); ok {
			ref := rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
			d.Body = schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		}
		for s := range op["responses"].(map[string]any) {
			d.Statuses = append(d.Statuses, s)
		}
		slices.Sort(d.Statuses)
		ops = append(ops, d)
	}
	type prob struct{ Slug, Title string }
	var probs []prob
	for _, s := range problemSlugs {
		probs = append(probs, prob{s, problemTitles[s]})
	}
	var buf bytes.Buffer
	err := docsPage.Execute(&buf, map[string]any{"Title": info["title"], "Version": info["version"], "Description": info["description"],
		"Ops": ops, "Problems": probs})
	return buf.Bytes(), err
}

func (a *API) docs(w http.ResponseWriter, r *http.Request) {
	page, err := a.renderDocs()
	if err != nil {
		writeProblem(w, newProblem(r, http.StatusInternalServerError, "internal", "the page could not be rendered"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(page)
}
