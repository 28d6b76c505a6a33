package tools

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// strictSchema reflects t with invopop/jsonschema and shapes the result into
// what OpenAI's strict function calling accepts: every property required,
// optional ones (pointer fields) typed ["T","null"], additionalProperties
// false at every level, and no $ref, oneOf, anyOf or allOf. Types that a
// strict schema cannot say (maps, interfaces) are refused.
func strictSchema(t reflect.Type) (map[string]any, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("arguments must be a struct, not %v", t)
	}
	if err := checkStrictType(t, t.Name()); err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{
		DoNotReference:            true,
		ExpandedStruct:            true,
		AllowAdditionalProperties: false,
		Anonymous:                 true,
	}
	s := r.ReflectFromType(t)
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "$schema")
	delete(m, "$id")
	if err := shapeObject(m, t, t.Name()); err != nil {
		return nil, err
	}
	return m, nil
}

// checkStrictType refuses the Go types a strict schema cannot express.
func checkStrictType(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Pointer {
			return fmt.Errorf("%s: pointer to pointer", path)
		}
		return checkStrictType(t.Elem(), path)
	case reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.Complex64, reflect.Complex128, reflect.UnsafePointer:
		return fmt.Errorf("%s: %s cannot be a strict schema (no maps or any)", path, t.Kind())
	case reflect.Slice, reflect.Array:
		return checkStrictType(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, skip := jsonName(f)
			if skip {
				continue
			}
			if f.Anonymous {
				return fmt.Errorf("%s: embedded field %s: spell the fields out", path, f.Name)
			}
			if err := checkStrictType(f.Type, path+"."+name); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonName is the field's JSON name, and whether encoding/json skips it.
func jsonName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", true
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, false
}

// shapeObject makes the object schema m, reflected from struct t, strict.
func shapeObject(m map[string]any, t reflect.Type, path string) error {
	for _, k := range []string{"oneOf", "anyOf", "allOf", "$ref", "$defs", "definitions"} {
		if _, ok := m[k]; ok {
			return fmt.Errorf("%s: %s is not allowed in a strict schema", path, k)
		}
	}
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		m["properties"] = props
	}
	required := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, skip := jsonName(f)
		if skip {
			continue
		}
		p, ok := props[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s.%s: no schema was reflected", path, name)
		}
		if _, ok := p["description"]; !ok {
			return fmt.Errorf("%s.%s: a property needs a description for the model (jsonschema:\"description=…\")", path, name)
		}
		if err := shapeValue(p, f.Type, path+"."+name); err != nil {
			return err
		}
		required = append(required, name)
	}
	if len(props) != len(required) {
		return fmt.Errorf("%s: reflected %d properties for %d fields", path, len(props), len(required))
	}
	m["type"] = "object"
	m["required"] = required
	m["additionalProperties"] = false
	return nil
}

// shapeValue makes the property schema p, reflected from Go type t, strict.
func shapeValue(p map[string]any, t reflect.Type, path string) error {
	for _, k := range []string{"oneOf", "anyOf", "allOf", "$ref"} {
		if _, ok := p[k]; ok {
			return fmt.Errorf("%s: %s is not allowed in a strict schema", path, k)
		}
	}
	optional := t.Kind() == reflect.Pointer
	if optional {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if err := shapeObject(p, t, path); err != nil {
			return err
		}
	case reflect.Slice, reflect.Array:
		items, ok := p["items"].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: a list without an item schema", path)
		}
		if err := shapeValue(items, t.Elem(), path+"[]"); err != nil {
			return err
		}
	}
	if optional {
		typ, ok := p["type"].(string)
		if !ok {
			return fmt.Errorf("%s: no type to make nullable", path)
		}
		p["type"] = []any{typ, "null"}
		if enum, ok := p["enum"].([]any); ok {
			p["enum"] = append(enum, nil)
		}
	}
	return nil
}
