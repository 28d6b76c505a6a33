package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/watchtower-fleet/watchtower/live"
)

// opDoc documents a route that is not one tool call.
type opDoc struct {
	description string
	params      []map[string]any
	body        string // a components/schemas name
	// response is the success: its status, content type and schema.
	status      string
	contentType string
	schema      map[string]any
	problems    []string // statuses
}

var (
	idParam = func(desc string) map[string]any {
		return map[string]any{"name": "id", "in": "path", "required": true, "description": desc, "schema": map[string]any{"type": "string"}}
	}
	tokenParam = map[string]any{"name": "access_token", "in": "query", "required": false,
		"description": "The API key, for clients that cannot send an Authorization header (a browser's EventSource or WebSocket).",
		"schema":      map[string]any{"type": "string"}}
	eventStream = map[string]any{"type": "string", "description": "Server-sent events, one JSON object in each data line; see the description for the event names."}
	wsUpgrade   = map[string]any{"type": "string", "description": "A WebSocket: each text message is {\"event\": name, \"data\": object}."}

	aiQueryDoc = &opDoc{
		description: "Asks a question through the same tool-calling loop the bot uses, with the key's role. The answer is server-sent events: `tool` (a tool about to run), `text` (the next piece of the answer), `pending` (a write the question proposed, as a PendingAction: nothing is done until a key allowed to confirms it at its confirm_url), and `answer` (the whole answer, last). A question never writes anything itself.",
		body:        "Query", status: "200", contentType: "text/event-stream", schema: eventStream,
		problems: []string{"400", "401", "413", "415", "429", "503"},
	}
	confirmDoc = &opDoc{
		description: "Runs a pending action exactly once: the key that asked may confirm if its role allows the tool; an admin key may confirm any. A second confirmation, or one after it expired (15 minutes), does nothing and answers 410.",
		params:      []map[string]any{idParam("The pending action's id (act_…), from a pending event.")},
		status:      "200", contentType: "application/json", schema: map[string]any{"type": "object", "description": "The tool's answer."},
		problems: []string{"400", "401", "403", "404", "410", "422", "429"},
	}
	cancelDoc = &opDoc{
		description: "Cancels a pending action: nothing is done.",
		params:      []map[string]any{idParam("The pending action's id (act_…).")},
		status:      "200", contentType: "application/json", schema: map[string]any{"type": "object"},
		problems: []string{"400", "401", "403", "404", "410", "429"},
	}
	streamTrucksDoc = &opDoc{
		description: "Server-sent events of trucks as the fold stores them: first a `snapshot` per truck named (its record and last position), then `position`, `trip` and `alert` events (each a LiveEvent), and a `: ping` comment every 15 s when idle. Without numbers, every truck's events and no snapshot. A client that falls behind gets an `error` event and is disconnected; reconnect.",
		params: []map[string]any{{"name": "numbers", "in": "query", "required": false,
			"description": "Trucks to follow, comma-separated, at most 100, written any way (t-11985-la finds T11985LA); leave out for every truck.",
			"schema":      map[string]any{"type": "string"}}, tokenParam},
		status: "200", contentType: "text/event-stream", schema: eventStream,
		problems: []string{"400", "401", "429", "503"},
	}
	streamTripDoc = &opDoc{
		description: "Server-sent events of one trip: a `snapshot` (its tracking), then the trip's `trip` events, its truck's `position` and `alert` events, as LiveEvents.",
		params:      []map[string]any{idParam("The trip's id (URL-escaped), its number, or LN and LocoNav's id."), tokenParam},
		status:      "200", contentType: "text/event-stream", schema: eventStream,
		problems: []string{"401", "404", "429", "503"},
	}
	wsTruckDoc = &opDoc{
		description: "The truck stream of one truck as a WebSocket: the same events as /api/v1/stream/trucks, each a text message {\"event\", \"data\"}; pings every 15 s; closed with 1008 when the client falls behind.",
		params:      []map[string]any{idParam("The truck's plate, written any way."), tokenParam},
		status:      "101", contentType: "application/json", schema: wsUpgrade,
		problems: []string{"400", "401", "429", "503"},
	}
	wsTripDoc = &opDoc{
		description: "The trip stream as a WebSocket, as /api/v1/stream/trips/{id}.",
		params:      []map[string]any{idParam("The trip's id (URL-escaped), its number, or LN and LocoNav's id."), tokenParam},
		status:      "101", contentType: "application/json", schema: wsUpgrade,
		problems: []string{"401", "404", "429", "503"},
	}
	openapiDoc = &opDoc{description: "This document. No key needed.", status: "200", contentType: "application/json",
		schema: map[string]any{"type": "object"}}
	docsDoc = &opDoc{description: "This document as a page for people. No key needed.", status: "200", contentType: "text/html",
		schema: map[string]any{"type": "string"}}
)

