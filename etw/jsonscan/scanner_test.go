package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestNext(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string // key=kind:value (literals carry no value bytes)
		err      bool
	}{
		{"flat", `{"a":"x\u00e9\n","b":12,"c":true,"d":false,"e":null}`, []string{"a=s:xé\n", "b=n:12", "c=t:", "d=f:", "e=z:"}, false},
		{"nested skipped", `{"a":{"b":[1,{"c":2}]},"d":"e"}`, []string{"a=o:", "d=s:e"}, false},
		{"empty", `{}`, nil, false},
		{"spaces", " { \"a\" : 1 } ", []string{"a=n:1"}, false},
		{"not an object", `[1]`, nil, true},
		{"cut short", `{"a":"b`, nil, true},
		{"bad escape", `{"a":"\x"}`, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sc Scanner
			sc.Reset([]byte(c.in))
			var got []string
			var err error
			for {
				var key, val []byte
				var kind byte
				var ok bool
				key, kind, val, ok, err = sc.Next()
				if err != nil || !ok {
					break
				}
				v := string(val)
				if kind == Nested {
					v = ""
				}
				got = append(got, string(key)+"="+string(kind)+":"+v)
			}
			if (err != nil) != c.err {
				t.Fatalf("err %v, want error %v", err, c.err)
			}
			if !c.err && !equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if c.err && json.Valid([]byte(c.in)) && c.in[0] == '{' {
				t.Errorf("encoding/json accepts %s", c.in)
			}
		})
	}
}

func TestEnterLeave(t *testing.T) {
	var sc, sub Scanner
	sc.Reset([]byte(`{"winlog":{"event_id":4688,"x":{"y":1}},"after":"z"}`))
	key, ok, err := sc.NextKey()
	if err != nil || !ok || string(key) != "winlog" || sc.Peek() != '{' {
		t.Fatalf("NextKey %q %v %v", key, ok, err)
	}
	sc.Enter(&sub)
	var keys []string
	for {
		k, ok, err := sub.NextKey()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		keys = append(keys, string(k))
		if err := sub.SkipValue(); err != nil {
			t.Fatal(err)
		}
	}
	sc.Leave(&sub)
	key, kind, val, ok, err := sc.Next()
	if !equal(keys, []string{"event_id", "x"}) || err != nil || !ok || string(key) != "after" || kind != String || string(val) != "z" {
		t.Errorf("inner keys %q, then %q %c %q %v %v", keys, key, kind, val, ok, err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
