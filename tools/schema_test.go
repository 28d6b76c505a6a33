package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/watchtower-fleet/watchtower/internal/golden"
	"github.com/watchtower-fleet/watchtower/tools"
)

// TestSchemasGolden pins every schema the model is offered.
func TestSchemasGolden(t *testing.T) {
	reg := tools.New(tools.Deps{})
	for _, tool := range reg.Tools() {
		b, err := json.MarshalIndent(map[string]any{
			"name": tool.Name, "description": tool.Description, "role": tool.Role, "write": tool.Write,
			"parameters": tool.Schema(),
		}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/schemas/"+tool.Name+".json", append(b, '\n'))
	}
}

// TestSchemasStrict walks every schema and checks the rules of OpenAI's
// strict mode, independently of how they were made.
func TestSchemasStrict(t *testing.T) {
	reg := tools.New(tools.Deps{})
	if len(reg.Tools()) < 14 {
		t.Fatalf("%d tools, want at least 14", len(reg.Tools()))
	}
	for _, tool := range reg.Tools() {
		if tool.Description == "" {
			t.Errorf("%s: no description", tool.Name)
		}
		checkStrict(t, tool.Name, tool.Schema())
	}
}

func checkStrict(t *testing.T, path string, s map[string]any) {
	t.Helper()
	for _, k := range []string{"oneOf", "anyOf", "allOf", "$ref", "$defs", "not"} {
		if _, ok := s[k]; ok {
			t.Errorf("%s: has %s", path, k)
		}
	}
	types := typesOf(s["type"])
	if len(types) == 0 {
		t.Errorf("%s: no type", path)
	}
	for _, typ := range types {
		switch typ {
		case "object":
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is %v, want false", path, s["additionalProperties"])
			}
			props, _ := s["properties"].(map[string]any)
			var req []string
			switch r := s["required"].(type) {
			case []string:
				req = r
			case []any:
				for _, x := range r {
					req = append(req, x.(string))
				}
			default:
				t.Errorf("%s: required is %T, want a list", path, s["required"])
			}
			if len(req) != len(props) {
				t.Errorf("%s: %d required of %d properties", path, len(req), len(props))
			}
			for _, name := range req {
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("%s: required %q has no property", path, name)
					continue
				}
				if p["description"] == nil || p["description"] == "" {
					t.Errorf("%s.%s: no description", path, name)
				}
				checkStrict(t, path+"."+name, p)
			}
		case "array":
			items, ok := s["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: array without items", path)
				continue
			}
			checkStrict(t, path+"[]", items)
		case "string", "integer", "number", "boolean", "null":
		default:
			t.Errorf("%s: type %q", path, typ)
		}
	}
	if enum, ok := s["enum"].([]any); ok && contains(types, "null") {
		hasNull := false
		for _, e := range enum {
			hasNull = hasNull || e == nil
		}
		if !hasNull {
			t.Errorf("%s: nullable enum without null", path)
		}
	}
}

func typesOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Argument types a strict schema cannot express are refused when the tool
// is defined, so a bad tool never reaches the model.
func TestDefineRefusesLooseTypes(t *testing.T) {
	type withMap struct {
		M map[string]string `json:"m" jsonschema:"description=x"`
	}
	type withAny struct {
		A any `json:"a" jsonschema:"description=x"`
	}
	type noDescription struct {
		X string `json:"x"`
	}
	run := func(name string, define func()) {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Define accepted %s", name)
				}
			}()
			define()
		})
	}
	noop := func(context.Context, tools.Caller, withMap) (tools.Result, error) { return tools.Result{}, nil }
	run("map", func() { tools.Define("m", tools.RoleViewer, false, "d", noop, nil) })
	run("any", func() {
		tools.Define("a", tools.RoleViewer, false, "d", func(context.Context, tools.Caller, withAny) (tools.Result, error) { return tools.Result{}, nil }, nil)
	})
	run("no description", func() {
		tools.Define("n", tools.RoleViewer, false, "d", func(context.Context, tools.Caller, noDescription) (tools.Result, error) { return tools.Result{}, nil }, nil)
	})
	run("write without preview", func() { tools.Define("w", tools.RoleDispatcher, true, "d", noop, nil) })
	run("unknown role", func() { tools.Define("r", "boss", false, "d", noop, nil) })
}