// problemStatus names each status's problem for the document.
var problemStatus = map[string]string{
	"400": "A parameter or the body is invalid; invalid_params names it.",
	"401": "No API key, or an unknown or revoked one.",
	"403": "The key's role does not allow this.",
	"404": "No such truck, trip, place or action; suggestions may name close ones.",
	"409": "The change conflicts with the trip as it is now.",
	"410": "The pending action was already decided or expired.",
	"413": "The body is larger than 64 KiB.",
	"415": "The body is not JSON.",
	"422": "A fleet rule refused it (the truck is busy, in maintenance, the time is past, …).",
	"429": "The key's rate limit is spent; Retry-After says when to try again.",
	"500": "Something failed on our side; quote the reference.",
	"503": "A dependency is down, or the feature is off on this server.",
}

// reflectSchema is a Go type's JSON schema, inline.
func reflectSchema(v any) map[string]any {
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true}
	s := r.ReflectFromType(reflect.TypeOf(v))
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "$schema")
	delete(m, "$id")
	return m
}

// nonNull drops "null" from a property's type: in a query or a body, a
// parameter left out is what null is to the model.
func nonNull(prop map[string]any) (map[string]any, bool) {
	out := map[string]any{}
	nullable := false
	for k, v := range prop {
		out[k] = v
	}
	if ts, ok := prop["type"].([]any); ok {
		var keep []any
		for _, t := range ts {
			if t == "null" {
				nullable = true
				continue
			}
			keep = append(keep, t)
		}
		if len(keep) == 1 {
			out["type"] = keep[0]
		} else {
			out["type"] = keep
		}
	}
	if enum, ok := prop["enum"].([]any); ok {
		out["enum"] = slices.DeleteFunc(slices.Clone(enum), func(x any) bool { return x == nil })
	}
	return out, nullable
}

