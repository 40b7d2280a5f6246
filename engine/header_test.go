package engine_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/stretchr/testify/require"
)

// Changing any one field of a header must make it unequal: a field added
// to Conversation and forgotten in headerEqual fails here.
func TestHeaderEqualSeesEveryField(t *testing.T) {
	t.Parallel()
	base := engine.Conversation{Tags: []string{"a"}}
	require.True(t, engine.HeaderEqual(base, base.Clone()))
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		changed := base.Clone()
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(7)
		case reflect.Uint64:
			v.SetUint(7)
		case reflect.Slice:
			v.Set(reflect.ValueOf([]string{"b"}))
		case reflect.Array:
			v.Index(0).SetUint(1)
		case reflect.Pointer:
			require.Equal(t, reflect.TypeOf(&engine.Campaign{}), f.Type, "field %s", f.Name)
			v.Set(reflect.ValueOf(&engine.Campaign{Source: "ad"}))
		case reflect.Struct:
			require.Equal(t, reflect.TypeOf(time.Time{}), f.Type, "field %s", f.Name)
			v.Set(reflect.ValueOf(time.Unix(1, 0)))
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, v.Kind())
		}
		require.False(t, engine.HeaderEqual(base, changed), "headerEqual ignores %s", f.Name)
	}
}