// A bad argument comes back as an *ArgError naming the field, never a
// panic: unknown fields (such as a "confirmed" flag), wrong types, missing
// values and values out of range.
func TestDecodeStrict(t *testing.T) {
	reg := tools.New(tools.Deps{})
	cases := []struct {
		tool, args, field string
	}{
		{"truck_location", `{"truck":"T11985LA","confirmed":true}`, "confirmed"},
		{"truck_location", `{"truck":42}`, "truck"},
		{"truck_location", `{"truck":""}`, "truck"},
		{"truck_location", `{}`, "truck"},
		{"truck_location", `[1,2]`, "(arguments)"},
		{"truck_location", `{"truck":"T1"} {"truck":"T2"}`, ""},
		{"truck_location", `{"truck":`, ""},
		{"trucks_near", `{"place":null,"lat":null,"lng":null,"radius_km":null}`, "place"},
		{"trucks_near", `{"place":"apapa","lat":6.4,"lng":3.3,"radius_km":null}`, "place"},
		{"trucks_near", `{"place":null,"lat":6.4,"lng":null,"radius_km":null}`, "lng"},
		{"trucks_near", `{"place":null,"lat":91,"lng":3,"radius_km":null}`, "lat"},
		{"trucks_near", `{"place":"apapa","lat":null,"lng":null,"radius_km":500}`, "radius_km"},
		{"fleet_status", `{"where":"on_mars"}`, "where"},
		{"list_trips", `{"status":"lost","truck":null,"day":null,"limit":null}`, "status"},
		{"list_trips", `{"status":null,"truck":null,"day":null,"limit":1000}`, "limit"},
		{"alerts", `{"truck":null,"kind":null,"hours":0,"open_only":null}`, "hours"},
		{"driver_for", `{"truck":"T1","driver":"Musa"}`, "truck"},
		{"create_trip", `{"truck":"T11985LA","pickup":"","delivery":"x","scheduled_departure":"tomorrow 6am","client":null,"container_no":null,"cargo_type":null,"driver":null}`, "pickup"},
		{"update_trip_status", `{"trip":"x","status":"cancelled","reason":null}`, "status"},
		{"update_trip_status", `{"trip":"x","status":"teleported","reason":null}`, "status"},
		{"cancel_trip", `{"trip":"x","reason":"  "}`, "reason"},
	}
	for _, c := range cases {
		t.Run(c.tool+" "+c.args, func(t *testing.T) {
			tool, ok := reg.Lookup(c.tool)
			if !ok {
				t.Fatalf("no tool %s", c.tool)
			}
			_, err := tool.Decode([]byte(c.args))
			var ae *tools.ArgError
			if err == nil || !asArgErr(err, &ae) {
				t.Fatalf("Decode(%s) = %v, want an *ArgError", c.args, err)
			}
			if ae.Field != c.field {
				t.Errorf("field %q, want %q (%v)", ae.Field, c.field, err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("message %q does not name %q", err, c.field)
			}
		})
	}
}

func asArgErr(err error, target **tools.ArgError) bool {
	ae, ok := err.(*tools.ArgError)
	if ok {
		*target = ae
	}
	return ok
}

// FuzzDecode: whatever the model sends, decoding answers or refuses; it
// never panics, and what it accepts re-encodes and decodes the same.
func FuzzDecode(f *testing.F) {
	reg := tools.New(tools.Deps{})
	for _, s := range []string{`{"truck":"T11985LA"}`, `{"place":"apapa","lat":null,"lng":null,"radius_km":2}`, `null`, `{"x":1}`, `{"truck":"\u0000"}`} {
		for i := range reg.Tools() {
			f.Add(i, s)
		}
	}
	f.Fuzz(func(t *testing.T, i int, s string) {
		ts := reg.Tools()
		if i < 0 {
			i = -i
		}
		tool := ts[i%len(ts)]
		args, err := tool.Decode([]byte(s))
		if err != nil {
			if _, ok := err.(*tools.ArgError); !ok {
				t.Fatalf("%s: error %T %v is not an *ArgError", tool.Name, err, err)
			}
			return
		}
		b, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tool.Decode(b); err != nil {
			t.Fatalf("%s: re-decoding %s: %v", tool.Name, b, err)
		}
	})
}