// Document is the API's OpenAPI 3.1 document, generated from the route
// table and the tools' argument structs.
func (a *API) Document() map[string]any {
	paths := map[string]any{}
	schemas := map[string]any{
		"Problem":       reflectSchema(Problem{}),
		"LiveEvent":     reflectSchema(live.Event{}),
		"Query":         reflectSchema(Query{}),
		"PendingAction": reflectSchema(pendingEvent{}),
		"Answer":        reflectSchema(answerEvent{}),
	}
	for _, rt := range a.routes {
		op := map[string]any{"summary": rt.summary, "tags": []string{rt.tag},
			"operationId": operationID(rt)}
		if rt.public {
			op["security"] = []any{}
		}
		var problems []string
		if rt.tool != nil {
			op["description"] = rt.tool.Description
			if rt.describe != "" {
				op["description"] = rt.describe
			}
			op["x-watchtower-tool"] = rt.tool.Name
			op["x-watchtower-role"] = rt.tool.Role
			props := properties(rt.tool)
			var params []map[string]any
			for _, p := range pathParams(rt.pattern) {
				prop, _ := nonNull(props[rt.path[p]].(map[string]any))
				params = append(params, map[string]any{"name": p, "in": "path", "required": true,
					"description": prop["description"], "schema": withoutDescription(prop)})
			}
			if rt.tool.Write {
				params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": false,
					"description": "Any string of at most 128 characters, new for each write: a retry with the same key and body within 24 h gets the first answer again (with Idempotent-Replayed: true) instead of writing twice; the same key with another body answers 422.",
					"schema":      map[string]any{"type": "string", "maxLength": maxIdemKey}})
			}
			if rt.body {
				name := bodySchemaName(rt.tool.Name)
				schemas[name] = a.bodySchema(rt)
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
					"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}}
			} else {
				for _, name := range rt.queryArgs() {
					prop, _ := nonNull(props[name].(map[string]any))
					params = append(params, map[string]any{"name": name, "in": "query", "required": false,
						"description": prop["description"], "schema": withoutDescription(prop)})
				}
			}
			if len(params) > 0 {
				op["parameters"] = params
			}
			status := "200"
			if rt.method == "POST" {
				status = "201"
			}
			op["responses"] = map[string]any{status: map[string]any{"description": "The tool's answer, as the model gets it.",
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}}
			problems = []string{"400", "401", "404", "429", "500"}
			if rt.tool.Write {
				problems = append(problems, "403", "409", "413", "415", "422")
			}
		} else {
			d := rt.doc
			op["description"] = d.description
			if len(d.params) > 0 {
				op["parameters"] = d.params
			}
			if d.body != "" {
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
					"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + d.body}}}}
			}
			op["responses"] = map[string]any{d.status: map[string]any{"description": "Success.",
				"content": map[string]any{d.contentType: map[string]any{"schema": d.schema}}}}
			problems = d.problems
		}
		resp := op["responses"].(map[string]any)
		for _, s := range problems {
			resp[s] = map[string]any{"$ref": "#/components/responses/Problem" + s}
		}
		item, _ := paths[rt.pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.pattern] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	responses := map[string]any{}
	for s, desc := range problemStatus {
		responses["Problem"+s] = map[string]any{"description": desc, "content": map[string]any{
			"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Watch Tower API", "version": Version,
			"description": "The fleet's trucks, trips, KPIs and live positions for other systems. Every read calls the same tool the Slack bot's model calls, with the same validation and the same forgiving names. Keys: `watchtower apikey create --name NAME --role viewer|dispatcher|admin`, sent as `Authorization: Bearer KEY`. Errors are RFC 9457 problem details whose `reference` is the request's trace id (also in the X-Request-Id header)."},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An API key from `watchtower apikey create`."}},
			"schemas":   schemas,
			"responses": responses,
		},
	}
}

func withoutDescription(prop map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range prop {
		if k != "description" {
			out[k] = v
		}
	}
	return out
}

// bodySchema is a write tool's arguments as a request body: the fields the
// model must give are required, the nullable ones optional, and the path's
// left out.
func (a *API) bodySchema(rt *route) map[string]any {
	props := properties(rt.tool)
	out := map[string]any{}
	var required []string
	for _, name := range argNames(rt.tool) {
		if rt.pathArg(name) != "" {
			continue
		}
		prop, nullable := nonNull(props[name].(map[string]any))
		out[name] = prop
		if !nullable {
			required = append(required, name)
		}
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": out, "required": required}
}

func bodySchemaName(tool string) string {
	var b strings.Builder
	for _, part := range strings.Split(tool, "_") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "Request"
}

func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.Trim(seg, "{}."))
		}
	}
	return out
}

// operationID is a stable name for a route: method and path words.
func operationID(rt *route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, seg := range strings.Split(rt.pattern, "/") {
		seg = strings.Trim(seg, "{}")
		if seg == "" || seg == "api" || seg == "v1" {
			continue
		}
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, ".", ""), "-", "_")
		for _, w := range strings.Split(seg, "_") {
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

func (a *API) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(a.Document())
}
